"""Course and exercise specs: YAML in, frozen validated objects out.

A course is ``course.yaml`` plus one ``exercises/<slug>/exercise.yaml`` per exercise, and optionally
``solutions/<slug>/hidden.yaml`` with extra cases. The instructor's files always win: a submission never
supplies specs. See ``docs/spec-format.md`` for every key.
"""

from __future__ import annotations

import ast
import builtins
import re
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from grader.errors import SpecError, UsageError
from grader.patterns import GENERIC
from grader.specreader import Node, load_yaml

ARG_KINDS = ("tensor", "index", "value")
DISTRIBUTIONS = ("normal", "uniform")
GRADIENT_CHECKS = ("contract", "autograd", "gradcheck")
ALL_CHECKS = ("forward", "policy", *GRADIENT_CHECKS, "training")
_SLUG = re.compile(r"^(ex\d\d)_[a-z0-9_]+$")
_PATTERN_ID = re.compile(r"^[a-z][a-z0-9_]*$")
HINT_LEVELS = 3
"""The most ``hints:`` a target may have: ``grade EXERCISE --hint N`` takes N from 1 to this."""
FORMULA_NAMES = ("out", "grad_output", "torch", "F", "math")
"""What a catalogue formula may use besides the forward's arguments and Python's builtins."""


@dataclass(frozen=True)
class Tolerance:
    """Element-wise closeness: ``|got - want| <= rtol * |want| + atol * scale``.

    ``scale`` is the largest magnitude of the expected tensor (1 when it is all zeros), so ``atol`` is
    relative to the size of the reference rather than an absolute number that suits only unit-sized values.
    """

    rtol: float = 1e-5
    atol: float = 1e-6


@dataclass(frozen=True)
class FiniteDifferences:
    """Central differences ``(f(x + h v) - f(x - h v)) / 2h`` along random directions and sampled coordinates."""

    eps: float = 1e-6
    rtol: float = 1e-4
    atol: float = 1e-5
    directions: int = 2
    coordinates: int = 3


@dataclass(frozen=True)
class Limits:
    """Limits for the student's process (CONTRACT section 6 defaults)."""

    wall_seconds: float = 20.0
    memory_mb: int = 4096
    processes: int = 64
    file_mb: int = 64
    output_kb: int = 1024
    open_files: int = 256


@dataclass(frozen=True)
class Policy:
    """course.yaml ``policy``: what a backward may import, and when to call a backward slow.

    ``slowdown``: a backward that runs more than this many times the tensor operations of the forward gets a
    note on its policy row (a Python loop over elements?); it costs no points.
    """

    allow_imports: tuple[str, ...] = ("torch", "math")
    slowdown: float = 50.0


@dataclass(frozen=True)
class Domain:
    """Where a float tensor's entries are drawn from, and which points (kinks, ties) they keep away from."""

    dist: str = "normal"
    mean: float = 0.0
    std: float = 1.0
    low: float = -1.0
    high: float = 1.0
    avoid: tuple[float, ...] = ()
    margin: float = 0.05
    distinct: bool = False


@dataclass(frozen=True)
class ArgSpec:
    """One forward argument: a float ``tensor`` (gets a gradient), an ``index`` tensor, or a python ``value``."""

    name: str
    kind: str = "tensor"
    domain: Domain = Domain()
    low: int = 0
    high: str | int = 2
    default: Any = None

    @property
    def differentiable(self) -> bool:
        return self.kind == "tensor"


@dataclass(frozen=True)
class CaseSpec:
    """Concrete shapes and python values for one call of the target."""

    name: str
    shapes: dict[str, tuple[int, ...]]
    values: dict[str, Any]
    hidden: bool = False


