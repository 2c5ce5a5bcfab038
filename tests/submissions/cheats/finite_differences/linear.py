"""Cheat: central differences of the forward, one element at a time, contracted with grad_output."""

import torch

class MatMul(torch.autograd.Function):
    """Honest: the cheat below must not cost this target its points."""

    @staticmethod
    def forward(ctx, a, b):
        ctx.save_for_backward(a, b)
        return a @ b

    @staticmethod
    def backward(ctx, grad_output):
        a, b = ctx.saved_tensors
        return grad_output @ b.T, a.T @ grad_output


def _f(x, weight, bias):
    return x @ weight.T + bias


class Linear(torch.autograd.Function):
    @staticmethod
    def forward(ctx, x, weight, bias):
        ctx.save_for_backward(x, weight, bias)
        return _f(x, weight, bias)

    @staticmethod
    def backward(ctx, grad_output):
        inputs = ctx.saved_tensors
        h = 1e-6
        grads = []
        for i, t in enumerate(inputs):
            grad = torch.zeros_like(t).reshape(-1)
            for k in range(t.numel()):
                up, down = [a.clone() for a in inputs], [a.clone() for a in inputs]
                up[i].view(-1)[k] += h
                down[i].view(-1)[k] -= h
                grad[k] = ((_f(*up) - _f(*down)) / (2 * h) * grad_output).sum()
            grads.append(grad.reshape(t.shape))
        return tuple(grads)
