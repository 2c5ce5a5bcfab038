"""The static half of the integrity policy: the whole module's source, read in the trusted process."""

from __future__ import annotations

import textwrap

import pytest

from grader.integrity.names import judge, names_a_backward
from grader.integrity.static import DEFAULT_IMPORTS, findings_for, reach, scan


def _module(backward: str, extra: str = "", imports: str = "import torch", forward: str = "return x * 2") -> str:
    body = textwrap.indent(textwrap.dedent(backward).strip("\n"), " " * 8)
    fwd = textwrap.indent(textwrap.dedent(forward).strip("\n"), " " * 8)
    return f"""{imports}
{textwrap.dedent(extra)}

class Other(torch.autograd.Function):
    @staticmethod
    def backward(ctx, g):
        return g

    @staticmethod
    def _scale(g):
        return g * 2


class Target(torch.autograd.Function):
    @staticmethod
    def forward(ctx, x):
{fwd}

    @staticmethod
    def backward(ctx, grad_output):
{body}
"""


def _found(source: str, target: str = "Target", **kwargs: object) -> tuple[str, ...]:
    return findings_for(source, target, **kwargs)  # type: ignore[arg-type]


# Each road around the chain rule, and the words the student reads for it.
ROADS = [
    ("return torch.autograd.grad(y, x, grad_output)", "import torch", "asks autograd"),
    ("torch.autograd.backward([y], [grad_output])", "import torch", "backward"),
    ("y.backward(grad_output)", "import torch", "calls a backward"),
    ("(x * 2).sum().backward()", "import torch", "calls a backward"),
    ("getattr(y, 'backward')()", "import torch", "calls a backward"),
    ("with torch.enable_grad():\n    pass", "import torch", "switches autograd back on"),
    ("with torch.set_grad_enabled(True):\n    pass", "import torch", "switch autograd back on"),
    ("return torch.func.vjp(f, x)[1](grad_output)", "import torch", "torch.func"),
    ("return torch.autograd.functional.vjp(f, x, grad_output)", "import torch", "asks autograd"),
    ("return ag.grad(y, x)", "import torch\nimport torch.autograd as ag", "asks autograd"),
    ("return engine.grad(y, x)", "import torch\nfrom torch import autograd as engine", "asks autograd"),
    ("return g(y, x, grad_output)", "import torch\nfrom torch.autograd import grad as g", "asks autograd"),
    ("return vjp(f, x)", "import torch\nfrom torch.func import vjp", "torch.func"),
    ("return functorch.grad(f)(x)", "import torch\nimport functorch", "functorch"),
    ("return F.torch.autograd.grad(y, x)", "import torch\nimport torch.nn.functional as F", "asks autograd"),
    ("t = torch\nreturn t.autograd.grad(y, x)", "import torch", "asks autograd"),
    ("return [torch][0].autograd.grad(y, x)", "import torch", "autograd"),
    ("return torch.ops.aten.gelu_backward(grad_output, x)", "import torch", "torch.ops"),
    ("return torch._C._ImperativeEngine().run_backward(y)", "import torch", "torch internals"),
    ("return torch.nn.grad.conv2d_input(s, w, grad_output)", "import torch", "backward of a convolution"),
    ("return torch._log_softmax_backward_data(g, y, 1, y.dtype)", "import torch", "torch internals"),
    ("return [torch][0].nn.grad.conv2d_weight(x, s, g)", "import torch", "backward of a convolution"),
    ("return torch.gradient(x)", "import torch", "numerically"),
    ("return torch.autograd.forward_ad.make_dual(x, g)", "import torch", "asks autograd"),
    ("return torch.utils.checkpoint.checkpoint(f, x)", "import torch", "checkpointing"),
    ("return torch.sys.modules['grader'].encode", "import torch", "sys"),
    ("import importlib\nm = importlib.import_module('torch.autograd')", "import torch", "importlib"),
    ("return __import__('torch').autograd", "import torch", "imports by name"),
    ("exec('x = 1')", "import torch", "runs code built at run time"),
    ("return eval('torch.autograd')", "import torch", "runs code built at run time"),
    ("name = 'auto' + 'grad'\nreturn getattr(torch, name).grad", "import torch", "computed attribute name"),
    ("fetch = getattr\nreturn fetch(torch, 'autograd')", "import torch", "computed attribute name"),
    ("return globals()['torch']", "import torch", "namespaces"),
    ("return grad_output.__class__.__subclasses__()", "import torch", "interpreter internals"),
    ("return f.__wrapped__", "import torch", "interpreter internals"),
    ("return ctx._forward_cls.backward(ctx, grad_output)", "import torch", "private internals"),
    ("return ctx._saved_self", "import torch", "private internals"),
    ("return x.grad_fn.next_functions", "import torch", "autograd graph"),
    ("return (i for i in ()).gi_frame.f_back.f_globals", "import torch", "frames"),
    ("return x.numpy().ctypes.data", "import torch", "ctypes"),
    ("open(5, 'wb').write(b'forged')", "import torch", "file descriptor"),
    ("open('/proc/self/fd/5', 'wb')", "import torch", "file descriptor"),
    ("torch.Tensor.to = lambda self, *a: self", "import torch", "changes torch"),
    ("setattr(torch, 'allclose', lambda *a: True)", "import torch", "changes torch"),
    ("import numpy as np\nreturn np.ones(1)", "import torch", "allowed imports (torch, math)"),
    ("from . import helpers", "import torch", "own folder"),
    ("return torch.load('x.pt')", "import torch", "unpickles"),
    ("h = 1e-5\nreturn grad_output * (f(x + h) - f(x - h)) / (2 * h)", "import torch", "finite differences"),
    ("return grad_output * (torch.exp(x + 1e-6) - torch.exp(x)) / 1e-6", "import torch", "finite differences"),
    ("return grad_output * torch.exp(x + 1j * 1e-20).imag / 1e-20", "import torch", "complex step"),
    ("return torch.sin(complex(0, 1e-20) + x)", "import torch", "complex step"),
    ("return torch.view_as_complex(y)", "import torch", "complex step"),
    ("up = f(x + h)\ndown = f(x - h)\nreturn (up - down) / (2 * h)", "import torch", "finite differences"),
    ("type(x).abs = lambda self: self\nreturn x", "import torch", "type()"),
    ("Base = type(x)\nreturn Base", "import torch", "type()"),
    ("[torch.Tensor][0].to = None", "import torch", "not your own"),
    ("return f(v + h) - f(v + -h)", "import torch\nh = 1e-6", "step apart"),
    ("return sum(s * f(v + s * h) for s in (1, -1))", "import torch\nh = 1e-6", "step apart"),
    ("return f(v * 1.000001) - f(v * 0.999999)", "import torch", "step apart"),
    ("return at(v, 1e-6) - at(v, -1e-6)", "import torch", "step apart"),
    ("ctx.h = 1e-6\nups = [f(v + ctx.h) for v in xs]\nreturn [u - f(v) for u, v in zip(ups, xs)]", "import torch",
     "step apart"),
    ("def patch(cls):\n    cls.abs = None\npatch(torch.Tensor)", "import torch", "hands a torch class"),
    ("return x.as_subclass(torch.Tensor)", "import torch", "as_subclass"),
    ("out = x.clone()\nout.apply_(abs)\nreturn out", "import torch", "element by element"),
    ("return typing.get_type_hints(f)", "import torch\nimport typing", "evaluates code"),
    ("return ctx._observe", "import torch", "private internals"),
]