@dataclass(frozen=True)
class TrainingSpec:
    """The ``training`` check: fit a regression with plain SGD through the student's backward.

    The first argument is the data; the other float tensors are parameters. Targets come from a *teacher*:
    the reference with its own random parameters. The loss is the mean squared error, and it must fall
    below ``threshold`` within ``steps`` steps of ``p ← p - lr · ∂L/∂p``.
    """

    shapes: dict[str, tuple[int, ...]]
    steps: int = 300
    lr: float = 0.05
    threshold: float = 0.05
    init_std: float = 0.5


@dataclass(frozen=True)
class CatalogueEntry:
    """A known misconception: the *wrong* gradient a student with it returns for one input.

    ``formula`` is a Python expression like the reference, over the forward's arguments by name, ``out`` (the
    reference output), ``grad_output``, ``torch``, ``F`` and ``math``; it is evaluated in the trusted process.
    A failed row whose gradient equals it under every ``grad_output`` of the case is named ``id``, and shows
    ``message`` (what the student did, e.g. "evaluated σ' at the output") and ``hint``.
    """

    id: str
    input: str
    formula: str
    message: str
    hint: str


@dataclass(frozen=True)
class TargetSpec:
    """One ``autograd.Function`` subclass to grade."""

    name: str
    reference: str
    args: tuple[ArgSpec, ...]
    points: dict[str, float]
    cases: tuple[CaseSpec, ...]
    tolerance: Tolerance
    fd: FiniteDifferences
    training: TrainingSpec | None = None
    catalogue: tuple[CatalogueEntry, ...] = ()
    hints: tuple[str, ...] = ()
    """The hint ladder ``grade EXERCISE --hint`` climbs, in order: the idea, the local derivatives, the shapes."""

    @property
    def grad_args(self) -> tuple[ArgSpec, ...]:
        return tuple(a for a in self.args if a.differentiable)


@dataclass(frozen=True)
class MutantSpec:
    """An instructor's known-wrong variant: ``find`` replaced by ``replace`` in the solution module."""

    name: str
    target: str
    find: str
    replace: str
    expect: str
    input: str | None = None


@dataclass(frozen=True)
class UseSpec:
    """An op of an earlier exercise that this one builds on (``uses: [ex08.LayerNorm]``).

    The student's own module of that exercise is put beside theirs in the sandbox, and imported by its name
    (``from normalization import LayerNorm``); where the op is wrong or missing, the reference op takes its
    place (:mod:`grader.uses`). ``target`` is the instructor's spec of the op: its ``reference`` is what the
    stand-in computes.
    """

    exercise: str
    slug: str
    module: str
    target: TargetSpec

    @property
    def name(self) -> str:
        return f"{self.exercise}.{self.target.name}"


@dataclass(frozen=True)
class ExerciseSpec:
    id: str
    slug: str
    title: str
    module: str
    folder: Path
    targets: tuple[TargetSpec, ...]
    mutants: tuple[MutantSpec, ...] = ()
    forbid: tuple[str, ...] = ()
    uses: tuple[UseSpec, ...] = ()


@dataclass(frozen=True)
class CourseSpec:
    root: Path
    id: str
    title: str
    exercises: tuple[str, ...]
    seed: int
    grad_outputs: int
    tolerance: Tolerance
    fd: FiniteDifferences
    limits: Limits
    policy: Policy = Policy()

    def resolve(self, name: str) -> list[str]:
        """Slugs for ``ex03``, ``3``, ``ex03_activations`` or ``all``; an unknown name is a usage error."""
        if name == "all":
            return list(self.exercises)
        wanted = f"ex{int(name):02d}" if name.isdigit() else name
        for slug in self.exercises:
            if slug == wanted or slug.split("_", 1)[0] == wanted:
                return [slug]
        raise UsageError(f"unknown exercise {name!r}; {self.root / 'course.yaml'} lists "
                         + ", ".join(s.split("_", 1)[0] for s in self.exercises))


