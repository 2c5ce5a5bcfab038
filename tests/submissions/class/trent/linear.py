"""Mistake: the bias gradient is accumulated into torch.zeros(...), which is float32 by default."""

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
        grad_x = grad_output @ weight
        grad_weight = grad_output.T @ x
        grad_bias = torch.zeros(weight.shape[0])
        for row in grad_output:
            grad_bias += row
        return grad_x, grad_weight, grad_bias
