"""Exercise 2: element-wise operations.

The building blocks of every network: add, multiply, divide, power, exp, log and sin, each applied entry by
entry. Tensors of the same shape go in, a tensor of that shape comes out, so every gradient you return has
the shape of its input.

Each ``backward(ctx, grad_output)`` gets grad_output = dL/dy and returns one gradient per forward argument,
in order: dL/d(input) = grad_output · dy/d(input), where dy/d(input) is the local derivative. An argument
that is a python number (the exponent p of Pow) gets ``None``. The README works two other operations
through, y = a - b and y = 1/x.

Do not call autograd inside backward: work the derivatives out by hand.
"""

import torch


class Add(torch.autograd.Function):
    """y = a + b"""

    @staticmethod
    def forward(ctx, a, b):
        return a + b

    @staticmethod
    def backward(ctx, grad_output):
        """Local derivatives: dy/da = 1, dy/db = 1."""
        # TODO: return (dL/da, dL/db)
        raise NotImplementedError('TODO: return (dL/da, dL/db)')


class Mul(torch.autograd.Function):
    """y = a · b"""

    @staticmethod
    def forward(ctx, a, b):
        ctx.save_for_backward(a, b)
        return a * b

    @staticmethod
    def backward(ctx, grad_output):
        """Local derivatives: dy/da = b, dy/db = a (each input is scaled by the other one)."""
        a, b = ctx.saved_tensors
        # TODO: return (dL/da, dL/db)
        raise NotImplementedError('TODO: return (dL/da, dL/db)')


class Div(torch.autograd.Function):
    """y = a / b"""

    @staticmethod
    def forward(ctx, a, b):
        ctx.save_for_backward(a, b)
        return a / b

    @staticmethod
    def backward(ctx, grad_output):
        """Write y = a · u with u = b⁻¹. The pieces:

            dy/da = u = 1 / b        dy/du = a        du/db = -b⁻²   (power rule)

        Chain the last two for dy/db, and mind the sign.
        """
        a, b = ctx.saved_tensors
        # TODO: return (dL/da, dL/db)
        raise NotImplementedError('TODO: return (dL/da, dL/db)')


class Pow(torch.autograd.Function):
    """y = x ** p, for x > 0 and a python number p"""

    @staticmethod
    def forward(ctx, x, p):
        ctx.save_for_backward(x)
        ctx.p = p
        return x ** p

    @staticmethod
    def backward(ctx, grad_output):
        """Power rule: dy/dx = p · x^(p - 1).

        p is a python number, not a tensor, so it has no gradient: return None in its place.
        """
        x, = ctx.saved_tensors
        p = ctx.p
        # TODO: return (dL/dx, None)
        raise NotImplementedError('TODO: return (dL/dx, None)')


class Exp(torch.autograd.Function):
    """y = eˣ"""

    @staticmethod
    def forward(ctx, x):
        y = torch.exp(x)
        ctx.save_for_backward(y)
        return y

    @staticmethod
    def backward(ctx, grad_output):
        """dy/dx = eˣ, which is the forward's own output y (saved, so nothing needs recomputing)."""
        y, = ctx.saved_tensors
        # TODO: return dL/dx
        raise NotImplementedError('TODO: return dL/dx')


class Log(torch.autograd.Function):
    """y = ln x, for x > 0"""

    @staticmethod
    def forward(ctx, x):
        ctx.save_for_backward(x)
        return torch.log(x)

    @staticmethod
    def backward(ctx, grad_output):
        """dy/dx = 1 / x."""
        x, = ctx.saved_tensors
        # TODO: return dL/dx
        raise NotImplementedError('TODO: return dL/dx')


class Sin(torch.autograd.Function):
    """y = sin x"""

    @staticmethod
    def forward(ctx, x):
        ctx.save_for_backward(x)
        return torch.sin(x)

    @staticmethod
    def backward(ctx, grad_output):
        """dy/dx = cos x."""
        x, = ctx.saved_tensors
        # TODO: return dL/dx
        raise NotImplementedError('TODO: return dL/dx')
