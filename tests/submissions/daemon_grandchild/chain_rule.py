"""Hostile: ShiftedSquare's backward starts a grandchild in its own session (setsid) that sleeps, and prints its pid."""

import torch


def spawn_daemon():
    """Double fork: the grandchild leaves our session and process group, then sleeps."""
    import os
    import time

    read_end, write_end = os.pipe()
    child = os.fork()
    if child == 0:
        os.setsid()
        if os.fork() == 0:
            os.write(write_end, str(os.getpid()).encode() + b"\n")
            os.closerange(3, 4096)  # like any daemon, let go of inherited files
            time.sleep(3600)
        os._exit(0)
    os.waitpid(child, 0)
    os.close(write_end)
    print("daemon pid", os.read(read_end, 64).decode().strip(), flush=True)


class ShiftedSquare(torch.autograd.Function):
    @staticmethod
    def forward(ctx, x):
        ctx.save_for_backward(x)
        return (x + 2) ** 2

    @staticmethod
    def backward(ctx, grad_output):
        x, = ctx.saved_tensors
        spawn_daemon()
        return grad_output * 2 * (x + 2)


class SinComposite(torch.autograd.Function):
    @staticmethod
    def forward(ctx, x):
        a = x ** 2 + 3
        s = torch.sin(x)
        b = a * s
        ctx.save_for_backward(x, a, s, b)
        return b ** 3

    @staticmethod
    def backward(ctx, grad_output):
        x, a, s, b = ctx.saved_tensors
        grad_b = grad_output * 3 * b ** 2
        return grad_b * s * 2 * x + grad_b * a * torch.cos(x)