@pytest.mark.parametrize(("backward", "imports", "why"), ROADS, ids=[r[0][:40] for r in ROADS])
def test_each_road_is_flagged_with_its_line_and_reason(backward: str, imports: str, why: str) -> None:
    source = _module(backward, imports=imports)
    first_line = source.splitlines().index("    def backward(ctx, grad_output):") + 2
    found = _found(source)
    assert found, backward
    assert any(why in f for f in found), found
    lines = {int(f.split(":")[0].split()[1]) for f in found}
    assert lines & set(range(1, first_line + 4)), found


@pytest.mark.parametrize("backward", [
    "return grad_output * 2",
    "with torch.no_grad():\n    return grad_output * 2",
    "with torch.set_grad_enabled(False):\n    return grad_output * 2",
    "with torch.set_grad_enabled(mode=False):\n    return grad_output * 2",
    "return Other.backward(ctx, grad_output) * 2",   # reusing your own backward is the chain rule
    "grad = grad_output * 2\nreturn grad",           # a variable called grad is fine
    "return torch.einsum('ij,jk->ik', grad_output, x)",
    "return torch.where(x > 0, grad_output, torch.zeros_like(grad_output))",
    "out = torch.zeros_like(x)\nout.index_add_(0, idx, grad_output)\nreturn out",
    "return torch.zeros(3).scatter_add_(0, idx, grad_output)",
    "return torch.zeros(3).index_put_((idx,), grad_output, accumulate=True)",
    "return grad_output.sum_to_size(x.shape)",
    "return F.one_hot(idx, 3).double() * grad_output",
    "return F.conv_transpose2d(grad_output, w, stride=2)",
    "return F.fold(F.unfold(x, 2), (4, 4), 2)",
    "out = []\nfor i in range(3):\n    out.append(grad_output[i] * 2)\nreturn torch.stack(out)",
    "if ctx.needs_input_grad[0]:\n    return grad_output.expand(3, 4).t()\nreturn None",
    "ctx._shape = x.shape\nreturn grad_output.reshape(ctx._shape)",
    "x, = ctx.saved_tensors\nreturn grad_output * torch.sigmoid(x) * (1 - torch.sigmoid(x))",
    "n = math.prod(x.shape)\nreturn grad_output / math.sqrt(n)",
    "print('debug', grad_output.shape, type(x).__name__)\nreturn grad_output",
    "with open('debug.log', 'a') as log:\n    log.write(str(grad_output.shape))\nreturn grad_output",
    "return torch.autograd.Function.apply",
    "return grad_output.new_zeros(3).T.contiguous().mT",
    "return grad_output.clone().masked_fill_(x < 0, 0.0)",
    "return torch.linalg.solve(x, grad_output)",
    "ctx.masked = x <= 0\nctx.classes = 3\nreturn grad_output.masked_fill(ctx.masked, 0.0) * ctx.classes",
    "ctx._size = x.shape\nctx._indices = 1\nctx._saved_numel = 2\nreturn grad_output.reshape(ctx._size)",
    "print(type(x).__name__, type(x) is torch.Tensor)\nreturn grad_output",
    "return Other._scale(grad_output)",
    "layer = Layer()\nlayer.func = abs\nlayer.gradient = 2\nreturn layer.backward(grad_output)",
    "with open(LOG, 'a') as log:\n    log.write('x')\nreturn grad_output",
    "return grad_output * torch.distributions.Normal(0.0, 1.0).cdf(x)",
    "y = a / (b + 1e-8)\nreturn -grad_output * y / b",
    "n = torch.arange(k + 1)\nm = torch.arange(k)\nreturn grad_output[n[:-1]] * m",
    "return torch.log(x + 1e-12) * grad_output",
    "p = torch.exp(y)\np2 = torch.exp(y + y)\nreturn grad_output * (p2 - p)",
    "return grad_output * (torch.sigmoid(x) - torch.sigmoid(x) ** 2)",
    "return grad_output * (F.softplus(x) - F.softplus(-x))",
    "m = x.amax()\nreturn torch.exp(x - m) - torch.exp(y - m)",
    "return grad_output * (x + 2) - (x - 2) * grad_output",
])
def test_ordinary_tensor_code_is_not_flagged(backward: str) -> None:
    imports = ("from __future__ import annotations\nimport math\nfrom typing import Any\nimport torch\n"
               "import torch.nn.functional as F\nfrom torch.autograd import Function\n"
               "from torch.autograd.function import once_differentiable\n"
               "__all__ = ['Target']\n__author__ = 'a student'\nLOG = 'debug.log'\n")
    extra = """
    class Layer:
        __slots__ = ("func", "gradient")

        def backward(self, g):
            return g * self.gradient


    if __name__ == "__main__":
        x = torch.randn(3, requires_grad=True)
        torch.autograd.gradcheck(Target.apply, (x,))
        Target.apply(x).sum().backward()
    """
    assert _found(_module(backward, extra=extra, imports=imports)) == ()


