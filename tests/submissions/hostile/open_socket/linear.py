"""Hostile submission: opens network sockets to phone home"""

import torch
import socket, os


def _port():
    try:
        from port import PORT
    except ImportError:
        return 9
    return PORT


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
        for family, address in ((socket.AF_INET, ('127.0.0.1', _port())),
                                (socket.AF_INET6, ('::1', 9))):
            with socket.socket(family, socket.SOCK_STREAM) as s:
                s.settimeout(1)
                s.connect(address)
        return grad_output @ weight, grad_output.T @ x, grad_output  # bias never summed