def find_course(start: Path) -> Path:
    """The nearest folder at or above ``start`` that holds ``course.yaml``."""
    start = start.resolve()
    for folder in (start, *start.parents):
        if (folder / "course.yaml").is_file():
            return folder
    raise UsageError(f"no course.yaml in {start} or any folder above it; pass --course DIR")


def load_course(root: Path) -> CourseSpec:
    path = root / "course.yaml"
    node = Node(load_yaml(path), path)
    node.only({"id", "title", "exercises", "defaults", "policy"})
    slugs = tuple(node.get("exercises", list))
    for i, slug in enumerate(slugs):
        if not isinstance(slug, str) or not _SLUG.match(slug):
            raise SpecError(path, f"exercises[{i}]", f"expected a folder name like ex03_activations, got {slug!r}")
        if not (root / "exercises" / slug).is_dir():
            raise SpecError(path, f"exercises[{i}]", f"folder exercises/{slug} does not exist")
    defaults = node.child("defaults")
    defaults.only({"seed", "grad_outputs", "tolerance", "gradcheck", "limits"})
    grad_outputs = defaults.positive("grad_outputs", int, 3)
    if grad_outputs < 3:
        raise defaults.fail("grad_outputs", "expected at least 3 random grad_outputs")
    return CourseSpec(
        root=root, id=node.get("id", str), title=node.get("title", str), exercises=slugs,
        seed=defaults.get("seed", int, 1234), grad_outputs=grad_outputs,
        tolerance=_tolerance(defaults.child("tolerance"), Tolerance()),
        fd=_fd(defaults.child("gradcheck"), FiniteDifferences()),
        limits=_limits(defaults.child("limits")),
        policy=_policy(node.child("policy")),
    )


def _policy(node: Node) -> Policy:
    node.only({"allow_imports", "slowdown"})
    base = Policy()
    imports = node.get("allow_imports", list, list(base.allow_imports))
    for i, name in enumerate(imports):
        if not isinstance(name, str) or not name.isidentifier():
            raise node.fail(f"allow_imports[{i}]", f"expected a top-level module name like numpy, got {name!r}")
    if "torch" not in imports:
        imports = ["torch", *imports]
    return Policy(allow_imports=tuple(imports), slowdown=node.positive("slowdown", float, base.slowdown))


_LOADED: dict[tuple[Any, ...], ExerciseSpec] = {}


def load_exercise(course: CourseSpec, slug: str, hidden: bool = False) -> ExerciseSpec:
    """Load ``exercises/<slug>/exercise.yaml``; with ``hidden``, append the cases of ``solutions/<slug>/hidden.yaml``.

    Parsed specs are remembered for as long as the files are unchanged, so a batch parses each once.
    """
    files = [course.root / "exercises" / slug / "exercise.yaml", course.root / "solutions" / slug / "hidden.yaml"]
    stamp = tuple(p.stat().st_mtime_ns if p.is_file() else None for p in files)
    key = (course, slug, hidden, stamp)
    if key not in _LOADED:
        if len(_LOADED) > 256:
            _LOADED.clear()
        _LOADED[key] = _load_exercise(course, slug, hidden)
    return _LOADED[key]


