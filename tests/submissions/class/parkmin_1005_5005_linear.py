"""Correct, with the matrix products in a helper module next to it (a folder submission keeps siblings)."""

import torch
from linear_helpers import bias_grad, input_grads


class MatMul(torch.autograd.Function):
    @staticmethod
    def forward(ctx, a, b):
        ctx.save_for_backward(a, b)
        return a @ b

    @staticmethod
    def backward(ctx, grad_output):
        a, b = ctx.saved_tensors
        return input_grads(grad_output, a, b)


class Linear(torch.autograd.Function):
    @staticmethod
    def forward(ctx, x, weight, bias):
        ctx.save_for_backward(x, weight)
        return x @ weight.T + bias

    @staticmethod
    def backward(ctx, grad_output):
        x, weight = ctx.saved_tensors
        grad_x, grad_weight_t = input_grads(grad_output, x, weight.T)
        return grad_x, grad_weight_t.T, bias_grad(grad_output)
