"""Exercise 1: the chain rule.

Each class below is a small function written as a ``torch.autograd.Function``. The forward pass is given:
it computes the output and saves what the backward pass will need. Your job is the backward pass.

``backward(ctx, grad_output)`` receives grad_output = dL/dy, the gradient of some final loss L with respect
to this function's output y, and must return dL/dx for the input x. Break the function into simple steps,
write down the local derivative of each step, and multiply the gradients as you go backwards.

Do not call autograd inside backward (no ``torch.autograd.grad``, no ``.backward()``): work it out by hand.
"""

import torch


class ShiftedSquare(torch.autograd.Function):
    """y = (x + 2)²"""

    @staticmethod
    def forward(ctx, x):
        ctx.save_for_backward(x)
        g = x + 2
        y = g ** 2
        return y

    @staticmethod
    def backward(ctx, grad_output):
        """Break y = (x + 2)² into two steps, each with an easy local derivative:

            g = x + 2        dg/dx = 1
            y = g²           dy/dg = 2·g

        Chain rule: dy/dx = dy/dg · dg/dx = 2·g · 1 = 2·(x + 2).

        grad_output is dL/dy, the gradient arriving from further on. One more step of the chain rule:

            dL/dx = dL/dy · dy/dx = grad_output · 2·(x + 2)

        Everything is element-wise, so the result has the shape of x.
        """
        x, = ctx.saved_tensors
        # TODO: return dL/dx = grad_output · dy/dg · dg/dx
        # BEGIN SOLUTION
        g = x + 2
        dy_dg = 2 * g
        dg_dx = 1
        grad_g = grad_output * dy_dg
        grad_x = grad_g * dg_dx
        return grad_x
        # END SOLUTION


class SinComposite(torch.autograd.Function):
    """y = ((x² + 3) · sin x)³"""

    @staticmethod
    def forward(ctx, x):
        a = x ** 2 + 3
        s = torch.sin(x)
        b = a * s
        y = b ** 3
        ctx.save_for_backward(x, a, s, b)
        return y

    @staticmethod
    def backward(ctx, grad_output):
        """The forward pass computes y = ((x² + 3) · sin x)³ in four steps:

            a = x² + 3       da/dx = 2·x
            s = sin x        ds/dx = cos x
            b = a · s        db/da = s,   db/ds = a
            y = b³           dy/db = 3·b²

        Walk the steps backwards, from dL/dy = grad_output to dL/db, then dL/da and dL/ds, then dL/dx: at
        each step, the gradient of the step's output times its local derivative.

        x reaches y along two paths (through a and through s): when a value is used more than once, the
        gradients of all its uses add up. The README works this through on y = x · eˣ.
        """
        x, a, s, b = ctx.saved_tensors
        # TODO: go backwards through y = b³, b = a · s, s = sin x, a = x² + 3 and return dL/dx
        # BEGIN SOLUTION
        grad_b = grad_output * 3 * b ** 2
        grad_a = grad_b * s
        grad_s = grad_b * a
        grad_x = grad_a * 2 * x + grad_s * torch.cos(x)
        return grad_x
        # END SOLUTION