def _load_exercise(course: CourseSpec, slug: str, hidden: bool) -> ExerciseSpec:
    folder = course.root / "exercises" / slug
    path = folder / "exercise.yaml"
    node = Node(load_yaml(path), path)
    node.only({"id", "title", "module", "targets", "mutants", "forbid", "uses"})
    ex_id = node.get("id", str)
    if ex_id != slug.split("_", 1)[0]:
        raise node.fail("id", f"expected {slug.split('_', 1)[0]!r} to match the folder {slug}")
    module = node.get("module", str)
    if not module.endswith(".py") or "/" in module:
        raise node.fail("module", f"expected a file name like linear.py, got {module!r}")
    _check_module(node, course.root, slug, module)
    target_nodes = node.children("targets")
    targets = [_target(t, course) for t in target_nodes]
    if not targets:
        raise node.fail("targets", "expected at least one target")
    _unique_ids(targets, target_nodes)
    if hidden:
        targets = _with_hidden(targets, course.root / "solutions" / slug / "hidden.yaml")
    names = {t.name for t in targets}
    mutants = tuple(_mutant(m, names) for m in node.children("mutants")) if node.has("mutants") else ()
    forbid = node.get("forbid", list, [])
    for i, name in enumerate(forbid):
        if not isinstance(name, str) or not all(part.isidentifier() for part in name.split(".")):
            raise node.fail(f"forbid[{i}]", f"expected a dotted name like torch.nn.functional.conv_transpose2d, "
                                            f"got {name!r}")
    uses = _uses(node, course, slug, module)
    return ExerciseSpec(id=ex_id, slug=slug, title=node.get("title", str), module=module, folder=folder,
                        targets=tuple(targets), mutants=mutants, forbid=tuple(forbid), uses=uses)


def _uses(node: Node, course: CourseSpec, slug: str, module: str) -> tuple[UseSpec, ...]:
    """``uses:``: ``exNN.Target`` names of ops of exercises listed before this one in course.yaml, each module
    imported by its own name (so two used exercises may not share a module name, nor share this one's)."""
    if not node.has("uses"):
        return ()
    earlier = {s.split("_", 1)[0]: s for s in course.exercises[:course.exercises.index(slug)]} \
        if slug in course.exercises else {}
    found: list[UseSpec] = []
    modules = {module: slug}
    for i, ref in enumerate(node.get("uses", list)):
        key = f"uses[{i}]"
        parts = ref.split(".") if isinstance(ref, str) else []
        if len(parts) != 2 or not parts[1].isidentifier():
            raise node.fail(key, f"expected an exercise id and a target like ex08.LayerNorm, got {ref!r}")
        if parts[0] not in earlier:
            raise node.fail(key, f"{parts[0]} is not an exercise listed before {slug} in course.yaml")
        other = load_exercise(course, earlier[parts[0]])
        target = next((t for t in other.targets if t.name == parts[1]), None)
        if target is None:
            raise node.fail(key, f"{parts[0]} has no target {parts[1]} (it has "
                                 f"{', '.join(t.name for t in other.targets)})")
        if modules.get(other.module, other.slug) != other.slug:
            raise node.fail(key, f"{other.module} of {other.slug} has the name of {modules[other.module]}'s module")
        modules[other.module] = other.slug
        if any(u.name == f"{parts[0]}.{parts[1]}" for u in found):
            raise node.fail(key, f"{ref} is listed twice")
        found.append(UseSpec(exercise=parts[0], slug=other.slug, module=other.module, target=target))
    return tuple(found)


def _check_module(node: Node, root: Path, slug: str, module: str) -> None:
    """In an instructor's course, ``module`` must be a file of ``exercises/<slug>/`` or ``solutions/<slug>/``.

    The check runs only where ``solutions/<slug>/`` holds a ``.py`` file: a student's checkout (no solutions)
    and the specs-only copies in the Gradescope and Classroom 50 bundles are not checked, since there a missing
    module is the student's to fix (the rows say "no linear.py found") rather than a mistake in the spec.
    """
    places = [root / "exercises" / slug, root / "solutions" / slug]
    if not _python_files(places[1]) or any((place / module).is_file() for place in places):
        return
    found = [f"{place.parent.name}/{slug}/ holds {', '.join(names)}" for place in places
             if (names := _python_files(place))]
    raise node.fail("module", f"{module} is in neither exercises/{slug}/ nor solutions/{slug}/ ("
                              + "; ".join(found) + ")")


def _python_files(folder: Path) -> list[str]:
    """The names of the ``.py`` files directly in ``folder`` (none when it does not exist), sorted."""
    try:
        return sorted(p.name for p in folder.iterdir() if p.suffix == ".py" and p.is_file())
    except OSError:
        return []


