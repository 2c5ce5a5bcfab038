"""Every road to a gradient that is not the student's own chain rule (issue 9), as changes to a solution.

Each road names an exercise, the targets whose backward it replaces (the body that goes between the
solution's ``# BEGIN SOLUTION`` and ``# END SOLUTION``), and code it adds at the top of the module.
``tests/test_integrity.py`` builds each module from ``solutions/`` and grades it; ``python roads.py DIR``
writes them out as submissions to try by hand (``grade ex04 --submission DIR/engine_direct``). The roads
that need a whole module of their own are folders beside this file (``seccomp_i386``, ``symlink_escape``).
"""

from __future__ import annotations

import sys
from dataclasses import dataclass, field
from pathlib import Path


@dataclass(frozen=True)
class Road:
    name: str
    folder: str                     # the exercise under solutions/
    module: str
    bodies: dict[str, str]          # target -> its new backward body
    prefix: str = ""                # module-level code, before the solution's own
    what: str = ""
    extra: dict[str, str] = field(default_factory=dict)  # more module-level definitions, after the prefix
    forwards: dict[str, str] = field(default_factory=dict)  # target -> its new forward body (given code changed)


LINEAR = ("ex04_linear", "linear.py")
AUTOGRAD = """
leaves = [t.detach().requires_grad_() for t in (x, weight)] + [grad_output.new_zeros(weight.shape[0]).requires_grad_()]
with torch.enable_grad():
    y = leaves[0] @ leaves[1].T + leaves[2]
return tuple(grad(y, leaves, grad_output))
"""

GELU = "def _gelu(x):\n    return x * 0.5 * (1 + torch.erf(x / math.sqrt(2)))\n"
LAZY = '''Base = type(torch.zeros(1))


class Lazy(Base):
    """A placeholder gradient whose dtype, read by the grader after backward, runs autograd."""

    @property
    def dtype(self):
        job = self.job
        if job:
            self.job = None
            inputs, i, g = job
            leaves = [t.detach().requires_grad_() for t in inputs]
            Lazy.backward(leaves[0] @ leaves[1].T + leaves[2], g)
            self.copy_(leaves[i].grad)
        return torch.float64

    @property
    def shape(self):
        return ["x"]


def _later(inputs, i, g):
    out = torch.zeros_like(inputs[i]).as_subclass(Lazy)
    out.job = (inputs, i, g)
    return out
'''

