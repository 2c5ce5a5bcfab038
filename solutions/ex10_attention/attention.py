"""Exercise 10: scaled dot-product attention.

The core of a transformer. Every query row of q is compared with every key row of k; the scores go
through a softmax, and the output is the resulting weighted average of the value rows of v:

    s = q @ k.T / √d           (B, T, S)     scores
    p = softmax(s, dim=-1)     (B, T, S)     attention weights, each row sums to 1
    y = p @ v                  (B, T, dv)

With ``causal=True``, query t may only attend to keys 0 … t: the scores above the diagonal are set to -∞
before the softmax, so their weights are exactly 0.

causal is a python bool and gets ``None`` as its gradient. The README works the softmax step's method through
on another coupled op, normalising a vector to length 1.

Do not call autograd inside backward: work the derivatives out by hand.
"""

import math

import torch


class ScaledDotProductAttention(torch.autograd.Function):
    """y = softmax(q @ k.T / √d [+ causal mask]) @ v: q (B, T, d), k (B, S, d), v (B, S, dv), y (B, T, dv)"""

    @staticmethod
    def forward(ctx, q, k, v, causal):
        scale = 1 / math.sqrt(q.shape[-1])
        s = q @ k.transpose(-2, -1) * scale                                 # (B, T, S)
        if causal:
            t, s_len = q.shape[-2], k.shape[-2]
            allowed = torch.ones(t, s_len, dtype=torch.bool).tril()         # query i sees keys j <= i
            s = s.masked_fill(~allowed, float("-inf"))
        p = torch.softmax(s, dim=-1)
        ctx.save_for_backward(q, k, v, p)
        ctx.scale = scale
        return p @ v

    @staticmethod
    def backward(ctx, grad_output):
        """Go back through the three steps from grad_output (B, T, dv); every product is batched over B.

        y = p @ v (ex04's MatMul, per batch entry): gives dL/dv (B, S, dv) and dL/dp (B, T, S).

        p = softmax(s) along the last dim, with dp_i/ds_j = p_i (δ_ij - p_j): every s_j of a row is used
            by every p_i of that row, so sum over i, by hand (no S × S Jacobian). Gives dL/ds (B, T, S).
            The causal mask needs no extra work: masked entries have p = 0.

        s = q @ k.T · scale (ex04's MatMul again, with a constant factor): gives dL/dq (B, T, d) and
            dL/dk (B, S, d).

        (".T" means transposing the last two dimensions.) causal is a python bool: return None for it.
        """
        q, k, v, p = ctx.saved_tensors
        scale = ctx.scale
        # TODO: return (dL/dq, dL/dk, dL/dv, None)
        # BEGIN SOLUTION
        g = grad_output
        grad_v = p.transpose(-2, -1) @ g
        grad_p = g @ v.transpose(-2, -1)
        grad_s = p * (grad_p - (grad_p * p).sum(dim=-1, keepdim=True))
        grad_q = grad_s @ k * scale
        grad_k = grad_s.transpose(-2, -1) @ q * scale
        return grad_q, grad_k, grad_v, None
        # END SOLUTION