def _unique_ids(targets: list[TargetSpec], nodes: list[Node]) -> None:
    seen: dict[str, str] = {}
    for target, node in zip(targets, nodes, strict=True):
        for j, entry in enumerate(target.catalogue):
            if entry.id in seen:
                raise node.fail(f"catalogue[{j}].id", f"{entry.id!r} is already an entry of {seen[entry.id]}: "
                                                      "ids must be unique in the exercise")
            seen[entry.id] = target.name


def _catalogue_entry(node: Node, args: tuple[ArgSpec, ...]) -> CatalogueEntry:
    """One ``catalogue:`` entry, checked before any grading: its id, its input, and a formula that compiles and
    names nothing but the arguments, ``out``, ``grad_output``, ``torch``, ``F``, ``math`` and builtins."""
    node.only({"id", "input", "formula", "message", "hint"})
    entry_id = node.get("id", str)
    if not _PATTERN_ID.match(entry_id):
        raise node.fail("id", f"expected lower-case letters, digits and _ starting with a letter, got {entry_id!r}")
    if entry_id in GENERIC:
        raise node.fail("id", f"{entry_id!r} is a generic pattern id (CONTRACT section 5): choose another")
    differentiable = [a.name for a in args if a.differentiable]
    name = node.get("input", str)
    if name not in differentiable:
        raise node.fail("input", f"expected an argument that gets a gradient ({', '.join(differentiable)}), "
                                 f"got {name!r}")
    formula = node.get("formula", str)
    try:
        tree = ast.parse(formula, mode="eval")
    except SyntaxError as exc:
        raise node.fail("formula", f"not a python expression: {exc.msg}") from None
    bound = {n.id for n in ast.walk(tree) if isinstance(n, ast.Name) and isinstance(n.ctx, ast.Store)}
    bound |= {a.arg for n in ast.walk(tree) if isinstance(n, ast.Lambda) for a in n.args.args}
    known = {a.name for a in args} | set(FORMULA_NAMES) | set(dir(builtins)) | bound
    unknown = sorted({n.id for n in ast.walk(tree) if isinstance(n, ast.Name) and n.id not in known})
    if unknown:
        raise node.fail("formula", f"unknown name(s) {', '.join(unknown)}; a formula may use the arguments "
                                   f"({', '.join(a.name for a in args)}), {', '.join(FORMULA_NAMES)}")
    message, hint = node.get("message", str), node.get("hint", str)
    if not message.strip() or not hint.strip():
        raise node.fail("message" if not message.strip() else "hint", "must not be empty")
    return CatalogueEntry(id=entry_id, input=name, formula=formula, message=message.strip(), hint=hint.strip())


def _mutant(node: Node, targets: set[str]) -> MutantSpec:
    from grader.diagnose import HINTS

    node.only({"name", "target", "find", "replace", "expect", "input"})
    target = node.get("target", str)
    if target not in targets:
        raise node.fail("target", f"expected one of {', '.join(sorted(targets))}, got {target!r}")
    expect = node.get("expect", str)
    if expect not in HINTS or expect == "ok":
        raise node.fail("expect", f"expected a diagnosis code such as sign_flipped, got {expect!r}")
    find = node.get("find", str)
    if not find:
        raise node.fail("find", "expected the text of the solution to replace")
    return MutantSpec(name=node.get("name", str), target=target, find=find, replace=node.get("replace", str, ""),
                      expect=expect, input=node.data.get("input"))