ROADS = [
    Road("autograd_wrapped", *LINEAR, {"Linear": 'x, weight = ctx.saved_tensors\n'
                                                 'engine = importlib.import_module("torch.auto" + "grad")\n'
                                                 'grad = getattr(engine.grad, "__wrapped__", engine.grad)' + AUTOGRAD},
         prefix="import importlib\n", what="autograd by a computed module name, unwrapped"),
    Road("engine_direct", *LINEAR, {"Linear": """
x, weight = ctx.saved_tensors
leaves = [t.detach().requires_grad_() for t in (x, weight)] + [grad_output.new_zeros(weight.shape[0]).requires_grad_()]
torch._C._set_grad_enabled(True)
y = leaves[0] @ leaves[1].T + leaves[2]
torch._C._set_grad_enabled(False)
return tuple(torch._C._ImperativeEngine().run_backward((y,), (grad_output,), False, False, tuple(leaves), False, False))
"""}, what="the C++ autograd engine, called directly"),
    Road("watch_disabled", *LINEAR, {"Linear": "x, weight = ctx.saved_tensors\ngrad = torch.autograd.grad" + AUTOGRAD},
         prefix="""import sys
for _name, _module in list(sys.modules.items()):
    if _name.startswith("grader"):
        for _attr in ("AutogradWatch", "IntegrityWatch"):
            _cls = getattr(_module, _attr, None)
            if _cls is not None:
                _cls.__torch_dispatch__ = lambda self, func, types, args=(), kwargs=None: func(*args, **(kwargs or {}))
""", what="module-level code switches off the grader's watch, then autograd"),
    Road("jacobian_in_forward", *LINEAR, {"Linear": """
g = grad_output.reshape(-1)
return tuple((g @ j.reshape(g.numel(), -1)).reshape(j.shape[g.dim():]) for j in ctx.jac)
"""}, forwards={"Linear": """
ctx.save_for_backward(x, weight)
with torch.enable_grad():
    ctx.jac = jacobian(lambda a, w, b: a @ w.T + b, (x.detach(), weight.detach(), bias.detach()))
return x @ weight.T + bias
"""}, prefix="from torch.autograd.functional import jacobian\n",
         what="the Jacobian taken by autograd in forward (which a backward-only scan never reads), contracted in backward"),
    Road("forward_ad", *LINEAR, {"Linear": """
x, weight = ctx.saved_tensors
inputs = (x, weight, grad_output.new_zeros(weight.shape[0]))
grads = []
for i, t in enumerate(inputs):
    flat = torch.zeros(t.numel(), dtype=t.dtype)
    for k in range(t.numel()):
        basis = torch.zeros(t.numel(), dtype=t.dtype)
        basis[k] = 1.0
        with fwad.dual_level():
            args = list(inputs)
            args[i] = fwad.make_dual(t, basis.reshape(t.shape))
            y = args[0] @ args[1].T + args[2]
            flat[k] = (fwad.unpack_dual(y).tangent * grad_output).sum()
    grads.append(flat.reshape(t.shape))
return tuple(grads)
"""}, prefix="import torch.autograd.forward_ad as fwad\n", what="forward-mode AD, one basis direction at a time"),
    Road("finite_differences", *LINEAR, {"Linear": """
x, weight = ctx.saved_tensors
inputs = (x, weight, grad_output.new_zeros(weight.shape[0]))
h = 1e-6
grads = []
for i, t in enumerate(inputs):
    grad = torch.zeros_like(t).reshape(-1)
    for k in range(t.numel()):
        up, down = [a.clone() for a in inputs], [a.clone() for a in inputs]
        up[i].view(-1)[k] += h
        down[i].view(-1)[k] -= h
        grad[k] = ((_f(*up) - _f(*down)) / (2 * h) * grad_output).sum()
    grads.append(grad.reshape(t.shape))
return tuple(grads)
"""}, extra={"_f": "def _f(x, weight, bias):\n    return x @ weight.T + bias\n"},
         what="central differences of the forward, one element at a time"),
    Road("forged_encode", *LINEAR, {"Linear": "x, weight = ctx.saved_tensors\ngrad = torch.autograd.grad" + AUTOGRAD},
         prefix="""import sys
_server = sys.modules.get("grader.sandbox.server")
if _server is not None:
    _encode = _server.encode

    def _forged(header, arrays=None):
        for case in header.get("cases", []):
            case["forbidden"] = []
        return _encode(header, arrays)

    _server.encode = _forged
NONCE = __name__.rpartition("_")[2]
""", what="module-level code replaces the sandbox server's encoder to hide what it did"),
    Road("forged_pipe", *LINEAR, {"Linear": "return None, None, None"}, prefix="""for _fd in range(3, 64):
    try:
        with open(_fd, "wb", closefd=False) as _pipe:
            _pipe.write(b'{"nonce": "forged", "load": null, "cases": []}')
    except OSError:
        pass
""", what="a forged result written into every inherited pipe"),
    Road("zeros", *LINEAR, {"MatMul": "a, b = ctx.saved_tensors\nreturn torch.zeros_like(a), torch.zeros_like(b)",
                            "Linear": "x, weight = ctx.saved_tensors\n"
                                      "return torch.zeros_like(x), torch.zeros_like(weight), grad_output.new_zeros("
                                      "weight.shape[0])"},
         what="zeros of the right shape and dtype (linear in grad_output, too)"),
    Road("backward_kernel", "ex03_activations", "activations.py", {
        "GELU": "(x,) = ctx.saved_tensors\nreturn torch.ops.aten.gelu_backward(grad_output, x)",
        "Sigmoid": '(y,) = ctx.saved_tensors\nkernels = getattr(torch, "ops").aten\n'
                   'return getattr(kernels, "sigmoid_" + "backward")(grad_output, y)',
    }, what="PyTorch's own backward kernels, by name and by computed name"),
    Road("finite_differences_vectorised", "ex03_activations", "activations.py", {
        "GELU": "(x,) = ctx.saved_tensors\nh = 1e-5\n"
                "return grad_output * (_gelu(x + h) - _gelu(x - h)) / (2 * h)",
        "Tanh": "(y,) = ctx.saved_tensors\nx = torch.atanh(y)\nh = 1e-7\n"
                "return grad_output * (torch.tanh(x + h) - torch.tanh(x)) / h",
    }, extra={"_gelu": GELU},
         what="an element-wise derivative by differences of the whole tensor: two or one extra calls"),
    Road("unit_steps", *LINEAR, {"Linear": """
x, weight = ctx.saved_tensors
inputs = [x, weight, grad_output.new_zeros(weight.shape[0])]
base = _f(*inputs)
grads = []
for i, t in enumerate(inputs):
    grad = torch.zeros_like(t)
    for j in range(t.numel()):
        e = torch.zeros_like(t).view(-1)
        e[j] = 1.0
        moved = list(inputs)
        moved[i] = t + e.view(t.shape)
        grad.view(-1)[j] = ((_f(*moved) - base) * grad_output).sum()
    grads.append(grad)
return tuple(grads)
"""}, extra={"_f": "def _f(x, weight, bias):\n    return x @ weight.T + bias\n"},
         what="steps of 1.0 along each element: exact for a linear map, whatever the step"),
    Road("batched_steps", *LINEAR, {"Linear": """
x, weight = ctx.saved_tensors
inputs = [x, weight, grad_output.new_zeros(weight.shape[0])]
grads = []
for i, t in enumerate(inputs):
    n = t.numel()
    moved = list(inputs)
    moved[i] = t.unsqueeze(0) + torch.eye(n, dtype=t.dtype).view(n, *t.shape)
    diff = _f(*moved) - _f(*inputs)
    grads.append((diff * grad_output).reshape(n, -1).sum(1).view(t.shape))
return tuple(grads)
"""}, extra={"_f": "def _f(x, weight, bias):\n    return x @ weight.transpose(-1, -2) + bias.unsqueeze(-2)\n"},
         what="every unit step at once, as one batched evaluation"),
    Road("stacked_steps", "ex03_activations", "activations.py", {"GELU": """
(x,) = ctx.saved_tensors
h = 1e-6
flat = x.reshape(1, -1)
y = _gelu(torch.cat([flat + h, flat - h], 0))
return grad_output * ((y[0] - y[1]) / (2 * h)).view(x.shape)
"""}, extra={"_gelu": GELU}, what="both stepped copies in one tensor, one evaluation"),
    Road("richardson", "ex03_activations", "activations.py", {"GELU": """
(x,) = ctx.saved_tensors
h = 2e-3 * float(x.abs().max())
p1, m1, p2, m2 = _gelu(x + h), _gelu(x - h), _gelu(x + 2 * h), _gelu(x - 2 * h)
return grad_output * (4 * (p1 - m1) / (2 * h) - (p2 - m2) / (4 * h)) / 3
"""}, extra={"_gelu": GELU}, what="Richardson extrapolation with a large step"),
    Road("numpy_steps", "ex03_activations", "activations.py", {"GELU": """
(x,) = ctx.saved_tensors
h = 1e-6
up = _gelu(torch.from_numpy(x.numpy() + h))
down = _gelu(torch.from_numpy(x.numpy() - h))
return grad_output * torch.from_numpy((up.numpy() - down.numpy()) / (2 * h))
"""}, extra={"_gelu": GELU}, what="steps and the subtraction done in numpy, out of the dispatcher's sight"),
    Road("other_formula", "ex03_activations", "activations.py", {"GELU": """
(x,) = ctx.saved_tensors
h = 1e-7 * float(x.abs().max())
moved = (x + h) * torch.special.ndtr(x + h)
return grad_output * (moved - _gelu(x)) / h
"""}, extra={"_gelu": GELU}, what="a one-sided difference whose stepped side uses another formula than the forward"),
    Road("lazy_subclass", *LINEAR, {"Linear": """
x, weight = ctx.saved_tensors
inputs = [x, weight, grad_output.new_zeros(weight.shape[0])]
return tuple(_later(inputs, i, grad_output) for i in range(3))
"""}, extra={"Lazy": LAZY}, what="a Tensor subclass whose properties run autograd when the grader reads them"),
    Road("busy_then_steps", "ex03_activations", "activations.py", {"GELU": """
(x,) = ctx.saved_tensors
for _ in range(500):
    busy = x - grad_output
v = [_gelu(x + s * 1e-6) for s in (1.0, -1.0)]
return grad_output * (v[0] + v[1].neg()) / 2e-6
"""}, extra={"_gelu": GELU}, what="hundreds of idle operations first, then differences written as an addition"),
    Road("padded_step", "ex03_activations", "activations.py", {"GELU": """
(x,) = ctx.saved_tensors
n = x.numel()
flat = torch.cat([x.reshape(-1), x.new_zeros(1)])
step = 1e-6 * (1 + torch.arange(n + 1, dtype=x.dtype) / n)
step[-1] = 10.0
up, down = _gelu(flat + step)[:n], _gelu(flat - step)[:n]
return grad_output * ((up - down) / (2 * step[:n])).view(x.shape)
"""}, extra={"_gelu": GELU}, what="a step padded with one huge element to look large"),
    Road("table_at_import", "ex03_activations", "activations.py", {"GELU": """
(x,) = ctx.saved_tensors
index = ((x - GRID[0]) / (GRID[1] - GRID[0])).round().long().clamp(0, GRID.numel() - 1)
return grad_output * TABLE[index]
"""}, extra={"_gelu": GELU, "TABLE": """def _run(self):
    self.backward()


GRID = torch.arange(-12.0, 12.0, 1e-4, dtype=torch.float64).requires_grad_()
_run(_gelu(GRID).sum())
TABLE = GRID.grad
"""}, what="autograd run at import into a lookup table"),
    Road("basis_probe", *LINEAR, {"Linear": """
x, weight = ctx.saved_tensors
b0 = torch.zeros(weight.shape[0], dtype=x.dtype)
ex = torch.eye(x.numel(), dtype=x.dtype).reshape(-1, *x.shape)
ew = torch.eye(weight.numel(), dtype=x.dtype).reshape(-1, *weight.shape)
gx = torch.stack([(Linear.forward(ctx, e, weight, b0) * grad_output).sum() for e in ex]).reshape(x.shape)
gw = torch.stack([(Linear.forward(ctx, x, e, b0) * grad_output).sum() for e in ew]).reshape(weight.shape)
return gx, gw, grad_output.sum(0)
"""}, what="the forward fed one unit basis matrix at a time: its Jacobian read column by column"),
    Road("graph_node_called", *LINEAR, {"Linear": """
x, weight = ctx.saved_tensors
with torch.set_grad_enabled(True):
    leaves = [x.detach().requires_grad_(), weight.detach().requires_grad_()]
    y = leaves[0] @ leaves[1].T
gx, gw = y.grad_fn(grad_output)
return gx, gw.T, grad_output.sum(0)
"""}, what="a graph built with grad mode back on, its node called by hand: no engine and no kernel by name"),
    Road("complex_step", "ex02_elementwise", "elementwise.py", {
        "Exp": "(x,) = ctx.saved_tensors\nh = 1e-20\nreturn grad_output * torch.exp(x + 1j * h).imag / h",
        "Sin": "(x,) = ctx.saved_tensors\nh = 1e-20\n"
               "return grad_output * torch.sin(torch.complex(x, torch.full_like(x, h))).imag / h",
    }, what="the complex step Im f(x + ih) / h"),
]


