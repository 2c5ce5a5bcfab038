"""Exercise 4: matrix multiply and the Linear layer.

MatMul computes y = a @ b; Linear computes y = x @ weight.T + bias, the fully connected layer of every
network (``torch.nn.Linear``). Their gradients are matrix products again. The rule of thumb: each gradient
has the shape of its input, and there is only one way to multiply grad_output with the other operand
(transposed or not) that gives that shape.

The bias is added to every row of the batch, so its gradient collects (sums) grad_output over the batch.

Do not call autograd inside backward: work the derivatives out by hand.
"""

import torch


class MatMul(torch.autograd.Function):
    """y = a @ b, with a of shape (n, k) and b of shape (k, m), so y has shape (n, m)"""

    @staticmethod
    def forward(ctx, a, b):
        ctx.save_for_backward(a, b)
        return a @ b

    @staticmethod
    def backward(ctx, grad_output):
        """Entry by entry, y[i, j] = Σ_k a[i, k] · b[k, j], so

            dy[i, j]/da[i, k] = b[k, j]          dy[i, j]/db[k, j] = a[i, k]

        a[i, k] is used by every y[i, j] of row i, and b[k, j] by every y[i, j] of column j: the chain rule
        sums over those. grad_a must be (n, k) and grad_b (k, m); grad_output is (n, m), and only one product
        of it with the other operand (transposed or not) has each shape.
        """
        a, b = ctx.saved_tensors
        # TODO: return (dL/da, dL/db), each with the shape of its input
        # BEGIN SOLUTION
        grad_a = grad_output @ b.T
        grad_b = a.T @ grad_output
        return grad_a, grad_b
        # END SOLUTION


class Linear(torch.autograd.Function):
    """y = x @ weight.T + bias: x (N, in), weight (out, in), bias (out,), y (N, out)"""

    @staticmethod
    def forward(ctx, x, weight, bias):
        ctx.save_for_backward(x, weight)
        return x @ weight.T + bias

    @staticmethod
    def backward(ctx, grad_output):
        """grad_output has shape (N, out). Entry by entry,

            y[n, o] = Σ_i x[n, i] · weight[o, i] + bias[o]

            dy[n, o]/dx[n, i] = weight[o, i]    dy[n, o]/dweight[o, i] = x[n, i]    dy[n, o]/dbias[o] = 1

        x[n, i] is used by every output o of row n; weight[o, i] and bias[o] by every example n of the
        batch. Sum over those uses, then match the shapes: x (N, in), weight (out, in), bias (out,).

        The bias has one entry per output but is added to all N rows (broadcast), so every row's
        gradient flows back into the same bias entry, and they add up over the batch.
        """
        x, weight = ctx.saved_tensors
        # TODO: return (dL/dx, dL/dweight, dL/dbias), each with the shape of its input
        # BEGIN SOLUTION
        g = grad_output
        grad_x = g @ weight
        grad_weight = g.T @ x
        grad_bias = g.sum(0)
        return grad_x, grad_weight, grad_bias
        # END SOLUTION
