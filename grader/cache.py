"""A disk cache of computed cases, so that a repeated run needs no torch in the grading process.

Cases depend only on the target's spec, the seed, the number of upstream gradients and the versions of the
grader and torch, so those are hashed into the key. Files live under ``$GRADER_CACHE``, else
``$XDG_CACHE_HOME/grader``, else ``~/.cache/grader``. Anything unreadable is treated as a miss; a cache that
cannot be written is skipped silently.

A file is the arrays laid out flat (:mod:`grader.layout`) after a 64-byte header
(``b"GRADECAS"``, the offset and length of the JSON index, which follows the arrays), and is *mapped*, not
read: loading a case of 10⁶ elements costs no copy and no checksum, and pages that no check looks at (the
VJP under ``u = 1``, needed only to explain a failure) are never read from disk. The arrays are read-only.
Files are written whole to a temporary name and renamed, so a mapping never sees a file change. Unit
directions (``e_i``) are not stored: their index is, and they are rebuilt from it.

Each case's :attr:`~grader.cases.Case.derived` values named in :data:`KEPT` (the catalogue's gradients and the
slopes at the output, worked out with torch by :func:`grader.reference.derive`) are stored too, ``None``
included, and put back on load, so the checks find them and grading a wrong submission imports no torch.
"""

from __future__ import annotations

import functools
import hashlib
import json
import mmap
import os
import struct
import tempfile
from collections.abc import Callable
from importlib import metadata
from pathlib import Path
from typing import Any

import numpy as np

from grader import __version__
from grader.cases import Case
from grader.layout import as_bytes, entries, place, views
from grader.spec import ExerciseSpec, TargetSpec

FORMAT = 3
KEPT = ("catalogue.", "slope_at_output.")
"""The prefixes of the :attr:`~grader.cases.Case.derived` names saved with a case: the values only torch computes.
A value is ``None``, an array or a tuple of arrays."""
_MAGIC = b"GRADECAS"
_HEAD = struct.Struct("<8sQQ")
_START = 64


def directory() -> Path:
    if os.environ.get("GRADER_CACHE"):
        return Path(os.environ["GRADER_CACHE"])
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "grader"


@functools.cache
def _torch_version() -> str:
    """torch's version, read once per process (the metadata lookup parses a file: ~13 ms, per case key before)."""
    try:
        return metadata.version("torch")
    except metadata.PackageNotFoundError:
        return "unknown"


def key(exercise: ExerciseSpec, target: TargetSpec, seed: int, grad_outputs: int) -> str:
    text = json.dumps([FORMAT, __version__, _torch_version(), exercise.id, repr(target), seed, grad_outputs])
    return hashlib.sha256(text.encode()).hexdigest()[:32]


def save(name: str, cases: list[Case]) -> None:
    arrays: dict[str, np.ndarray] = {}
    meta: list[dict[str, Any]] = []
    for ci, case in enumerate(cases):
        values = {}
        for ai, arg in enumerate(case.args):
            if isinstance(arg, np.ndarray):
                arrays[f"c{ci}.a{ai}"] = arg
            else:
                values[str(ai)] = list(arg) if isinstance(arg, tuple) else arg
        arrays[f"c{ci}.out"] = case.output
        for k, (u, grads) in enumerate(zip(case.upstream, case.expected, strict=True)):
            arrays[f"c{ci}.u{k}"] = u
            arrays.update({f"c{ci}.e{k}.{j}": g for j, g in enumerate(grads) if g is not None})
        arrays.update({f"c{ci}.one.{j}": g for j, g in enumerate(case.expected_ones) if g is not None})
        for ai, dirs in case.directions.items():
            arrays.update({f"c{ci}.d{ai}.{m}": v for m, v in enumerate(dirs) if case.coordinates[ai][m] is None})
        meta.append({"values": values, "n_args": len(case.args), "n_up": len(case.upstream),
                     "coords": {str(ai): list(c) for ai, c in case.coordinates.items()},
                     "derived": _save_derived(ci, case.derived, arrays)})
    arrays["meta"] = np.frombuffer(json.dumps(meta).encode(), dtype=np.uint8)
    save_arrays(name, arrays)


def _save_derived(ci: int, derived: dict[str, Any], arrays: dict[str, np.ndarray]) -> list[list[Any]]:
    """Put the kept derived values of case ``ci`` into ``arrays``; their index ``[name, kind, count]``, with kind
    ``"none"``, ``"array"`` (array ``c<ci>.v<n>``) or ``"tuple"`` (arrays ``c<ci>.v<n>.<k>``, ``count`` of them)."""
    kept: list[list[Any]] = []
    for name, value in derived.items():
        if not name.startswith(KEPT):
            continue
        n = len(kept)
        if value is None:
            kept.append([name, "none", 0])
        elif isinstance(value, np.ndarray):
            arrays[f"c{ci}.v{n}"] = value
            kept.append([name, "array", 1])
        elif isinstance(value, tuple) and all(isinstance(v, np.ndarray) for v in value):
            arrays.update({f"c{ci}.v{n}.{k}": v for k, v in enumerate(value)})
            kept.append([name, "tuple", len(value)])
    return kept


