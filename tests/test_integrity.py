"""Integrity: full marks only for a chain rule the student wrote, whatever road a cheat takes.

Each road of issue 9 is in tests/submissions/cheats/: most as changes to a solution (``roads.py``, built
here), the rest as folders. The backward kernels and the honest alternatives are generated the same way.
Every cheat is checked twice: as graded (both layers), and with the static scan switched off, to show that
the child's watch alone still sees what ran.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path

import pytest

import grader.grading
from grader.results import Report
from tests.helpers import ROOT, SUBMISSIONS
from tests.submissions.cheats.roads import Road, build, write_all

CHEATS = SUBMISSIONS / "cheats"
SOLUTIONS = ROOT / "solutions"


@pytest.fixture(scope="module")
def built(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Every road of roads.py as a submission folder."""
    out = tmp_path_factory.mktemp("cheats")
    write_all(out, SOLUTIONS)
    return out


def _cheat(built: Path, folder: str) -> Path:
    return CHEATS / folder if (CHEATS / folder).is_dir() else built / folder

# folder, exercise, cheating targets, words the policy row must hold, targets that stay honest (full marks)
ROADS = [
    ("autograd_wrapped", "ex04", ("Linear",), "import importlib", ()),
    ("engine_direct", "ex04", ("Linear",), "torch internals", ("MatMul",)),
    ("watch_disabled", "ex04", ("Linear",), "import sys", ()),
    ("jacobian_in_forward", "ex04", ("Linear",), "asks autograd", ()),
    ("forward_ad", "ex04", ("Linear",), "asks autograd", ()),
    ("finite_differences", "ex04", ("Linear",), "finite differences are not backpropagation", ("MatMul",)),
    ("forged_encode", "ex04", ("Linear",), "import sys", ()),
    ("forged_pipe", "ex04", ("Linear",), "file descriptor", ()),
    ("backward_kernel", "ex03", ("GELU", "Sigmoid"), "backward", ()),
    ("finite_differences_vectorised", "ex03", ("GELU", "Tanh"), "finite differences", ()),
    ("complex_step", "ex02", ("Exp", "Sin"), "complex step", ()),
    ("seccomp_i386", "ex04", ("Linear", "MatMul"), "import ctypes", ()),
    ("unit_steps", "ex04", ("Linear",), "finite differences", ("MatMul",)),
    ("batched_steps", "ex04", ("Linear",), "finite differences", ("MatMul",)),
    ("stacked_steps", "ex03", ("GELU",), "finite differences", ("ReLU", "Sigmoid")),
    ("richardson", "ex03", ("GELU",), "finite differences", ("ReLU", "Sigmoid")),
    ("numpy_steps", "ex03", ("GELU",), "finite differences", ("ReLU", "Sigmoid")),
    ("other_formula", "ex03", ("GELU",), "finite differences", ("ReLU", "Sigmoid")),
    ("lazy_subclass", "ex04", ("Linear",), "subclasses Base", ()),
    ("busy_then_steps", "ex03", ("GELU",), "step apart", ("ReLU", "Sigmoid")),
    ("padded_step", "ex03", ("GELU",), "finite differences", ("ReLU", "Sigmoid")),
    ("table_at_import", "ex03", ("GELU", "ReLU"), "calls a backward", ()),
    ("basis_probe", "ex04", ("Linear",), "finite differences", ("MatMul",)),
    ("graph_node_called", "ex04", ("Linear",), "grad_fn reaches into the autograd graph", ("MatMul",)),
]

# What the child's watch reports for each road when the static scan is switched off.
DYNAMIC = {
    "autograd_wrapped": "autograd engine",
    "engine_direct": "autograd engine",
    "watch_disabled": "autograd engine",
    "jacobian_in_forward": "autograd engine",
    "forward_ad": "dual numbers",
    "finite_differences": "finite differences",
    "forged_encode": "autograd engine",
    "backward_kernel": "backward kernel",
    "finite_differences_vectorised": "finite differences",
    "complex_step": "complex step",
    "unit_steps": "finite differences",
    "batched_steps": "finite differences",
    "stacked_steps": "finite differences",
    "richardson": "finite differences",
    "numpy_steps": "finite differences",
    "other_formula": "finite differences",
    "busy_then_steps": "finite differences",
    "padded_step": "finite differences",
    "table_at_import": "autograd engine",
    "basis_probe": "finite differences",
    "graph_node_called": "autograd switched back on",
}


