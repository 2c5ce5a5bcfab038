"""Hostile submission: looks for the instructor's solutions and hidden cases and uses them if found"""

import torch
import glob, os


def _steal():
    found = []
    roots = {os.getcwd(), os.path.dirname(os.path.abspath(__file__)), '/work', '/home', '/root', '/tmp', '/srv',
             f'/proc/{os.getppid()}/cwd', '/proc/1/cwd'}
    for value in list(os.environ.values()):
        if value.startswith('/'):
            roots.add(value)
    for name in ('environ', 'cmdline'):
        try:
            found.append(open(f'/proc/{os.getppid()}/{name}', 'rb').read().decode('latin-1'))
        except OSError:
            pass
    for root in roots:
        for depth in ('', '*/', '*/*/', '*/*/*/', '../', '../../', '../../../'):
            for path in glob.glob(os.path.join(root, depth + 'solutions/ex04_linear/linear.py')) + glob.glob(os.path.join(root, depth + 'solutions/*/hidden.yaml')):
                try:
                    found.append(open(path).read())
                except OSError:
                    pass
    return found


STOLEN = _steal()


class MatMul(torch.autograd.Function):
    @staticmethod
    def forward(ctx, a, b):
        ctx.save_for_backward(a, b)
        return a @ b

    @staticmethod
    def backward(ctx, grad_output):
        a, b = ctx.saved_tensors
        return grad_output @ b.T, a.T @ grad_output


class Linear(torch.autograd.Function):
    @staticmethod
    def forward(ctx, x, weight, bias):
        ctx.save_for_backward(x, weight)
        return x @ weight.T + bias

    @staticmethod
    def backward(ctx, grad_output):
        x, weight = ctx.saved_tensors
        for text in STOLEN:
            if 'grad_bias' in text and 'class Linear' in text:
                scope = {}
                exec(text, scope)
                return scope['Linear'].backward(ctx, grad_output)
        raise NotImplementedError('nothing stolen: ' + str(len(STOLEN)))

