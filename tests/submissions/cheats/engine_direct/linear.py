"""Cheat: the C++ autograd engine called directly, with no Python wrapper in the way."""

import torch

class MatMul(torch.autograd.Function):
    """Honest: the cheat below must not cost this target its points."""

    @staticmethod
    def forward(ctx, a, b):
        ctx.save_for_backward(a, b)
        return a @ b

    @staticmethod
    def backward(ctx, grad_output):
        a, b = ctx.saved_tensors
        return grad_output @ b.T, a.T @ grad_output


class Linear(torch.autograd.Function):
    @staticmethod
    def forward(ctx, x, weight, bias):
        ctx.save_for_backward(x, weight, bias)
        return x @ weight.T + bias

    @staticmethod
    def backward(ctx, grad_output):
        leaves = [t.detach().requires_grad_() for t in ctx.saved_tensors]
        torch._C._set_grad_enabled(True)
        y = leaves[0] @ leaves[1].T + leaves[2]
        torch._C._set_grad_enabled(False)
        grads = torch._C._ImperativeEngine().run_backward((y,), (grad_output,), False, False, tuple(leaves),
                                                          False, False)
        return tuple(grads)