def _target_rows(report: Report, target: str) -> list:
    return [r for r in report.checks if r.target == target]


@pytest.fixture
def static_off(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """Grade with the trusted source scan disabled: only the child's watch is left."""
    monkeypatch.setattr(grader.grading, "static_findings", lambda *args, **kwargs: [()] * len(args[3]))
    yield


@pytest.mark.parametrize(("folder", "exercise", "targets", "words", "honest"), ROADS, ids=[r[0] for r in ROADS])
def test_each_road_earns_nothing_on_the_cheating_target(grade, built: Path, folder: str, exercise: str,
                                                        targets: tuple[str, ...], words: str,
                                                        honest: tuple[str, ...]) -> None:
    report = grade(_cheat(built, folder), exercise)
    for target in targets:
        rows = _target_rows(report, target)
        assert rows and sum(r.score for r in rows) == 0, target
        policy = [r for r in rows if r.check == "policy"]
        if folder == "seccomp_i386":  # killed at import by seccomp; the scan still names the road
            assert all(r.diagnosis in ("forbidden_api", "crashed") for r in policy)
            continue
        assert policy and all(r.diagnosis == "forbidden_api" for r in policy), {r.diagnosis for r in policy}
        assert all(words in r.message for r in policy), policy[0].message
        gradient = [r for r in rows if r.check in ("autograd", "gradcheck")]
        assert gradient and all(not r.passed for r in gradient)
    for target in honest:
        rows = _target_rows(report, target)
        assert rows and all(r.passed for r in rows) and sum(r.score for r in rows) == sum(r.max_score for r in rows)


@pytest.mark.parametrize("folder", sorted(DYNAMIC))
def test_the_child_s_watch_alone_sees_each_road(grade, static_off: None, built: Path, folder: str) -> None:
    [exercise, targets] = next((e, t) for f, e, t, _, _ in ROADS if f == folder)
    report = grade(_cheat(built, folder), exercise, seed=4321)  # another seed: not the memoised report
    for target in targets:
        policy = [r for r in _target_rows(report, target) if r.check == "policy"]
        assert policy and all(r.diagnosis == "forbidden_api" for r in policy), (target, policy[0].message)
        assert all("while it ran" in r.message and DYNAMIC[folder] in r.message for r in policy), policy[0].message
        assert sum(r.score for r in _target_rows(report, target)) == 0


def test_a_tensor_subclass_runs_none_of_its_code_in_the_grader(grade, static_off: None, built: Path) -> None:
    """Its dtype property would run autograd, its shape would break the report: it is just the wrong type."""
    report = grade(built / "lazy_subclass", "ex04", seed=4321)
    linear = _target_rows(report, "Linear")
    assert linear and sum(r.score for r in linear) == 0
    assert {r.diagnosis for r in linear if r.check in ("autograd", "gradcheck")} <= {"wrong_type", "forbidden_api"}
    assert all(r.passed for r in _target_rows(report, "MatMul"))


def test_zero_gradients_of_the_right_shape_earn_nothing(grade, built: Path) -> None:
    report = grade(built / "zeros", "ex04")
    assert report.score == 0 and report.max_score > 0
    contract = [r for r in report.checks if r.check == "contract"]
    assert contract and all(r.passed and r.score == 0 for r in contract)  # right shape, dtype, linear: still 0


def _variant(exercise_folder: str, module: str, target: str, body: str, imports: str = "") -> str:
    """The solution module with ``target``'s solution block replaced by ``body``."""
    return build(Road("variant", exercise_folder, module, {target: body}, prefix=imports), SOLUTIONS)


# exercise folder, module, target, a backward body that calls PyTorch's own derivative
ACT = ("ex03_activations", "activations.py")
KERNELS = [
    (*ACT, "GELU", "(x,) = ctx.saved_tensors\nreturn torch.ops.aten.gelu_backward(grad_output, x)"),
    (*ACT, "Sigmoid", "(y,) = ctx.saved_tensors\nreturn torch.ops.aten.sigmoid_backward(grad_output, y)"),
    (*ACT, "Tanh", "(y,) = ctx.saved_tensors\nreturn torch.ops.aten.tanh_backward(grad_output, y)"),
    (*ACT, "ReLU", "(x,) = ctx.saved_tensors\nreturn torch.ops.aten.threshold_backward(grad_output, x, 0)"),
    (*ACT, "LeakyReLU", "(x,) = ctx.saved_tensors\n"
     "return torch.ops.aten.leaky_relu_backward(grad_output, x, ctx.negative_slope, False), None"),
    ("ex06_losses", "losses.py", "LogSoftmax", "(y,) = ctx.saved_tensors\n"
     "return torch._log_softmax_backward_data(grad_output, y, ctx.dim, y.dtype), None"),
    ("ex08_normalization", "normalization.py", "LayerNorm", "x_hat, rstd, weight = ctx.saved_tensors\n"
     "x = x_hat / rstd\n"
     "gx, gw, gb = torch.ops.aten.native_layer_norm_backward(grad_output, x, [x.shape[-1]], torch.zeros_like(rstd), "
     "rstd, weight, weight, [True, True, True])\nreturn gx, gw, gb, None"),
    ("ex09_conv", "conv.py", "Conv2d", "cols, weight = ctx.saved_tensors\n"
     "(h, w), stride, padding = ctx.x_size, ctx.stride, ctx.padding\n"
     "n, o = grad_output.shape[:2]\n"
     "gx = torch.nn.grad.conv2d_input((n, weight.shape[1], h, w), weight, grad_output, stride, padding)\n"
     "gw = (grad_output.reshape(n, o, -1) @ cols.transpose(1, 2)).sum(0).reshape(weight.shape)\n"
     "return gx, gw, grad_output.sum((0, 2, 3)), None, None"),
    ("ex09_conv", "conv.py", "Conv2d", "cols, weight = ctx.saved_tensors\n"
     "(h, w), stride, padding = ctx.x_size, ctx.stride, ctx.padding\n"
     "n, o = grad_output.shape[:2]\n"
     "blank = torch.zeros(n, weight.shape[1], h, w, dtype=weight.dtype)\n"
     "gx = torch.ops.aten.convolution_backward(grad_output, blank, weight, None, [stride] * 2, [padding] * 2, [1, 1], "
     "False, [0, 0], 1, [True, False, False])[0]\n"
     "gw = (grad_output.reshape(n, o, -1) @ cols.transpose(1, 2)).sum(0).reshape(weight.shape)\n"
     "return gx, gw, grad_output.sum((0, 2, 3)), None, None"),
    ("ex11_recurrent", "recurrent.py", "Embedding", "(indices,) = ctx.saved_tensors\n"
     "return None, torch.ops.aten.embedding_dense_backward(grad_output, indices, ctx.weight_shape[0], -1, False)"),
]


def _write(tmp_path: Path, module: str, source: str) -> Path:
    folder = tmp_path / "submission"
    folder.mkdir(parents=True, exist_ok=True)
    (folder / module).write_text(source)
    return folder


def _kernel_id(kernel: tuple[str, str, str, str]) -> str:
    found = re.search(r"(\w+_backward\w*|conv2d_input)", kernel[3])
    return f"{kernel[2]}-{found.group(1) if found else '?'}"


@pytest.mark.parametrize(("folder", "module", "target", "body"), KERNELS, ids=[_kernel_id(k) for k in KERNELS])
def test_every_backward_kernel_is_caught_even_without_the_scan(grade, static_off: None, tmp_path: Path, folder: str,
                                                                 module: str, target: str, body: str) -> None:
    report = grade(_write(tmp_path, module, _variant(folder, module, target, body)), folder.split("_")[0])
    rows = _target_rows(report, target)
    policy = [r for r in rows if r.check == "policy"]
    assert policy and all(r.diagnosis == "forbidden_api" and "backward kernel" in r.message for r in policy), \
        policy[0].message
    assert sum(r.score for r in rows) == 0
    # the values were right: nothing but the policy stood between this cheat and full marks
    assert all(r.passed for r in rows if r.check == "forward")


# Correct but unusual backwards: neither layer may call any of them a cheat.
HONEST = [
    ("ex04_linear", "linear.py", "Linear", """
x, weight = ctx.saved_tensors
g = grad_output
with torch.no_grad():
    grad_x = torch.einsum("no,oi->ni", g, weight) if ctx.needs_input_grad[0] else None
    grad_weight = torch.einsum("no,ni->oi", g, x).t().contiguous().t()
    grad_bias = (torch.ones(1, g.shape[0], dtype=g.dtype) @ g).reshape(-1).expand(g.shape[1])
return grad_x, grad_weight, grad_bias
"""),
    ("ex04_linear", "linear.py", "MatMul", """
a, b = ctx.saved_tensors
grad_a, grad_b = torch.zeros_like(a), torch.zeros_like(b)
for i in range(a.shape[0]):
    for j in range(b.shape[1]):
        grad_a[i] += grad_output[i, j] * b[:, j]
        grad_b[:, j] += grad_output[i, j] * a[i]
return grad_a, grad_b
"""),
    ("ex03_activations", "activations.py", "Sigmoid", """
(y,) = ctx.saved_tensors
s = torch.sigmoid(torch.logit(y))
return grad_output * s * (1 - torch.sigmoid(torch.logit(y)))
"""),
    ("ex03_activations", "activations.py", "ReLU", """
(x,) = ctx.saved_tensors
return grad_output.clone().masked_fill_(x < 0, 0.0)
"""),
    ("ex11_recurrent", "recurrent.py", "Embedding", """
(indices,) = ctx.saved_tensors
flat = grad_output.reshape(-1, grad_output.shape[-1])
one_hot = F.one_hot(indices.reshape(-1), ctx.weight_shape[0]).to(flat.dtype)
by_scatter = torch.zeros(ctx.weight_shape, dtype=flat.dtype).index_put_((indices.reshape(-1),), flat, accumulate=True)
return None, (one_hot.T @ flat + by_scatter) / 2
"""),
    ("ex04_linear", "linear.py", "MatMul", """
a, b = ctx.saved_tensors
grad_a, grad_b = torch.zeros_like(a), torch.zeros_like(b)
for i in range(a.shape[0]):
    for k in range(a.shape[1]):
        for j in range(b.shape[1]):
            grad_a[i, k] += grad_output[i, j] * b[k, j]
            grad_b[k, j] += a[i, k] * grad_output[i, j]
return grad_a, grad_b
"""),
    ("ex03_activations", "activations.py", "LeakyReLU", """
(x,) = ctx.saved_tensors
up = grad_output * torch.ones_like(x)
down = grad_output * torch.full_like(x, ctx.negative_slope)
return torch.where(x > 0, up, down), None
"""),
    ("ex02_elementwise", "elementwise.py", "Sin", """
(x,) = ctx.saved_tensors
return grad_output * torch.sin(x + math.pi / 2) + 0 * torch.sin(x)
"""),
    ("ex08_normalization", "normalization.py", "LayerNorm", """
x_hat, rstd, weight = ctx.saved_tensors
d = x_hat.shape[-1]
g_hat = (grad_output * weight).reshape(-1, d)
xh = x_hat.reshape(-1, d)
centre = torch.eye(d, dtype=xh.dtype) - 1.0 / d
rows = [(centre - torch.outer(xh[r], xh[r]) / d) @ g_hat[r] for r in range(xh.shape[0])]
grad_x = (rstd.reshape(-1, 1) * torch.stack(rows)).reshape(x_hat.shape)
return grad_x, (grad_output * x_hat).reshape(-1, d).sum(0), grad_output.reshape(-1, d).sum(0), None
"""),
    ("ex03_activations", "activations.py", "GELU", """
(x,) = ctx.saved_tensors
cdf = 0.5 * (1 + torch.erf(x / math.sqrt(2)))
y = x * cdf  # the forward's value beside its derivative, as a student checks their algebra
pdf = torch.exp(-0.5 * x * x) / math.sqrt(2 * math.pi)
slope = torch.where(x != 0, (y - x * cdf) + cdf + x * pdf, torch.full_like(x, 0.5))
return grad_output * slope
"""),
    ("ex05_broadcasting", "broadcasting.py", "BroadcastAdd", """
grad = grad_output.detach().clone()
kept = grad  # kept for a print while debugging
out = []
for shape in (ctx.a_shape, ctx.b_shape):
    g = kept
    while g.dim() > len(shape):
        g = g.sum(0)
    for d, n in enumerate(shape):
        if n == 1 and g.shape[d] != 1:
            g = g.sum(d, keepdim=True)
    out.append(g)
return tuple(out)
"""),
    ("ex09_conv", "conv.py", "Conv2d", """
cols, weight = ctx.saved_tensors
(h, w), stride, padding = ctx.x_size, ctx.stride, ctx.padding
n, o, kh, kw = grad_output.shape[0], *weight.shape[0:1], *weight.shape[2:]
extra = ((h + 2 * padding - kh) % stride, (w + 2 * padding - kw) % stride)
gx = F.conv_transpose2d(grad_output, weight, stride=stride, padding=padding, output_padding=extra)
gw = (grad_output.reshape(n, o, -1) @ cols.transpose(1, 2)).sum(0).reshape(weight.shape)
return gx, gw, grad_output.sum((0, 2, 3)), None, None
"""),
]


@pytest.mark.parametrize(("folder", "module", "target", "body"), HONEST, ids=[f"{h[2]}-{i}" for i, h in enumerate(HONEST)])
def test_correct_but_unusual_backwards_keep_full_marks(grade, tmp_path: Path, folder: str, module: str, target: str,
                                                      body: str) -> None:
    source = _variant(folder, module, target, body, imports="import math\nimport torch.nn.functional as F\n")
    report = grade(_write(tmp_path, module, source), folder.split("_")[0])
    rows = _target_rows(report, target)
    assert rows and all(r.passed for r in rows), [(r.check, r.input, r.diagnosis, r.message) for r in rows if not r.passed]
    assert sum(r.score for r in rows) == sum(r.max_score for r in rows)


def test_a_backward_that_loops_over_elements_gets_a_note_not_a_penalty(grade, tmp_path: Path) -> None:
    folder, module, target, body = HONEST[1]
    report = grade(_write(tmp_path, module, _variant(folder, module, target, body)), "ex04")
    policy = [r for r in _target_rows(report, target) if r.check == "policy"]
    assert policy and all(r.passed and "a Python loop over elements?" in r.message for r in policy)


def test_nothing_of_the_grader_is_reachable_by_name_in_the_child(grade, static_off: None, tmp_path: Path) -> None:
    probe = _variant("ex04_linear", "linear.py", "MatMul", """
import sys
print("GRADER", sorted(n for n in sys.modules if n.split(".")[0] == "grader"), "NAME", __name__)
a, b = ctx.saved_tensors
return grad_output @ b.T, a.T @ grad_output
""")
    report = grade(_write(tmp_path, "linear.py", probe), "ex04")
    assert "GRADER [] NAME linear" in report.output


@pytest.fixture(scope="module")
def strict_course(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A course that allows numpy and forbids conv_transpose2d in ex09."""
    import shutil

    root = tmp_path_factory.mktemp("strict")
    for part in ("exercises", "solutions"):
        for slug in ("ex04_linear", "ex09_conv"):
            shutil.copytree(ROOT / part / slug, root / part / slug)
    (root / "course.yaml").write_text("id: strict\ntitle: Strict\nexercises: [ex04_linear, ex09_conv]\n"
                                      "policy: {allow_imports: [math, numpy]}\n")
    spec = root / "exercises" / "ex09_conv" / "exercise.yaml"
    spec.write_text(spec.read_text() + "forbid: [torch.nn.functional.conv_transpose2d]\n")
    return root


def test_the_course_allow_list_and_the_exercise_forbid_list_reach_the_rows(grade, strict_course: Path,
                                                                           tmp_path: Path) -> None:
    from grader.spec import load_course

    course = load_course(strict_course)
    folder, module, target, body = HONEST[-1]
    conv = grade(_write(tmp_path / "conv", module, _variant(folder, module, target, body,
                                                            imports="import torch.nn.functional as F\n")),
                 "ex09", spec=course)
    policy = [r for r in _target_rows(conv, "Conv2d") if r.check == "policy"]
    assert policy and all(r.diagnosis == "forbidden_api" and "forbid list" in r.message for r in policy)
    assert all(r.passed for r in _target_rows(conv, "MaxPool2d"))
    numpy_body = ("a, b = ctx.saved_tensors\n"
                  "return grad_output @ b.T, torch.from_numpy(np.ascontiguousarray(a.numpy().T)) @ grad_output")
    honest = _variant("ex04_linear", "linear.py", "MatMul", numpy_body, imports="import numpy as np\n")
    allowed = grade(_write(tmp_path / "np", "linear.py", honest), "ex04", spec=course)
    assert allowed.score == allowed.max_score
    default = grade(_write(tmp_path / "np-default", "linear.py", honest), "ex04")
    assert default.score == 0  # numpy is off the default allow-list, and a module-level import counts for all


def test_a_module_that_is_a_symlink_out_of_the_submission_is_refused_unread(grade) -> None:
    """tests/submissions/cheats/symlink_escape/linear.py -> /etc/passwd: graded 0, and not a byte of it shown."""
    secret = Path("/etc/passwd").read_text().splitlines()[0]
    report = grade(CHEATS / "symlink_escape", "ex04")
    assert report.score == 0 and report.checks
    assert all("symbolic link" in r.message for r in report.checks)
    text = " ".join(r.message for r in report.checks) + report.output
    assert secret not in text and secret.split(":")[0] + ":" not in text


def test_rows_that_are_one_shifted_copy_are_not_a_stack_of_steps(grade, tmp_path: Path) -> None:
    """With grad_output dropped, LayerNorm's ``g_hat - g_hat.mean()`` is ``weight - c`` on every row: one copy of
    an input, shifted, repeated over the batch. Wrong, but honest: the row says so, and it is no cheat."""
    body = """
g = torch.ones_like(grad_output)
x_hat, rstd, weight = ctx.saved_tensors
d = x_hat.shape[-1]
g_hat = g * weight
grad_x = rstd * (g_hat - g_hat.mean(dim=-1, keepdim=True) - x_hat * (g_hat * x_hat).mean(dim=-1, keepdim=True))
return grad_x, (g * x_hat).reshape(-1, d).sum(0), g.reshape(-1, d).sum(0), None
"""
    source = _variant("ex08_normalization", "normalization.py", "LayerNorm", body)
    report = grade(_write(tmp_path, "normalization.py", source), "ex08")
    rows = _target_rows(report, "LayerNorm")
    assert all(r.passed for r in rows if r.check == "policy")
    assert "ignores_upstream_grad" in {r.diagnosis for r in rows}


def test_a_forward_bent_only_at_the_stepped_points_earns_no_gradcheck_row(grade, tmp_path: Path) -> None:
    """A backward twice too large, and a forward that doubles its slope only where no gradient is asked of it
    (the finite-difference points): the gradcheck row compares them with the reference's slope, not only with
    each other, so it is forward_mismatch and the target earns nothing."""
    road = Road("bent_forward", "ex04_linear", "linear.py", {"Linear": """
x, weight = ctx.saved_tensors
return 2 * (grad_output @ weight), 2 * (grad_output.T @ x), 2 * grad_output.sum(0)
"""}, forwards={"Linear": """
ctx.save_for_backward(x, weight)
y = x @ weight.T + bias
if not any(ctx.needs_input_grad):
    y = 2 * y - (x.detach() * 0).sum()
return y
"""})
    report = grade(_write(tmp_path, "linear.py", build(road, SOLUTIONS)), "ex04")
    rows = _target_rows(report, "Linear")
    assert {r.diagnosis for r in rows if r.check == "gradcheck"} == {"forward_mismatch"}
    assert {r.diagnosis for r in rows if r.check == "autograd"} == {"scaled"}
    assert sum(r.score for r in rows) == 0
    assert all(r.passed for r in _target_rows(report, "MatMul"))
