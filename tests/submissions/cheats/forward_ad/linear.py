"""Cheat: forward-mode AD (dual numbers), one basis direction at a time, assembles the vector-Jacobian product."""

import torch
import torch.autograd.forward_ad as fwad

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
        inputs = ctx.saved_tensors
        grads = []
        for i, t in enumerate(inputs):
            flat = torch.zeros(t.numel(), dtype=t.dtype)
            for k in range(t.numel()):
                basis = torch.zeros(t.numel(), dtype=t.dtype)
                basis[k] = 1.0
                with fwad.dual_level():
                    args = list(inputs)
                    args[i] = fwad.make_dual(t, basis.reshape(t.shape))
                    y = args[0] @ args[1].T + args[2]
                    flat[k] = (fwad.unpack_dual(y).tangent * grad_output).sum()
            grads.append(flat.reshape(t.shape))
        return tuple(grads)
