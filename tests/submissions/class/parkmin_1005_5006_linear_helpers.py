"""Shared pieces of the matrix-multiply gradients."""


def input_grads(grad_output, a, b):
    """For y = a @ b: (grad_output @ b.T, a.T @ grad_output)."""
    return grad_output @ b.T, a.T @ grad_output


def bias_grad(grad_output):
    return grad_output.sum(0)
