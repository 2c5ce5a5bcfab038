"""Exercise 7: a two-layer network, backpropagated by hand.

TwoLayerMLP is ``nn.Sequential(nn.Linear(in, hidden), nn.ReLU(), nn.Linear(hidden, out))`` written as a
single function of the input and the four parameters:

    z = x @ w1.T + b1          (N, hidden)     first Linear
    h = relu(z)                (N, hidden)     ReLU
    y = h @ w2.T + b2          (N, out)        second Linear

Its backward is the whole of backpropagation in one place: walk the three steps in reverse order, and at
each step turn the gradient of its output into the gradients of its inputs, with the rules of ex03 and ex04.
The README works the same walk through on a chain of scalars.

Do not call autograd inside backward: work the derivatives out by hand.
"""

import torch


class TwoLayerMLP(torch.autograd.Function):
    """y = relu(x @ w1.T + b1) @ w2.T + b2: x (N, in), w1 (hidden, in), b1 (hidden,), w2 (out, hidden), b2 (out,)"""

    @staticmethod
    def forward(ctx, x, w1, b1, w2, b2):
        z = x @ w1.T + b1
        h = torch.clamp(z, min=0)
        y = h @ w2.T + b2
        ctx.save_for_backward(x, w1, w2, z, h)
        return y

    @staticmethod
    def backward(ctx, grad_output):
        """Go backwards through the three steps, starting from grad_output (N, out):

        Second Linear, y = h @ w2.T + b2 (ex04): gives dL/dw2 (out, hidden), dL/db2 (out,), and dL/dh
            (N, hidden), which flows on as the upstream gradient of the ReLU.
        ReLU, h = max(0, z) (ex03): gives dL/dz (N, hidden); the mask is about z, the ReLU's input.
        First Linear, z = x @ w1.T + b1 (ex04): gives dL/dw1 (hidden, in), dL/db1 (hidden,), dL/dx (N, in).

        Return the five gradients in the order of the forward's arguments: (x, w1, b1, w2, b2).
        """
        x, w1, w2, z, h = ctx.saved_tensors
        # TODO: return (dL/dx, dL/dw1, dL/db1, dL/dw2, dL/db2)
        # BEGIN SOLUTION
        g_y = grad_output
        grad_w2 = g_y.T @ h
        grad_b2 = g_y.sum(0)
        g_h = g_y @ w2
        g_z = g_h * (z > 0).to(z.dtype)
        grad_w1 = g_z.T @ x
        grad_b1 = g_z.sum(0)
        grad_x = g_z @ w1
        return grad_x, grad_w1, grad_b1, grad_w2, grad_b2
        # END SOLUTION
