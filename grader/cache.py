"""A disk cache of computed cases, so that a repeated run needs no torch in the grading process.

Cases depend only on the target's spec, the seed, the number of upstream gradients and the versions of the
grader and torch, so those are hashed into the key. Files are ``.npz`` (loaded with ``allow_pickle=False``)
under ``$GRADER_CACHE``, else ``$XDG_CACHE_HOME/grader``, else ``~/.cache/grader``. Anything unreadable
is treated as a miss; a cache that cannot be written is skipped silently.
"""

from __future__ import annotations

import hashlib
import io
import json
import os
import tempfile
from importlib import metadata
from pathlib import Path
from typing import Any

import numpy as np

from grader import __version__
from grader.cases import Case
from grader.spec import ExerciseSpec, TargetSpec

FORMAT = 1


def directory() -> Path:
    if os.environ.get("GRADER_CACHE"):
        return Path(os.environ["GRADER_CACHE"])
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "grader"


def _torch_version() -> str:
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
            arrays.update({f"c{ci}.d{ai}.{m}": v for m, v in enumerate(dirs)})
        meta.append({"values": values, "n_args": len(case.args), "n_up": len(case.upstream),
                     "coords": {str(ai): list(c) for ai, c in case.coordinates.items()}})
    arrays["meta"] = np.frombuffer(json.dumps(meta).encode(), dtype=np.uint8)
    save_arrays(name, arrays)


def save_arrays(name: str, arrays: dict[str, np.ndarray]) -> None:
    try:
        folder = directory()
        folder.mkdir(parents=True, exist_ok=True)
        buf = io.BytesIO()
        np.savez(buf, **arrays)  # type: ignore[arg-type]
        fd, tmp = tempfile.mkstemp(dir=folder, suffix=".tmp")
        with os.fdopen(fd, "wb") as handle:
            handle.write(buf.getvalue())
        os.replace(tmp, folder / f"{name}.npz")
    except OSError:
        return


def load_arrays(name: str) -> dict[str, np.ndarray] | None:
    try:
        with np.load(directory() / f"{name}.npz", allow_pickle=False) as npz:
            return {k: npz[k] for k in npz.files}
    except (OSError, ValueError, EOFError):
        return None


def load(name: str, target: TargetSpec) -> list[Case] | None:
    arrays = load_arrays(name)
    if arrays is None:
        return None
    try:
        meta = json.loads(arrays["meta"].tobytes().decode())
        return [_case(arrays, ci, m, target) for ci, m in enumerate(meta)] if len(meta) == len(target.cases) else None
    except (OSError, KeyError, ValueError, TypeError, json.JSONDecodeError):
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
    return Case(spec=target.cases[ci], args=args, output=get("out"),
                upstream=tuple(get(f"u{k}") for k in range(meta["n_up"])),
                expected=tuple(grads(f"e{k}") for k in range(meta["n_up"])), expected_ones=grads("one"),
                directions={ai: tuple(get(f"d{ai}.{m}") for m in range(len(c))) for ai, c in coords.items()},
                coordinates=coords)


def _value(value: Any) -> Any:
    return tuple(_value(v) for v in value) if isinstance(value, list) else value
