"""Cheat: the Jacobian is taken in forward (which a backward-only scan never reads) and contracted in backward."""

import torch
from torch.autograd.functional import jacobian

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


def _f(x, weight, bias):
    return x @ weight.T + bias


class Linear(torch.autograd.Function):
    @staticmethod
    def forward(ctx, x, weight, bias):
        with torch.enable_grad():
            ctx.jac = jacobian(_f, (x.detach(), weight.detach(), bias.detach()))
        ctx.shapes = (x.shape, weight.shape, bias.shape)
        return x @ weight.T + bias

    @staticmethod
    def backward(ctx, grad_output):
        g = grad_output.reshape(-1)
        return tuple((g @ j.reshape(g.numel(), -1)).reshape(s) for j, s in zip(ctx.jac, ctx.shapes))