def save_arrays(name: str, arrays: dict[str, np.ndarray]) -> None:
    """Write ``arrays`` under ``name``: to a temporary file first, then renamed into place."""
    tmp = None
    try:
        folder = directory()
        folder.mkdir(parents=True, exist_ok=True)
        index, end = place(arrays, _START)
        text = json.dumps(index).encode()
        fd, tmp = tempfile.mkstemp(dir=folder, suffix=".tmp")
        with os.fdopen(fd, "wb") as handle:
            handle.write(_HEAD.pack(_MAGIC, end, len(text)).ljust(_START, b"\0"))
            for label, arr in arrays.items():
                handle.seek(index[label][2])
                handle.write(as_bytes(arr))
            handle.seek(end)
            handle.write(text)
        os.replace(tmp, folder / f"{name}.arrays")
        tmp = None
    except (OSError, ValueError):
        return
    finally:
        if tmp is not None:
            Path(tmp).unlink(missing_ok=True)


def load_arrays(name: str) -> dict[str, np.ndarray] | None:
    """The arrays saved under ``name``, as read-only views of the mapped file; ``None`` for a miss."""
    try:
        with open(directory() / f"{name}.arrays", "rb") as handle:
            size = os.fstat(handle.fileno()).st_size
            memory = mmap.mmap(handle.fileno(), size, access=mmap.ACCESS_READ)
        magic, end, length = _HEAD.unpack_from(memory)
        if magic != _MAGIC or end + length != size:
            return None
        index = json.loads(memory[end:end + length].decode())
        return views(memory, entries(index, _START, end))
    except (OSError, ValueError, struct.error):
        return None


def load(name: str, target: TargetSpec) -> list[Case] | None:
    arrays = load_arrays(name)
    if arrays is None:
        return None
    try:
        meta = json.loads(arrays["meta"].tobytes().decode())
        return [_case(arrays, ci, m, target) for ci, m in enumerate(meta)] if len(meta) == len(target.cases) else None
    except (OSError, KeyError, IndexError, ValueError, TypeError):
        return None


def _case(arrays: dict[str, np.ndarray], ci: int, meta: dict[str, Any], target: TargetSpec) -> Case:
    def get(name: str) -> np.ndarray:
        return arrays[f"c{ci}.{name}"]

    values = meta["values"]
    args = tuple(_value(values[str(ai)]) if str(ai) in values else get(f"a{ai}") for ai in range(meta["n_args"]))
    grad_idx = [ai for ai, a in enumerate(target.args) if a.differentiable]

    def grads(prefix: str) -> tuple[np.ndarray | None, ...]:
        return tuple(get(f"{prefix}.{j}") if j in grad_idx else None for j in range(len(args)))

    coords = {int(ai): tuple(c) for ai, c in meta["coords"].items()}

    def direction(ai: int, m: int, index: int | None) -> np.ndarray:
        return get(f"d{ai}.{m}") if index is None else _unit(args[ai].shape, index)

    case = Case(spec=target.cases[ci], args=args, output=get("out"),
                upstream=tuple(get(f"u{k}") for k in range(meta["n_up"])),
                expected=tuple(grads(f"e{k}") for k in range(meta["n_up"])), expected_ones=grads("one"),
                directions={ai: tuple(direction(ai, m, i) for m, i in enumerate(c)) for ai, c in coords.items()},
                coordinates=coords)
    case.derived.update(_derived(meta["derived"], get))
    return case


def _derived(kept: list[list[Any]], get: Callable[[str], np.ndarray]) -> dict[str, Any]:
    """The derived values :func:`_save_derived` stored, by name (a malformed index raises ``ValueError``)."""
    values: dict[str, Any] = {}
    for n, (name, kind, count) in enumerate(kept):
        if not isinstance(name, str) or not name.startswith(KEPT):
            raise ValueError(f"derived value {str(name)[:40]!r} is not one the cache keeps")
        if kind == "none":
            values[name] = None
        elif kind == "array":
            values[name] = get(f"v{n}")
        elif kind == "tuple" and type(count) is int and count >= 0:
            values[name] = tuple(get(f"v{n}.{k}") for k in range(count))
        else:
            raise ValueError(f"derived value {name} has kind {str(kind)[:20]!r}")
    return values


def _unit(shape: tuple[int, ...], index: int) -> np.ndarray:
    """``e_index`` of the given shape (zeros come from the allocator untouched, so this costs one page)."""
    unit = np.zeros(int(np.prod(shape)), dtype=np.float64)
    unit[int(index)] = 1.0
    return unit.reshape(shape)


def _value(value: Any) -> Any:
    return tuple(_value(v) for v in value) if isinstance(value, list) else value
