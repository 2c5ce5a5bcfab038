"""Exercise 11: embeddings and a recurrent cell.

Embedding looks up rows of a table: y[..., :] = weight[indices[...], :]. It is how a model turns token ids
into vectors. The indices are integers and get ``None``; the table's gradient is a scatter-add, because the
same row can be looked up several times.

RNNCell is one step of a vanilla recurrent network: the new hidden state from the input and the previous
hidden state, h' = tanh(x @ w_ih.T + h @ w_hh.T + b). Unrolled over a sequence, backpropagation through
time calls this backward once per step.

Do not call autograd inside backward: work the derivatives out by hand.
"""

import torch


class Embedding(torch.autograd.Function):
    """y = weight[indices]: indices int64 of any shape with entries in [0, V), weight (V, D), y (*indices.shape, D)"""

    @staticmethod
    def forward(ctx, indices, weight):
        ctx.save_for_backward(indices)
        ctx.weight_shape = weight.shape
        ctx.weight_dtype = weight.dtype
        return weight[indices]

    @staticmethod
    def backward(ctx, grad_output):
        """y[a, :] = weight[indices[a], :] for every position a of indices, so

            dy[a, :]/dweight[r, :] = 1 if indices[a] = r, else 0

        Row r of the table collects grad_output from every position that looked it up. Rows never looked
        up get 0; rows looked up several times get the sum (not just one of them): indexed assignment keeps
        only one. indices are integers: return None for them.
        """
        indices, = ctx.saved_tensors
        weight_shape, weight_dtype = ctx.weight_shape, ctx.weight_dtype
        # TODO: return (None, dL/dweight), adding up the rows of repeated indices
        raise NotImplementedError('TODO: return (None, dL/dweight), adding up the rows of repeated indices')


class RNNCell(torch.autograd.Function):
    """h_new = tanh(x @ w_ih.T + h @ w_hh.T + b): x (N, I), h (N, H), w_ih (H, I), w_hh (H, H), b (H,)"""

    @staticmethod
    def forward(ctx, x, h, w_ih, w_hh, b):
        h_new = torch.tanh(x @ w_ih.T + h @ w_hh.T + b)
        ctx.save_for_backward(x, h, w_ih, w_hh, h_new)
        return h_new

    @staticmethod
    def backward(ctx, grad_output):
        """Write a = x @ w_ih.T + h @ w_hh.T + b (N, H), so h_new = tanh(a). First through the tanh (ex03),
        with the saved output h_new: that gives dL/da (N, H).

        Then a is two Linear layers and a bias summed into one output (ex04): each term gets dL/da
        unchanged. The shapes: x (N, I), h (N, H), w_ih (H, I), w_hh (H, H), b (H,). w_hh is square, so
        its shape cannot tell it from its transpose: derive it from the entries.

        Return the five gradients in the order of the forward's arguments: (x, h, w_ih, w_hh, b).
        """
        x, h, w_ih, w_hh, h_new = ctx.saved_tensors
        # TODO: return (dL/dx, dL/dh, dL/dw_ih, dL/dw_hh, dL/db)
        raise NotImplementedError('TODO: return (dL/dx, dL/dh, dL/dw_ih, dL/dw_hh, dL/db)')
