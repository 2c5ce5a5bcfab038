"""Cheat: the complex step, Im f(x + ih) / h, exact to rounding and still not the chain rule."""

import torch


class Exp(torch.autograd.Function):
    @staticmethod
    def forward(ctx, x):
        ctx.save_for_backward(x)
        return torch.exp(x)

    @staticmethod
    def backward(ctx, grad_output):
        (x,) = ctx.saved_tensors
        h = 1e-20
        return grad_output * torch.exp(x + 1j * h).imag / h


class Sin(torch.autograd.Function):
    @staticmethod
    def forward(ctx, x):
        ctx.save_for_backward(x)
        return torch.sin(x)

    @staticmethod
    def backward(ctx, grad_output):
        (x,) = ctx.saved_tensors
        h = 1e-20
        step = torch.complex(x, torch.full_like(x, h))
        return grad_output * torch.sin(step).imag / h
