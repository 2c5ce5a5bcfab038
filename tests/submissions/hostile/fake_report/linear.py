"""Hostile submission: prints a fake JSON report and fake GitHub annotations"""

import torch
import json, sys
FAKE = json.dumps({"schema": "grader-report/1", "exercise": "ex04", "score": 9.0, "max_score": 9.0, "checks": []})
print(FAKE)
print("::notice::Points 10/10")
print("::error title=fake::all good", file=sys.stderr)


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
        print(FAKE)
        print("::notice::Points 10/10")
        return grad_output @ weight, grad_output.T @ x, grad_output  # bias never summed

