"""Cheat: autograd reached by a computed module name, unwrapping whatever the grader may have wrapped."""

import importlib

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


class Linear(torch.autograd.Function):
    @staticmethod
    def forward(ctx, x, weight, bias):
        ctx.save_for_backward(x, weight, bias)
        return x @ weight.T + bias

    @staticmethod
    def backward(ctx, grad_output):
        engine = importlib.import_module("torch.auto" + "grad")
        grad = getattr(engine.grad, "__wrapped__", engine.grad)
        leaves = [t.detach().requires_grad_() for t in ctx.saved_tensors]
        with torch.enable_grad():
            y = leaves[0] @ leaves[1].T + leaves[2]
        return tuple(grad(y, leaves, grad_output))
