"""Exercise 5: broadcasting and reductions.

BroadcastAdd and BroadcastMul work on any two broadcastable shapes: a (N, M) plus b (M,), a (N, 1) times
b (1, M), and so on. Broadcasting copies an input along the dimensions where it is missing or has size 1,
and a value that is used several times collects the gradients of all its uses: the gradient of an input is
the upstream gradient *summed over the dimensions it was broadcast along*. Write that rule once, in
``unbroadcast``, and use it in both backwards. The README works it through on a broadcast division.

Sum and Mean reduce over ``dim``: an int, a tuple of ints, or None for all dimensions, with or without
``keepdim``. Their backwards do the opposite of a reduction: they copy (broadcast) grad_output back to the
input's shape.

Do not call autograd inside backward: work the derivatives out by hand.
"""

import math

import torch


def unbroadcast(grad, shape):
    """Sum ``grad`` (the shape of the broadcast result) back down to ``shape`` (the shape of one input).

    Line the two shapes up on the right, as broadcasting does. Then

    1. grad has extra leading dimensions that the input lacks: sum them away;
    2. where the input has size 1 but grad has size > 1, the input was copied: sum over that dimension
       with keepdim=True, so the size-1 dimension stays.

    Example: shape (3,) and grad (4, 3): sum over dim 0 → (3,).
             shape (4, 1) and grad (4, 5): sum over dim 1, keepdim → (4, 1).
    """
    shape = tuple(shape)
    # TODO: return grad summed down to shape
    raise NotImplementedError('TODO: return grad summed down to shape')


class BroadcastAdd(torch.autograd.Function):
    """y = a + b, where a and b may have different (broadcastable) shapes"""

    @staticmethod
    def forward(ctx, a, b):
        ctx.a_shape = a.shape
        ctx.b_shape = b.shape
        return a + b

    @staticmethod
    def backward(ctx, grad_output):
        """First pretend both inputs were expanded to the output's shape: A = a.expand(y.shape), and
        y = A + B entry by entry, ex02's Add, which gives dL/dA and dL/dB.

        Each entry a[j] appears in A at every position it was copied to, so its gradient is the sum of
        dL/dA over those positions: that is what unbroadcast is for.
        """
        a_shape, b_shape = ctx.a_shape, ctx.b_shape
        # TODO: return (dL/da, dL/db), each summed back to the shape of its input
        raise NotImplementedError('TODO: return (dL/da, dL/db), each summed back to the shape of its input')


class BroadcastMul(torch.autograd.Function):
    """y = a · b, where a and b may have different (broadcastable) shapes"""

    @staticmethod
    def forward(ctx, a, b):
        ctx.save_for_backward(a, b)
        return a * b

    @staticmethod
    def backward(ctx, grad_output):
        """On the expanded inputs, y = A · B entry by entry, ex02's Mul:

            dy/dA = B          dy/dB = A

        Arithmetic with b or a broadcasts it to the output's shape for you. Then sum each gradient back to
        its input's shape, as in BroadcastAdd.
        """
        a, b = ctx.saved_tensors
        # TODO: return (dL/da, dL/db), each summed back to the shape of its input
        raise NotImplementedError('TODO: return (dL/da, dL/db), each summed back to the shape of its input')


def _reduced_dims(dim, ndim):
    """The reduced dimensions as a sorted tuple of non-negative ints (dim: an int, a tuple, or None)."""
    if dim is None:
        return tuple(range(ndim))
    if isinstance(dim, int):
        dim = (dim,)
    return tuple(sorted(d % ndim for d in dim))


class Sum(torch.autograd.Function):
    """y = x.sum(dim, keepdim): dim an int, a tuple of ints, or None (all dimensions)"""

    @staticmethod
    def forward(ctx, x, dim, keepdim):
        ctx.x_shape = x.shape
        ctx.dims = _reduced_dims(dim, x.dim())
        ctx.keepdim = keepdim
        return x.sum(dim=dim, keepdim=keepdim)

    @staticmethod
    def backward(ctx, grad_output):
        """Every x[..., i, ...] in a reduced dimension appears in the sum with coefficient 1:

            y[j] = Σ_i x[j, i]    so    dy[j]/dx[j, i] = 1

        The backward of a sum is a broadcast (just as the backward of a broadcast is a sum), and the
        gradient must have the shape ctx.x_shape. Without keepdim, the reduced dimensions (ctx.dims) are
        gone from grad_output; broadcasting lines shapes up on the right, so mind where they were.

        dim and keepdim are python values: return None for them.
        """
        x_shape, dims, keepdim = ctx.x_shape, ctx.dims, ctx.keepdim
        # TODO: return (dL/dx, None, None), dL/dx with the shape of x
        raise NotImplementedError('TODO: return (dL/dx, None, None), dL/dx with the shape of x')


class Mean(torch.autograd.Function):
    """y = x.mean(dim, keepdim): dim an int, a tuple of ints, or None (all dimensions)"""

    @staticmethod
    def forward(ctx, x, dim, keepdim):
        ctx.x_shape = x.shape
        ctx.dims = _reduced_dims(dim, x.dim())
        ctx.keepdim = keepdim
        return x.mean(dim=dim, keepdim=keepdim)

    @staticmethod
    def backward(ctx, grad_output):
        """The mean is the sum divided by K, the number of entries averaged into each output:
        K = product of x_shape[d] over the reduced dims d.

            y[j] = (1/K) Σ_i x[j, i]    so    dy[j]/dx[j, i] = 1/K

        The shapes work as for Sum. Return None for dim and keepdim.
        """
        x_shape, dims, keepdim = ctx.x_shape, ctx.dims, ctx.keepdim
        # TODO: return (dL/dx, None, None), dL/dx with the shape of x
        raise NotImplementedError('TODO: return (dL/dx, None, None), dL/dx with the shape of x')