def test_the_given_forwards_solutions_and_stubs_pass(tmp_path: object) -> None:
    from grader.spec import load_course, load_exercise
    from grader.uses import allowed_imports
    from tests.helpers import ROOT

    course = load_course(ROOT)
    for folder in ("solutions", "exercises"):
        for path in sorted((ROOT / folder).glob("ex*/*.py")):
            own = allowed_imports(load_exercise(course, path.parent.name))  # the capstone imports earlier modules
            assert scan(path.read_text(), (*DEFAULT_IMPORTS, *own), own=own) == (), path


def test_forward_class_bodies_and_module_level_code_are_read_too() -> None:
    in_forward = _module("return grad_output", forward="with torch.enable_grad():\n    return x * 2")
    assert any("switches autograd back on" in f for f in _found(in_forward))
    at_module = _module("return grad_output", extra="import sys\nsys.modules.clear()\n")
    assert any("import sys" in f for f in _found(at_module))
    assert any("import sys" in f for f in _found(at_module, "Other"))  # module level runs for every target


def test_a_finding_counts_for_the_targets_that_reach_it() -> None:
    extra = """
    def outer(y, x, g):
        return inner(y, x, g)


    def inner(y, x, g):
        return torch.autograd.grad(y, x, g)


    def unused(y, x):
        return torch.autograd.grad(y, x)
    """
    source = _module("return outer(y, x, grad_output)", extra=extra)
    found = _found(source)
    assert len(found) == 1
    assert found[0].startswith(f"line {source.splitlines().index('    return torch.autograd.grad(y, x, g)') + 1}:")
    assert _found(source, "Other") == ()  # Other reaches neither helper
    assert reach(source, "Target") == {None, "Target", "outer", "inner"}


