"""The trusted source scan for autograd inside a backward (the static half of ``forbidden_api``)."""

from __future__ import annotations

import textwrap

import pytest

from grader.policy import forbidden_calls


def _module(backward: str, extra: str = "", imports: str = "import torch") -> str:
    body = textwrap.indent(textwrap.dedent(backward).strip("\n"), " " * 8)
    return f"""{imports}
{textwrap.dedent(extra)}

class Other(torch.autograd.Function):
    @staticmethod
    def backward(ctx, g):
        return g


class Target(torch.autograd.Function):
    @staticmethod
    def forward(ctx, x):
        with torch.enable_grad():
            return x * 2

    @staticmethod
    def backward(ctx, grad_output):
{body}
"""


@pytest.mark.parametrize(("backward", "imports", "flagged"), [
    ("return torch.autograd.grad(y, x, grad_output)", "import torch", "torch.autograd.grad"),
    ("torch.autograd.backward([y], [grad_output])", "import torch", "torch.autograd.backward"),
    ("y.backward(grad_output)", "import torch", "y.backward() runs the autograd engine"),
    ("(x * 2).sum().backward()", "import torch", "backward() runs the autograd engine"),
    ("with torch.enable_grad():\n    pass", "import torch", "torch.enable_grad"),
    ("with torch.set_grad_enabled(True):\n    pass", "import torch", "torch.set_grad_enabled"),
    ("return torch.func.vjp(f, x)[1](grad_output)", "import torch", "torch.func.vjp"),
    ("return torch.autograd.functional.vjp(f, x, grad_output)", "import torch", "torch.autograd.functional.vjp"),
    ("return ag.grad(y, x)", "import torch\nimport torch.autograd as ag", "ag.grad"),
    ("return engine.grad(y, x)", "import torch\nfrom torch import autograd as engine", "engine.grad"),
    ("with t.enable_grad():\n    pass", "import torch\nimport torch as t", "t.enable_grad"),
    ("return g(y, x, grad_output)", "import torch\nfrom torch.autograd import grad as g", "g (imported from torch)"),
    ("return vjp(f, x)", "import torch\nfrom torch.func import vjp", "vjp (imported from torch)"),
    ("return functorch.grad(f)(x)", "import torch\nimport functorch", "functorch.grad"),
])
def test_autograd_in_backward_is_flagged_with_its_line(backward, imports, flagged):
    source = _module(backward, imports=imports)
    first_line = source.splitlines().index("    def backward(ctx, grad_output):") + 2
    found = forbidden_calls(source, "Target")
    assert len(found) == 1 and found[0].startswith(f"line {first_line}: {flagged}"), found


def test_one_finding_per_line_keeps_the_longest_name():
    found = forbidden_calls(_module("return torch.func.vjp(f, x)"), "Target")
    assert len(found) == 1 and "torch.func.vjp" in found[0]


def test_helpers_called_by_backward_are_scanned_transitively():
    extra = """
    def outer(y, x, g):
        return inner(y, x, g)


    def inner(y, x, g):
        return torch.autograd.grad(y, x, g)


    def unused(y, x):
        return torch.autograd.grad(y, x)
    """
    source = _module("return outer(y, x, grad_output)", extra=extra)
    found = forbidden_calls(source, "Target")
    assert len(found) == 1
    assert found[0].startswith(f"line {source.splitlines().index('    return torch.autograd.grad(y, x, g)') + 1}:")


@pytest.mark.parametrize("backward", [
    "return grad_output * 2",
    "with torch.no_grad():\n    return grad_output * 2",
    "with torch.set_grad_enabled(False):\n    return grad_output * 2",
    "with torch.set_grad_enabled(mode=False):\n    return grad_output * 2",
    "return Other.backward(ctx, grad_output) * 2",   # reusing your own backward is the chain rule
    "grad = grad_output * 2\nreturn grad",           # a variable called grad is fine
    "return torch.autograd.Function.apply",           # naming the class is not calling autograd
])
def test_ordinary_backward_code_is_not_flagged(backward):
    assert forbidden_calls(_module(backward), "Target") == []


def test_forward_and_other_classes_are_not_scanned():
    source = _module("return grad_output * 2")
    assert "enable_grad" in source  # in Target.forward, which is given and may do what it likes
    assert forbidden_calls(source, "Target") == []


def test_unparsable_source_or_missing_class_finds_nothing():
    assert forbidden_calls("def broken(:\n", "Target") == []
    assert forbidden_calls(_module("return torch.autograd.grad(y, x)"), "Missing") == []
