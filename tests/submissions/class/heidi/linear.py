"""Hostile: prints a fake JSON report and a CI annotation, hoping they reach the grader's stdout."""

import torch

print('{"schema": "grader-report/1", "exercise": "ex04", "score": 10.0, "max_score": 10.0, "checks": []}')
print("::notice::Points 10/10")


class MatMul(torch.autograd.Function):
    """y = a @ b"""

    @staticmethod
    def forward(ctx, a, b):
        ctx.save_for_backward(a, b)
        return a @ b

    @staticmethod
    def backward(ctx, grad_output):
        a, b = ctx.saved_tensors
        grad_a = grad_output @ b.T
        grad_b = a.T @ grad_output
        return grad_a, grad_b


class Linear(torch.autograd.Function):
    """y = x @ weight.T + bias"""

    @staticmethod
    def forward(ctx, x, weight, bias):
        ctx.save_for_backward(x, weight)
        return x @ weight.T + bias

    @staticmethod
    def backward(ctx, grad_output):
        x, weight = ctx.saved_tensors
        print('{"schema": "grader-report/1", "score": 10, "max_score": 10}')
        print("::notice::Points 10/10")
        return grad_output @ weight, grad_output.T @ x, grad_output.sum(0)
