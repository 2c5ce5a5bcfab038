"""Correct, written differently: a 1-tuple and a tuple built from a 1-element list instead of a bare tensor."""

import torch


class ShiftedSquare(torch.autograd.Function):
    @staticmethod
    def forward(ctx, x):
        ctx.save_for_backward(x)
        return (x + 2) ** 2

    @staticmethod
    def backward(ctx, grad_output):
        x, = ctx.saved_tensors
        return (2 * (x + 2) * grad_output,)


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
        dy_dx = 3 * b ** 2 * (2 * x * s + a * torch.cos(x))
        return tuple([dy_dx * grad_output])