def build(road: Road, solutions: Path) -> str:
    """The module of ``road``: the solution with each target's solution block replaced by its body."""
    source = (solutions / road.folder / road.module).read_text()
    for target, body in road.forwards.items():
        start = source.index("def forward(", source.index(f"class {target}("))
        first = source.index("\n", start) + 1
        stop = source.index("@staticmethod", first)
        stop = source.rindex("\n", 0, source.rindex("\n", 0, stop)) + 1  # keep the blank line before it
        text = "\n".join(" " * 8 + line if line else "" for line in body.strip("\n").splitlines())
        source = source[:first] + text + "\n" + source[stop:]
    for target, body in road.bodies.items():
        start = source.index(f"class {target}(")
        begin = source.index("# BEGIN SOLUTION", start)
        end = source.index("# END SOLUTION", begin)
        line_start = source.rindex("\n", 0, begin) + 1
        indent = " " * (begin - line_start)
        text = "\n".join(indent + line if line else "" for line in body.strip("\n").splitlines())
        source = source[:line_start] + text + "\n" + source[source.index("\n", end) + 1:]
    extra = "".join(f"\n{code}\n" for code in road.extra.values())
    head = f'"""Cheat ({road.name}): {road.what}."""\n\nimport math\nimport torch\n{road.prefix}{extra}\n'
    return head + source


def write_all(out: Path, solutions: Path) -> list[Path]:
    """Each road as a submission folder under ``out``."""
    written = []
    for road in ROADS:
        folder = out / road.name
        folder.mkdir(parents=True, exist_ok=True)
        (folder / road.module).write_text(build(road, solutions))
        written.append(folder)
    return written


if __name__ == "__main__":
    root = Path(__file__).resolve().parents[3]
    for path in write_all(Path(sys.argv[1]), root / "solutions"):
        print(path)
