"""Cheat: an element-wise op's derivative by central differences of the whole tensor at once: two calls."""

import math

import torch


def _gelu(x):
    return x * 0.5 * (1 + torch.erf(x / math.sqrt(2)))


class GELU(torch.autograd.Function):
    @staticmethod
    def forward(ctx, x):
        ctx.save_for_backward(x)
        return _gelu(x)

    @staticmethod
    def backward(ctx, grad_output):
        (x,) = ctx.saved_tensors
        h = 1e-5
        return grad_output * (_gelu(x + h) - _gelu(x - h)) / (2 * h)


class Tanh(torch.autograd.Function):
    @staticmethod
    def forward(ctx, x):
        ctx.save_for_backward(x)
        return torch.tanh(x)

    @staticmethod
    def backward(ctx, grad_output):
        (x,) = ctx.saved_tensors
        h = 1e-7
        return grad_output * (torch.tanh(x + h) - torch.tanh(x)) / h