def test_the_course_allow_list_and_the_exercise_forbid_list() -> None:
    source = _module("return np.ones(3) * grad_output", imports="import torch\nimport numpy as np")
    assert _found(source) and _found(source, imports=("torch", "math", "numpy")) == ()
    conv = _module("return F.conv_transpose2d(grad_output, w)", imports="import torch\nimport torch.nn.functional as F")
    assert _found(conv) == ()
    for entry in ("torch.nn.functional.conv_transpose2d", "torch.conv_transpose2d"):  # one object, two names
        found = _found(conv, forbid=(entry,))
        assert len(found) == 1 and "forbid list" in found[0], entry


def test_the_student_s_own_helper_modules_are_read_by_the_same_rules() -> None:
    source = _module("return helper(grad_output)", imports="import torch\nfrom linear_helpers import helper")
    honest = {"linear_helpers.py": b"def helper(g):\n    return g * 2\n"}
    sneaky = {"linear_helpers.py": b"import torch\ndef helper(g):\n    return torch.autograd.grad(g, g)\n"}
    assert _found(source) != ()  # an unknown module is not on the allow-list
    assert _found(source, siblings=honest) == ()
    assert any(f.startswith("linear_helpers.py line 3:") for f in _found(source, siblings=sneaky))


def test_hooks_metaclasses_and_tensor_subclasses_are_flagged() -> None:
    extra = """
    class Sneaky(torch.Tensor):
        @classmethod
        def __torch_function__(cls, func, types, args=(), kwargs=None):
            return super().__torch_function__(func, types, args, kwargs)


    class Meta(type):
        pass


    def __getattr__(name):
        return name
    """
    found = " ".join(_found(_module("return Sneaky(grad_output), Meta", extra=extra)))
    assert "subclasses torch.Tensor" in found and "__torch_function__" in found
    assert "subclasses type" in found and "def __getattr__" in found


def test_names_are_judged_through_the_live_torch() -> None:
    assert judge("torch.nn.functional.linear") == ""
    assert judge("torch.autograd.Function") == "" and judge("torch.autograd.function.once_differentiable") == ""
    assert "asks autograd" in judge("torch.autograd.grad")
    assert judge("torch.nn.functional.torch.autograd.grad") == judge("torch.autograd.grad")
    assert "torch.jit" in judge("torch.jit.script")
    assert names_a_backward("gelu_backward") and names_a_backward("_log_softmax_backward_data")
    assert not names_a_backward("save_for_backward") and not names_a_backward("backwards_compatible")


def test_unparsable_source_finds_nothing() -> None:
    assert _found("def broken(:\n") == ()
