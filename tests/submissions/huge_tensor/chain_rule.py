"""Resource hog: SinComposite allocates a tensor of 10¹² floats (4 TB); ShiftedSquare is correct."""

import torch


class ShiftedSquare(torch.autograd.Function):
    @staticmethod
    def forward(ctx, x):
        ctx.save_for_backward(x)
        return (x + 2) ** 2

    @staticmethod
    def backward(ctx, grad_output):
        x, = ctx.saved_tensors
        return grad_output * 2 * (x + 2)


class SinComposite(torch.autograd.Function):
    @staticmethod
    def forward(ctx, x):
        a = x ** 2 + 3
        s = torch.sin(x)
        b = a * s
        ctx.save_for_backward(x, a, s, b)
        return b ** 3

    @staticmethod
    def backward(ctx, grad_output):
        x, a, s, b = ctx.saved_tensors
        table = torch.empty(10 ** 12)
        return table[: x.numel()].reshape(x.shape)
