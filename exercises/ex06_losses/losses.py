"""Exercise 6: loss functions.

A loss turns the network's output into one number, L. Its backward is where backpropagation starts: the
grad_output it receives is a 0-dimensional tensor (dL/dL = 1 when the loss is the last step, but the grader
uses other values, so multiply by it).

MSELoss is the mean squared error; LogSoftmax turns scores into log-probabilities; SoftmaxCrossEntropy is
the classification loss ``F.cross_entropy``: log-softmax, then the mean negative log-probability of the
correct class. The class labels are integers and get ``None`` as their gradient.

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
        """Write d = pred - target and K = the number of entries. L = (1/K) Σ_i d_i², so

            dL/dd_i = 2 d_i / K,    dd_i/dpred_i = 1,    dd_i/dtarget_i = -1

            dL/dpred   =  grad_output · 2 (pred - target) / K
            dL/dtarget = -grad_output · 2 (pred - target) / K

        grad_output is a 0-dimensional tensor; both gradients have the shape of pred.
        """
        diff, = ctx.saved_tensors
        # TODO: return (dL/dpred, dL/dtarget)
        raise NotImplementedError('TODO: return (dL/dpred, dL/dtarget)')


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
        """Along dim, y_i = x_i - log Σ_j exp(x_j). With the softmax p_i = exp(y_i) = exp(x_i) / Σ_j exp(x_j):

            dy_i/dx_k = δ_ik - exp(x_k) / Σ_j exp(x_j) = δ_ik - p_k

        Each x_k influences every y_i (through the log-sum), so sum over i, with g = grad_output:

            dL/dx_k = Σ_i g_i (δ_ik - p_k) = g_k - p_k · Σ_i g_i

        The sum over i runs along dim (keepdim=True, so it broadcasts back). p = y.exp() from the saved y.
        dim is a python int: return None for it.
        """
        y, = ctx.saved_tensors
        dim = ctx.dim
        # TODO: return (dL/dx, None), with dL/dx = g - softmax · (sum of g along dim)
        raise NotImplementedError('TODO: return (dL/dx, None), with dL/dx = g - softmax · (sum of g along dim)')


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

            dL_n/dlogits[n, c] = p_c - [c = t]        (softmax minus the one-hot of the target)

        L is the mean over the N rows, so

            dL/dlogits = grad_output · (softmax(logits) - onehot(target)) / N         (N, C)

        target holds integer labels: return None for it.
        """
        log_probs, target = ctx.saved_tensors
        # TODO: return (dL/dlogits, None)
        raise NotImplementedError('TODO: return (dL/dlogits, None)')
