"""Crash: ShiftedSquare's backward calls os._exit(0); SinComposite is correct."""

import torch


class ShiftedSquare(torch.autograd.Function):
    @staticmethod
    def forward(ctx, x):
        ctx.save_for_backward(x)
        return (x + 2) ** 2

    @staticmethod
    def backward(ctx, grad_output):
        x, = ctx.saved_tensors
        import os
        os._exit(0)


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
        grad_b = grad_output * 3 * b ** 2
        return grad_b * s * 2 * x + grad_b * a * torch.cos(x)
