"""Exercise 3: activation functions.

The non-linearities that sit between the layers of a network: ReLU, LeakyReLU, Sigmoid, Tanh and GELU.
Each is applied entry by entry, so each backward is grad_output times a local derivative, and the
gradient has the shape of x.

Several of these derivatives are neatest written in terms of the forward's output y, which the forward
saves for you. The slope of LeakyReLU is a python number and gets ``None`` as its gradient. The README
works the method through on another activation, Softplus.

Do not call autograd inside backward: work the derivatives out by hand.
"""

import math

import torch


class ReLU(torch.autograd.Function):
    """y = max(0, x)"""

    @staticmethod
    def forward(ctx, x):
        ctx.save_for_backward(x)
        return torch.clamp(x, min=0)

    @staticmethod
    def backward(ctx, grad_output):
        """y = x where x > 0 and y = 0 where x < 0, so

            dy/dx = 1 if x > 0, else 0

        (At x = 0, the kink, the derivative is undefined; the grader keeps inputs away from 0.)
        """
        x, = ctx.saved_tensors
        # TODO: return dL/dx, with the shape of x
        # BEGIN SOLUTION
        dy_dx = (x > 0).to(x.dtype)
        grad_x = grad_output * dy_dx
        return grad_x
        # END SOLUTION


class LeakyReLU(torch.autograd.Function):
    """y = x if x > 0, else negative_slope · x"""

    @staticmethod
    def forward(ctx, x, negative_slope):
        ctx.save_for_backward(x)
        ctx.negative_slope = negative_slope
        return torch.where(x > 0, x, negative_slope * x)

    @staticmethod
    def backward(ctx, grad_output):
        """dy/dx = 1 if x > 0, else negative_slope

        negative_slope is a python number, not a tensor: return None as its gradient.
        """
        x, = ctx.saved_tensors
        negative_slope = ctx.negative_slope
        # TODO: return (dL/dx, None)
        # BEGIN SOLUTION
        grad_x = torch.where(x > 0, grad_output, negative_slope * grad_output)
        return grad_x, None
        # END SOLUTION


class Sigmoid(torch.autograd.Function):
    """y = σ(x) = 1 / (1 + e⁻ˣ)"""

    @staticmethod
    def forward(ctx, x):
        y = torch.sigmoid(x)
        ctx.save_for_backward(y)
        return y

    @staticmethod
    def backward(ctx, grad_output):
        """Two steps, each with an easy local derivative:

            u = 1 + e⁻ˣ      du/dx = -e⁻ˣ
            y = u⁻¹          dy/du = -u⁻²

        Chain them, then write dy/dx in terms of the saved output y alone (e⁻ˣ / (1 + e⁻ˣ) = 1 - y helps).
        """
        y, = ctx.saved_tensors
        # TODO: return dL/dx, using the saved output y
        # BEGIN SOLUTION
        grad_x = grad_output * y * (1 - y)
        return grad_x
        # END SOLUTION


class Tanh(torch.autograd.Function):
    """y = tanh x"""

    @staticmethod
    def forward(ctx, x):
        y = torch.tanh(x)
        ctx.save_for_backward(y)
        return y

    @staticmethod
    def backward(ctx, grad_output):
        """tanh x = sinh x / cosh x, with (sinh x)' = cosh x and (cosh x)' = sinh x.

        Use the quotient rule, (f/g)' = (f'g - fg')/g², then write dy/dx in terms of the saved output y.
        """
        y, = ctx.saved_tensors
        # TODO: return dL/dx, using the saved output y
        # BEGIN SOLUTION
        grad_x = grad_output * (1 - y ** 2)
        return grad_x
        # END SOLUTION


class GELU(torch.autograd.Function):
    """y = x · Φ(x), with Φ the standard normal CDF: Φ(x) = ½ · (1 + erf(x / √2))"""

    @staticmethod
    def forward(ctx, x):
        ctx.save_for_backward(x)
        cdf = 0.5 * (1 + torch.erf(x / math.sqrt(2)))
        return x * cdf

    @staticmethod
    def backward(ctx, grad_output):
        """y = x · Φ(x) is a product of two functions of x: use the product rule, with

            dΦ/dx = φ(x) = e^(-x²/2) / √(2π)        the standard normal density
        """
        x, = ctx.saved_tensors
        # TODO: return dL/dx, with the shape of x
        # BEGIN SOLUTION
        cdf = 0.5 * (1 + torch.erf(x / math.sqrt(2)))
        pdf = torch.exp(-0.5 * x ** 2) / math.sqrt(2 * math.pi)
        grad_x = grad_output * (cdf + x * pdf)
        return grad_x
        # END SOLUTION