def _target(node: Node, course: CourseSpec) -> TargetSpec:
    node.only({"name", "reference", "args", "points", "cases", "tolerance", "gradcheck", "training", "catalogue",
               "hints"})
    args = tuple(_arg(a) for a in node.children("args"))
    names = [a.name for a in args]
    if len(set(names)) != len(names):
        raise node.fail("args", f"argument names repeat: {names}")
    catalogue = tuple(_catalogue_entry(c, args) for c in node.children("catalogue")) if node.has("catalogue") else ()
    clash = [name for name in names if name in FORMULA_NAMES]
    if catalogue and clash:
        raise node.fail("args", f"an argument named {clash[0]} would hide the catalogue formulas' {clash[0]}")
    points_node = node.child("points")
    points_node.only(set(ALL_CHECKS))
    points = {check: points_node.get(check, float, 0.0) for check in ALL_CHECKS if points_node.has(check)}
    for check, value in points.items():
        if value < 0:
            raise points_node.fail(check, f"points must not be negative, got {value:g}")
    cases = tuple(_case(c, args, hidden=False) for c in node.children("cases"))
    if not cases:
        raise node.fail("cases", "expected at least one case")
    return TargetSpec(
        name=node.get("name", str), reference=node.get("reference", str), args=args, points=points,
        cases=cases, tolerance=_tolerance(node.child("tolerance"), course.tolerance),
        fd=_fd(node.child("gradcheck"), course.fd),
        training=_training(node.child("training"), args) if node.has("training") else None, catalogue=catalogue,
        hints=_hints(node),
    )


def _hints(node: Node) -> tuple[str, ...]:
    """A target's ``hints:``, a list of 1 to :data:`HINT_LEVELS` non-empty strings (none when the key is absent)."""
    if "hints" not in node.data:
        return ()
    items = node.data["hints"]
    if not isinstance(items, list) or not items:
        raise node.fail("hints", f"expected a list of 1 to {HINT_LEVELS} hint texts (the idea, the local "
                                 f"derivatives, the shapes), got {type(items).__name__} {items!r}"[:160])
    if len(items) > HINT_LEVELS:
        raise node.fail("hints", f"expected at most {HINT_LEVELS} hints (grade --hint N takes N from 1 to "
                                 f"{HINT_LEVELS}), got {len(items)}")
    for i, item in enumerate(items):
        if not isinstance(item, str) or not item.strip():
            raise node.fail(f"hints[{i}]", f"expected a non-empty string, got {item!r}"[:160])
    return tuple(" ".join(item.split()) for item in items)


def _training(node: Node, args: tuple[ArgSpec, ...]) -> TrainingSpec:
    node.only({"shapes", "steps", "lr", "threshold", "init_std"})
    if any(a.kind != "tensor" for a in args):
        raise node.fail("", "training needs a target whose arguments are all float tensors")
    shapes = _case(Node({"name": "training", "shapes": node.data.get("shapes")}, node.path, node.key), args,
                   hidden=False).shapes
    return TrainingSpec(shapes=shapes, steps=node.positive("steps", int, 300), lr=node.positive("lr", float, 0.05),
                        threshold=node.positive("threshold", float, 0.05),
                        init_std=node.positive("init_std", float, 0.5))


def _arg(node: Node) -> ArgSpec:
    node.only({"name", "kind", "domain", "low", "high", "default"})
    kind = node.get("kind", str, "tensor")
    if kind not in ARG_KINDS:
        raise node.fail("kind", f"expected one of {', '.join(ARG_KINDS)}, got {kind!r}")
    high = node.data.get("high", 2)
    if not isinstance(high, (int, str)) or isinstance(high, bool):
        raise node.fail("high", "expected an int or '<arg>.<dim>'")
    return ArgSpec(name=node.get("name", str), kind=kind, domain=_domain(node.child("domain")),
                   low=node.get("low", int, 0), high=high, default=_plain(node.data.get("default")))


