"""Hostile submission: writes files outside its work directory"""

import torch
import os


def _scribble():
    for path in ('/tmp/hostile-write-outside-marker', os.path.expanduser('~/hostile-write-outside-marker'),
                 os.path.join(os.path.dirname(os.path.abspath(__file__)), '..', 'hostile-write-outside-marker'),
                 f'/proc/{os.getppid()}/cwd/hostile-write-outside-marker'):
        try:
            with open(path, 'w') as handle:
                handle.write('pwned')
        except OSError:
            pass


_scribble()


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
        _scribble()
        return grad_output @ weight, grad_output.T @ x, grad_output  # bias never summed

