"""Exercise 6: loss functions.

A loss turns the network's output into one number, L. Its backward is where backpropagation starts: the
grad_output it receives is a 0-dimensional tensor (dL/dL = 1 when the loss is the last step, but the grader
uses other values, so multiply by it).

MSELoss is the mean squared error; LogSoftmax turns scores into log-probabilities; SoftmaxCrossEntropy is
the classification loss ``F.cross_entropy``: log-softmax, then the mean negative log-probability of the
correct class. The class labels are integers and get ``None`` as their gradient. The README works the
method through on log-sum-exp, a piece of the last two.

Do not call autograd inside backward: work the derivatives out by hand.
"""

import torch


class MSELoss(torch.autograd.Function):
    """L = mean((pred - target)²), over all K entries; pred and target have the same shape"""

    @staticmethod
    def forward(ctx, pred, target):
        diff = pred - target
        ctx.save_for_backward(diff)
        return (diff ** 2).mean()

    @staticmethod
    def backward(ctx, grad_output):
        """Write d = pred - target (saved as diff) and K = the number of entries. L = (1/K) Σ_i d_i²:

            d_i = pred_i - target_i      dd_i/dpred_i = 1,  dd_i/dtarget_i = -1
            s_i = d_i²                   ds_i/dd_i = 2 d_i
            L = (1/K) Σ_i s_i            dL/ds_i = 1/K

        grad_output is a 0-dimensional tensor; both gradients have the shape of pred.
        """
        diff, = ctx.saved_tensors
        # TODO: return (dL/dpred, dL/dtarget)
        # BEGIN SOLUTION
        grad_pred = grad_output * 2 * diff / diff.numel()
        grad_target = -grad_pred
        return grad_pred, grad_target
        # END SOLUTION


class LogSoftmax(torch.autograd.Function):
    """y = x - log Σ_j exp(x_j), along dimension dim"""

    @staticmethod
    def forward(ctx, x, dim):
        shifted = x - x.amax(dim=dim, keepdim=True)          # the same y, without overflow in exp
        y = shifted - shifted.exp().sum(dim=dim, keepdim=True).log()
        ctx.save_for_backward(y)
        ctx.dim = dim
        return y

    @staticmethod
    def backward(ctx, grad_output):
        """Along dim, y_i = x_i - z with z = log Σ_j exp(x_j), and dz/dx_k = p_k, the softmax
        (p = exp(y), from the saved y).

        x_k reaches the output directly (into y_k only) and through z, which every y_i of the row uses
        (dy_i/dz = -1): add both paths. Sums along dim need keepdim=True to broadcast back.
        dim is a python int: return None for it.
        """
        y, = ctx.saved_tensors
        dim = ctx.dim
        # TODO: return (dL/dx, None)
        # BEGIN SOLUTION
        p = y.exp()
        grad_x = grad_output - p * grad_output.sum(dim=dim, keepdim=True)
        return grad_x, None
        # END SOLUTION


class SoftmaxCrossEntropy(torch.autograd.Function):
    """L = -(1/N) Σ_n log softmax(logits[n])[target[n]]: logits (N, C), target (N,) int64 class indices"""

    @staticmethod
    def forward(ctx, logits, target):
        shifted = logits - logits.amax(dim=1, keepdim=True)
        log_probs = shifted - shifted.exp().sum(dim=1, keepdim=True).log()
        ctx.save_for_backward(log_probs, target)
        return -log_probs[torch.arange(logits.shape[0]), target].mean()

    @staticmethod
    def backward(ctx, grad_output):
        """For one row, with t = target[n] and p = softmax(logits[n]):

            L_n = -log p_t = -logits[n, t] + log Σ_c exp(logits[n, c])

        The first term has derivative -1 for class t and 0 for the others; the second is log-sum-exp,
        whose derivative is p. L is the mean over the N rows; the gradient has the shape (N, C).
        The softmax is the exponential of the saved log_probs. target holds integer labels: return None
        for it.
        """
        log_probs, target = ctx.saved_tensors
        # TODO: return (dL/dlogits, None)
        # BEGIN SOLUTION
        n = log_probs.shape[0]
        delta = log_probs.exp()
        delta[torch.arange(n), target] -= 1
        grad_logits = grad_output * delta / n
        return grad_logits, None
        # END SOLUTION