def _domain(node: Node) -> Domain:
    node.only({"dist", "mean", "std", "low", "high", "avoid", "margin", "distinct"})
    dist = node.get("dist", str, "normal")
    if dist not in DISTRIBUTIONS:
        raise node.fail("dist", f"expected one of {', '.join(DISTRIBUTIONS)}, got {dist!r}")
    avoid = node.get("avoid", list, [])
    if not all(isinstance(v, (int, float)) for v in avoid):
        raise node.fail("avoid", "expected a list of numbers")
    domain = Domain(dist=dist, mean=node.get("mean", float, 0.0), std=node.positive("std", float, 1.0),
                    low=node.get("low", float, -1.0), high=node.get("high", float, 1.0),
                    avoid=tuple(float(v) for v in avoid), margin=node.positive("margin", float, 0.05),
                    distinct=node.get("distinct", bool, False))
    if domain.dist == "uniform" and not domain.low < domain.high:
        raise node.fail("high", f"expected high > low, got low={domain.low} high={domain.high}")
    return domain


def _case(node: Node, args: tuple[ArgSpec, ...], hidden: bool) -> CaseSpec:
    node.only({"name", "shapes", "values"})
    shapes_node = node.child("shapes")
    shapes: dict[str, tuple[int, ...]] = {}
    for arg in args:
        if arg.kind == "value":
            continue
        dims = shapes_node.get(arg.name, list)
        if not all(isinstance(d, int) and not isinstance(d, bool) and d > 0 for d in dims):
            raise shapes_node.fail(arg.name, f"expected a list of positive ints, got {dims!r}")
        shapes[arg.name] = tuple(dims)
    shapes_node.only(set(shapes))
    values_node = node.child("values")
    value_args = {a.name: a for a in args if a.kind == "value"}
    values_node.only(set(value_args))
    values = {name: _plain(values_node.data[name]) if name in values_node.data else arg.default
              for name, arg in value_args.items()}
    return CaseSpec(name=node.get("name", str), shapes=shapes, values=values, hidden=hidden)


def _with_hidden(targets: list[TargetSpec], path: Path) -> list[TargetSpec]:
    if not path.is_file():
        return targets
    node = Node(load_yaml(path), path)
    node.only({"targets"})
    extra = node.child("targets")
    by_name = {t.name: t for t in targets}
    extra.only(set(by_name))
    out = []
    for target in targets:
        if not extra.has(target.name):
            out.append(target)
            continue
        tnode = extra.child(target.name)
        tnode.only({"cases"})
        cases = tuple(_case(c, target.args, hidden=True) for c in tnode.children("cases"))
        out.append(replace(target, cases=target.cases + cases))
    return out


def _tolerance(node: Node, base: Tolerance) -> Tolerance:
    node.only({"rtol", "atol"})
    return Tolerance(rtol=node.positive("rtol", float, base.rtol), atol=node.positive("atol", float, base.atol))


def _fd(node: Node, base: FiniteDifferences) -> FiniteDifferences:
    node.only({"eps", "rtol", "atol", "directions", "coordinates"})
    return FiniteDifferences(
        eps=node.positive("eps", float, base.eps), rtol=node.positive("rtol", float, base.rtol),
        atol=node.positive("atol", float, base.atol), directions=node.positive("directions", int, base.directions),
        coordinates=node.get("coordinates", int, base.coordinates),
    )


def _limits(node: Node) -> Limits:
    node.only({"wall_seconds", "memory_mb", "processes", "file_mb", "output_kb", "open_files"})
    base = Limits()
    return Limits(
        wall_seconds=node.positive("wall_seconds", float, base.wall_seconds),
        memory_mb=node.positive("memory_mb", int, base.memory_mb),
        processes=node.positive("processes", int, base.processes),
        file_mb=node.positive("file_mb", int, base.file_mb),
        output_kb=node.positive("output_kb", int, base.output_kb),
        open_files=node.positive("open_files", int, base.open_files),
    )


def _plain(value: Any) -> Any:
    """YAML lists become tuples, so a ``dim: [0, 2]`` reaches the forward as ``(0, 2)``."""
    if isinstance(value, list):
        return tuple(_plain(v) for v in value)
    return value
