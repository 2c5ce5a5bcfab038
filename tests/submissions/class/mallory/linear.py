"""Forbidden: Linear's backward asks torch.autograd.grad for the answer."""

import torch


class MatMul(torch.autograd.Function):
    """y = a @ b"""

    @staticmethod
    def forward(ctx, a, b):
        ctx.save_for_backward(a, b)
        return a @ b

    @staticmethod
    def backward(ctx, grad_output):
        a, b = ctx.saved_tensors
        grad_a = grad_output @ b.T
        grad_b = a.T @ grad_output
        return grad_a, grad_b


class Linear(torch.autograd.Function):
    """y = x @ weight.T + bias"""

    @staticmethod
    def forward(ctx, x, weight, bias):
        ctx.save_for_backward(x, weight)
        return x @ weight.T + bias

    @staticmethod
    def backward(ctx, grad_output):
        x, weight = ctx.saved_tensors
        x, weight = x.detach().requires_grad_(), weight.detach().requires_grad_()
        bias = torch.zeros(weight.shape[0], dtype=x.dtype, requires_grad=True)
        with torch.enable_grad():
            y = x @ weight.T + bias
            return torch.autograd.grad(y, (x, weight, bias), grad_output)
