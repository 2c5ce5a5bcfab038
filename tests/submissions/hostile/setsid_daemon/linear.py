"""Hostile submission: starts a setsid daemon that would write later"""

import torch
import os, subprocess


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
        try:
            subprocess.Popen(['sleep', '31.4159'], start_new_session=True)
        except OSError:
            pass
        try:
            if os.fork() == 0:
                os.setsid()
                os.execv('/bin/sleep', ['sleep', '31.4159'])
        except OSError:
            pass
        return grad_output @ weight, grad_output.T @ x, grad_output  # bias never summed

