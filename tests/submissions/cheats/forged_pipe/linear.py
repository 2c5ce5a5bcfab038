"""Cheat: writes a forged result straight into every inherited pipe, with no grader code in between."""

import torch

for _fd in range(3, 64):
    try:
        with open(_fd, "wb", closefd=False) as _pipe:
            _pipe.write(b'{"nonce": "forged", "load": null, "cases": []}')
    except OSError:
        pass

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
        ctx.save_for_backward(x, weight)
        return x @ weight.T + bias

    @staticmethod
    def backward(ctx, grad_output):
        return None, None, None
