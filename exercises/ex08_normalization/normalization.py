"""Exercise 8: layer normalization and batch normalization.

Both standardise their input, x̂ = (x - μ) / √(σ² + eps), then scale and shift it: y = x̂ · weight + bias.
They differ only in what the mean μ and the (biased) variance σ² are taken over:

    LayerNorm: over the last dimension, separately for every row (every example, every position).
    BatchNorm: over the batch, dimension 0 of x (N, C), separately for every channel (training mode).

The mean and variance depend on every entry they are taken over, so every x̂ depends on every x of its
group: that coupling is what makes these backwards interesting. eps is a python number and gets ``None``.
The README works the method through on a simpler coupled op, dividing a row by its sum.

Do not call autograd inside backward: work the derivatives out by hand.
"""

import torch


class LayerNorm(torch.autograd.Function):
    """y = (x - mean) / sqrt(var + eps) · weight + bias over the last dimension: x (..., D), weight, bias (D,)"""

    @staticmethod
    def forward(ctx, x, weight, bias, eps):
        mean = x.mean(dim=-1, keepdim=True)
        var = ((x - mean) ** 2).mean(dim=-1, keepdim=True)            # biased: divide by D
        rstd = 1 / torch.sqrt(var + eps)
        x_hat = (x - mean) * rstd
        ctx.save_for_backward(x_hat, rstd, weight)
        return x_hat * weight + bias

    @staticmethod
    def backward(ctx, grad_output):
        """Write r = rstd = 1 / √(σ² + eps). Along the last dimension (D entries):

        bias, weight: dy_i/dbias_i = 1 and dy_i/dweight_i = x̂_i, and weight and bias are broadcast over
            every row, so their gradients are summed over all leading dims, down to (D,) (ex05).

        x: first through the scale, dL/dx̂_i = grad_output_i · weight_i =: ĝ_i. Then x̂_i = (x_i - μ) · r with
            dμ/dx_j = 1/D,    dσ²/dx_j = 2 (x_j - μ) / D,    dr/dσ² = -r³ / 2
        Product rule for dx̂_i/dx_j, then sum over i against ĝ_i (every x_j is used by every x̂_i of its
        row); the sums become means along the last dim, with keepdim. Each row of dL/dx sums to 0.

        eps is a python number: return None for it.
        """
        x_hat, rstd, weight = ctx.saved_tensors
        # TODO: return (dL/dx, dL/dweight, dL/dbias, None)
        raise NotImplementedError('TODO: return (dL/dx, dL/dweight, dL/dbias, None)')


class BatchNorm(torch.autograd.Function):
    """y = (x - mean) / sqrt(var + eps) · weight + bias over the batch: x (N, C), weight, bias (C,)"""

    @staticmethod
    def forward(ctx, x, weight, bias, eps):
        mean = x.mean(dim=0, keepdim=True)
        var = ((x - mean) ** 2).mean(dim=0, keepdim=True)             # biased: divide by N
        rstd = 1 / torch.sqrt(var + eps)
        x_hat = (x - mean) * rstd
        ctx.save_for_backward(x_hat, rstd, weight)
        return x_hat * weight + bias

    @staticmethod
    def backward(ctx, grad_output):
        """The same algebra as LayerNorm, with the statistics taken over dimension 0 (the N examples)
        instead of the last dimension: grad_output is (N, C), r = rstd is (1, C), and weight and bias (C,)
        are broadcast over the N rows.

        eps is a python number: return None for it.
        """
        x_hat, rstd, weight = ctx.saved_tensors
        # TODO: return (dL/dx, dL/dweight, dL/dbias, None)
        raise NotImplementedError('TODO: return (dL/dx, dL/dweight, dL/dbias, None)')
