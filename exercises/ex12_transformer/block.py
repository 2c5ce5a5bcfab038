"""Exercise 12 (capstone): a transformer block, built from your own ops.

A pre-norm transformer block, as in GPT-2, written with the Functions you have already backpropagated:

    h = LayerNorm(x)                      (B, T, d)      ex08, ln1_weight and ln1_bias
    q, k, v = h @ w_q, h @ w_k, h @ w_v   (B, T, dk), (B, T, dk), (B, T, dv)     ex04's MatMul, three times
    a = attention(q, k, v, causal)        (B, T, dv)     ex10
    y = x + a @ w_o                       (B, T, d)      ex04's MatMul, then the first residual
    n = LayerNorm(y)                      (B, T, d)      ex08, ln2_weight and ln2_bias
    z = y + TwoLayerMLP(n)                (B, T, d)      ex07, then the second residual

The forward is given: it calls each op's own ``forward`` with a small context of its own (``Step``) and keeps
the contexts on ``ctx``. MatMul and TwoLayerMLP take 2-d inputs, so their inputs are flattened from (B, T, ·)
to (B·T, ·) rows and their outputs reshaped back.

Your backward calls the ops' own ``backward``, each with its ``Step``, in the reverse order. The new part is
the fan-out: x, h and y are each used more than once, and a tensor used twice gets the sum of the gradients
of its uses. The README works this through.

The ops are imported from your modules of the earlier exercises. Where one of them is wrong or missing, the
grader runs the capstone with the reference op in its place and tells you so.

Do not call autograd inside backward: chain the ops' backwards by hand.
"""

import torch
from attention import ScaledDotProductAttention
from linear import MatMul
from mlp import TwoLayerMLP
from normalization import LayerNorm

EPS = 1e-5
"""The eps of both LayerNorms."""


class Step:
    """The context of one op inside the block: what ``ctx`` is for a Function called through ``apply``."""

    def save_for_backward(self, *tensors):
        self.saved_tensors = tensors


class TransformerBlock(torch.autograd.Function):
    """z = y + MLP(LN2(y)) with y = x + attention(LN1(x) @ w_q, LN1(x) @ w_k, LN1(x) @ w_v) @ w_o.

    x (B, T, d); ln1_weight, ln1_bias, ln2_weight, ln2_bias (d,); w_q, w_k (d, dk); w_v (d, dv);
    w_o (dv, d); w1 (hidden, d), b1 (hidden,), w2 (d, hidden), b2 (d,); z (B, T, d). Causal attention.
    """

    @staticmethod
    def forward(ctx, x, ln1_weight, ln1_bias, w_q, w_k, w_v, w_o, ln2_weight, ln2_bias, w1, b1, w2, b2):
        batch, t, d = x.shape
        ln1, mq, mk, mv, attn, mo, ln2, mlp = (Step() for _ in range(8))
        h = LayerNorm.forward(ln1, x, ln1_weight, ln1_bias, EPS)
        rows = h.reshape(batch * t, d)
        q = MatMul.forward(mq, rows, w_q).reshape(batch, t, -1)
        k = MatMul.forward(mk, rows, w_k).reshape(batch, t, -1)
        v = MatMul.forward(mv, rows, w_v).reshape(batch, t, -1)
        a = ScaledDotProductAttention.forward(attn, q, k, v, True)
        y = x + MatMul.forward(mo, a.reshape(batch * t, -1), w_o).reshape(batch, t, d)
        n = LayerNorm.forward(ln2, y, ln2_weight, ln2_bias, EPS)
        z = y + TwoLayerMLP.forward(mlp, n.reshape(batch * t, d), w1, b1, w2, b2).reshape(batch, t, d)
        ctx.steps = (ln1, mq, mk, mv, attn, mo, ln2, mlp)
        ctx.sizes = (batch, t, d)
        return z

    @staticmethod
    def backward(ctx, grad_output):
        """Walk the six lines of the forward from the bottom up, from grad_output = dL/dz (B, T, d).

        Each op's backward takes its own Step and the gradient of its output, shaped as its output was (the
        flattened rows for MatMul and TwoLayerMLP), and returns the gradients of its inputs in the order of its
        forward's arguments (None for eps and causal).

        Fan-out: y is used by the residual and by LN2, h by the three MatMuls, x by LN1 and the residual.
        Each of them gets the sum of the gradients of its uses, and only that sum flows on.

        Return the 13 gradients in the order of the forward's arguments:
        (x, ln1_weight, ln1_bias, w_q, w_k, w_v, w_o, ln2_weight, ln2_bias, w1, b1, w2, b2).
        """
        ln1, mq, mk, mv, attn, mo, ln2, mlp = ctx.steps
        batch, t, d = ctx.sizes
        # TODO: return the 13 gradients, in the order of the forward's arguments
        raise NotImplementedError("TODO: return the 13 gradients, in the order of the forward's arguments")
