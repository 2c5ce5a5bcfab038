"""A student repository: exercises/ex04_linear/linear.py, solved."""

import torch


class MatMul(torch.autograd.Function):
    @staticmethod
    def forward(ctx, a, b):
        ctx.save_for_backward(a, b)
        return a @ b

    @staticmethod
    def backward(ctx, grad_output):
        a, b = ctx.saved_tensors
        grad_a = torch.matmul(grad_output, b.transpose(0, 1))
        grad_b = torch.mm(a.t(), grad_output)
        return tuple([grad_a, grad_b])


class Linear(torch.autograd.Function):
    @staticmethod
    def forward(ctx, x, weight, bias):
        ctx.save_for_backward(x, weight)
        return x @ weight.T + bias

    @staticmethod
    def backward(ctx, grad_output):
        x, weight = ctx.saved_tensors
        grad_x = torch.einsum("no,oi->ni", grad_output, weight)
        grad_weight = torch.einsum("no,ni->oi", grad_output, x)
        ones = torch.ones(1, grad_output.shape[0], dtype=grad_output.dtype)
        grad_bias = (ones @ grad_output).reshape(-1)
        return tuple([grad_x, grad_weight, grad_bias])
