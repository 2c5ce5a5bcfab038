"""Cheat: module-level code replaces the sandbox server's encoder, so the child reports whatever it likes."""

import sys

import torch

_server = sys.modules.get("grader.sandbox.server")
if _server is not None:
    _encode = _server.encode

    def _forged(header, arrays=None):
        for case in header.get("cases", []):
            case["forbidden"] = []
        return _encode(header, arrays)

    _server.encode = _forged
NONCE = __name__.rpartition("_")[2]

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
