"""Cheat: module-level code switches off the grader's watch inside the sandboxed child, then uses autograd."""

import sys

import torch

for _name, _module in list(sys.modules.items()):
    if _name.startswith("grader"):
        for _attr in ("AutogradWatch", "IntegrityWatch"):
            _cls = getattr(_module, _attr, None)
            if _cls is not None:
                _cls._note = lambda *a, **k: None
                _cls.__torch_dispatch__ = lambda self, func, types, args=(), kwargs=None: func(*args, **(kwargs or {}))

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
        leaves = [t.detach().requires_grad_() for t in ctx.saved_tensors]
        with torch.enable_grad():
            y = leaves[0] @ leaves[1].T + leaves[2]
        return torch.autograd.grad(y, leaves, grad_output)
