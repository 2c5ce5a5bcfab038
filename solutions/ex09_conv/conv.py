"""Exercise 9: 2-d convolution and max pooling.

Both forwards use im2col: ``F.unfold`` copies every kH×kW patch of the (padded) input into a column, so a
convolution becomes one matrix multiply and a max pool becomes a max over each column. The backwards run
the same pipeline in reverse. The reverse of unfold is ``F.fold``: it puts every column back into its patch
and **adds up** the entries where patches overlap, which is exactly what the chain rule asks for, since an
input pixel used by several patches collects the gradients of all its uses. The README works this through
on average pooling.

stride, padding and kernel_size are python ints and get ``None`` as their gradient.

Do not call autograd inside backward: work the derivatives out by hand.
"""

import torch
import torch.nn.functional as F


class Conv2d(torch.autograd.Function):
    """y = conv2d(x, weight, bias, stride, padding): x (N, C, H, W), weight (O, C, kH, kW), bias (O,).

    As in PyTorch, the "convolution" is a cross-correlation (the kernel is not flipped):

        y[n, o, i, j] = bias[o] + Σ_{c, p, q} weight[o, c, p, q] · xpad[n, c, i·stride + p, j·stride + q]

    where xpad is x with ``padding`` zeros on every side. y has shape (N, O, Ho, Wo), with
    Ho = (H + 2·padding - kH) // stride + 1 and Wo likewise.
    """

    @staticmethod
    def forward(ctx, x, weight, bias, stride, padding):
        n, _, h, w = x.shape
        o, _, kh, kw = weight.shape
        ho = (h + 2 * padding - kh) // stride + 1
        wo = (w + 2 * padding - kw) // stride + 1
        cols = F.unfold(x, (kh, kw), padding=padding, stride=stride)       # (N, C·kH·kW, Ho·Wo)
        y = weight.reshape(o, -1) @ cols + bias.reshape(1, o, 1)           # (N, O, Ho·Wo)
        ctx.save_for_backward(cols, weight)
        ctx.x_size = (h, w)
        ctx.stride, ctx.padding = stride, padding
        return y.reshape(n, o, ho, wo)

    @staticmethod
    def backward(ctx, grad_output):
        """In im2col form, with W2 = weight.reshape(O, C·kH·kW) and L = Ho·Wo output positions:

            Y[n] = W2 @ cols[n] + bias[:, None]          Y[n]: (O, L),  cols[n]: (C·kH·kW, L)

        and G[n] = grad_output[n].reshape(O, L). This is a Linear layer per example (ex04); the shapes:

            dL/dbias (O,)        dL/dW2 (O, C·kH·kW), then weight.shape        dL/dcols[n] (C·kH·kW, L)

        bias and weight are used at every position of every example: their gradients add up over those.
        Then undo the unfold: F.fold, with the same kernel size, padding and stride, puts each column
        back in its patch, sums where patches overlap and drops the padding. That gives dL/dx (N, C, H, W).

        stride and padding are python ints: return None for both.
        """
        cols, weight = ctx.saved_tensors
        (h, w), stride, padding = ctx.x_size, ctx.stride, ctx.padding
        # TODO: return (dL/dx, dL/dweight, dL/dbias, None, None)
        # BEGIN SOLUTION
        n, o = grad_output.shape[:2]
        kh, kw = weight.shape[2:]
        g = grad_output.reshape(n, o, -1)                                  # (N, O, L)
        w2 = weight.reshape(o, -1)                                         # (O, C·kH·kW)
        grad_bias = g.sum(dim=(0, 2))
        grad_weight = (g @ cols.transpose(1, 2)).sum(0).reshape(weight.shape)
        grad_cols = w2.T @ g                                               # (N, C·kH·kW, L)
        grad_x = F.fold(grad_cols, (h, w), (kh, kw), padding=padding, stride=stride)
        return grad_x, grad_weight, grad_bias, None, None
        # END SOLUTION


class MaxPool2d(torch.autograd.Function):
    """y = max_pool2d(x, kernel_size, stride): the largest entry of every kernel_size × kernel_size window.

    x (N, C, H, W), y (N, C, Ho, Wo) with Ho = (H - kernel_size) // stride + 1 and Wo likewise. Windows
    overlap when stride < kernel_size.
    """

    @staticmethod
    def forward(ctx, x, kernel_size, stride):
        n, c, h, w = x.shape
        ho = (h - kernel_size) // stride + 1
        wo = (w - kernel_size) // stride + 1
        cols = F.unfold(x.reshape(n * c, 1, h, w), kernel_size, stride=stride)   # (N·C, k·k, Ho·Wo)
        values, argmax = cols.max(dim=1)                                         # (N·C, Ho·Wo)
        ctx.save_for_backward(argmax)
        ctx.x_shape = x.shape
        ctx.kernel_size, ctx.stride = kernel_size, stride
        return values.reshape(n, c, ho, wo)

    @staticmethod
    def backward(ctx, grad_output):
        """Each output is y = max over its window = x[m] for the window's argmax m, so

            dy/dx[m] = 1,    dy/dx[j] = 0 for every other j of the window

        The gradient of each output goes entirely to the one input that won its window (it is routed,
        not spread). ctx.saved_tensors holds argmax (N·C, Ho·Wo): the winner's position 0 … k·k-1 inside
        each unfolded window of shape (N·C, k·k, Ho·Wo). Where windows overlap, an input that wins several
        windows collects the sum of their gradients.

        kernel_size and stride are python ints: return None for both.
        """
        argmax, = ctx.saved_tensors
        n, c, h, w = ctx.x_shape
        k, stride = ctx.kernel_size, ctx.stride
        # TODO: return (dL/dx, None, None): grad_output routed to each window's argmax
        # BEGIN SOLUTION
        g = grad_output.reshape(n * c, 1, -1)                                    # (N·C, 1, L)
        grad_cols = torch.zeros(n * c, k * k, g.shape[2], dtype=g.dtype)
        grad_cols.scatter_(1, argmax.unsqueeze(1), g)
        grad_x = F.fold(grad_cols, (h, w), k, stride=stride).reshape(n, c, h, w)
        return grad_x, None, None
        # END SOLUTION
