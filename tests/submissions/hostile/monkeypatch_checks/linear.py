"""Hostile submission: replaces torch.allclose, torch.equal, torch.testing and gradcheck, then returns zeros"""

import torch
torch.allclose = lambda *a, **k: True
torch.equal = lambda *a, **k: True
torch.testing.assert_close = lambda *a, **k: None
torch.autograd.gradcheck = lambda *a, **k: True
torch.autograd.gradcheck_fast = lambda *a, **k: True
import numpy
numpy.allclose = lambda *a, **k: True


class MatMul(torch.autograd.Function):
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
        x, weight = ctx.saved_tensors
        return torch.zeros_like(x), torch.zeros_like(weight), torch.zeros(weight.shape[0], dtype=x.dtype)

