"""Between the trusted checks and the sandbox: what to ask the child, and what its answer means.

:func:`build_job` turns one target's cases into a job holding only that target's inputs, upstream
gradients and finite-difference directions (no references, no other targets, no specs), with the
fingerprints of the arrays it holds, so that a child whose inputs are unchanged can say so without hashing
them again (:func:`sent_digests`; computed once per case).
:func:`observe` turns the child's reply into :class:`Observation` objects, one per case, validating every
key, shape and dtype on the way; anything missing or malformed becomes a :class:`Failure`, never a crash.
"""

from __future__ import annotations

import signal
import uuid
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from grader.cases import Case
from grader.sandbox.client import ChildRun
from grader.sandbox.protocol import digest
from grader.spec import Limits, TargetSpec


@dataclass(frozen=True)
class Failure:
    """Why something produced no usable numbers: a CONTRACT section 5 code and a message (and, where the code's
    usual hint would not fit, the hint to show instead)."""

    code: str
    message: str
    hint: str = ""


@dataclass(frozen=True)
class Call:
    """One raw ``backward(ctx, upstream[k])``.

    Attributes:
        failure: set when backward raised.
        is_tuple: whether backward returned a tuple/list (a bare tensor counts as one entry).
        entries: what each returned entry was (``type``, ``dtype``, ``shape``, ``device``).
        grads: the values of the tensor entries, by position.
        upstream_changed: grad_output was modified in place.
        inputs_changed: which forward arguments were modified in place.
        saved_changed: a saved tensor was modified in place.
        is_list: the sequence backward returned was a list, which the autograd engine rejects.
    """

    failure: Failure | None = None
    is_tuple: bool = True
    entries: tuple[dict[str, Any], ...] = ()
    grads: dict[int, np.ndarray] = field(default_factory=dict)
    upstream_changed: bool = False
    inputs_changed: tuple[bool, ...] = ()
    saved_changed: bool = False
    is_list: bool = False


@dataclass(frozen=True)
class Observation:
    """Everything the child reported for one case.

    Attributes:
        failure: the whole case failed (load error, crash, timeout, limit); nothing else is set.
        forward_failure: the forward raised.
        output: the student's forward output.
        output_kind: description of the forward's return value.
        forward_changed: which arguments the forward modified in place.
        calls: one per upstream gradient of the case.
        fd: for each differentiable argument index, the central-difference JVPs ``J v`` per direction, or a
            failure.
        forbidden: what the child's integrity watch saw (backward kernels, the autograd engine, nudged
            inputs...), in words for the student.
        ops: tensor operations run by one forward and by the longest backward, for the slowness note.
    """

    failure: Failure | None = None
    forward_failure: Failure | None = None
    output: np.ndarray | None = None
    output_kind: dict[str, Any] = field(default_factory=dict)
    forward_changed: tuple[bool, ...] = ()
    calls: tuple[Call, ...] = ()
    fd: dict[int, tuple[np.ndarray, ...] | Failure] = field(default_factory=dict)
    forbidden: tuple[str, ...] = ()
    ops: tuple[int, int] = (0, 0)


def build_job(module: str, target: TargetSpec, cases: list[Case], training: dict[str, np.ndarray] | None = None
              ) -> tuple[dict[str, Any], dict[str, np.ndarray]]:
    nonce = uuid.uuid4().hex
    header: dict[str, Any] = {
        "nonce": nonce, "module": module, "target": target.name,
        "args": [{"name": a.name, "kind": a.kind} for a in target.args], "cases": [],
    }
    arrays: dict[str, np.ndarray] = {}
    for ci, case in enumerate(cases):
        values = {}
        for ai, (arg, value) in enumerate(zip(target.args, case.args, strict=True)):
            if arg.kind == "value":
                values[arg.name] = list(value) if isinstance(value, tuple) else value
            else:
                arrays[f"c{ci}.a{ai}"] = value
        for k, u in enumerate(case.upstream):
            arrays[f"c{ci}.u{k}"] = u
        for ai, dirs in case.directions.items():
            for m, v in enumerate(dirs):
                if case.coordinates[ai][m] is None:
                    arrays[f"c{ci}.d{ai}.{m}"] = v
        args_sent, upstream_sent = sent_digests(case)
        digests = {f"a{ai}": d for ai, d in enumerate(args_sent) if d is not None}
        digests.update({f"u{k}": d for k, d in enumerate(upstream_sent)})
        header["cases"].append({"values": values, "calls": len(case.upstream), "eps": target.fd.eps,
                                "fd": {str(ai): len(d) for ai, d in case.directions.items()},
                                "coords": {str(ai): list(c) for ai, c in case.coordinates.items()},
                                "digests": digests})
    if training is not None and target.training is not None:
        arrays.update(training)
        header["training"] = {"steps": target.training.steps, "lr": target.training.lr,
                              "params": [i for i in range(1, len(target.args))]}
    return header, arrays


def sent_digests(case: Case) -> tuple[tuple[str | None, ...], tuple[str, ...]]:
    """Fingerprints of the case's array arguments (``None`` for python values) and of its upstream gradients,
    against which the child's reports of in-place changes are compared."""
    return case.once("sent_digests", lambda: (
        tuple(digest(a) if isinstance(a, np.ndarray) else None for a in case.args),
        tuple(digest(u) for u in case.upstream)))


def observe_training(run: ChildRun, limits: Limits) -> np.ndarray | Failure:
    """The loss after each SGD step of the ``training`` check, or why there is none."""
    whole = _run_failure(run, limits)
    if whole is None and run.header.get("load"):
        whole = failure_from_error(run.header["load"], "loading your module")
    if whole is not None:
        return whole
    record = run.header.get("training")
    if not isinstance(record, dict):
        return Failure("crashed", "the training run was not reported")
    if record.get("error"):
        return failure_from_error(record["error"], "training a network with your backward")
    losses = run.arrays.get("t.loss")
    if losses is None or losses.ndim != 1 or losses.dtype != np.float64 or not losses.size:
        return Failure("crashed", "the training losses were not reported")
    return losses


def observe(run: ChildRun, target: TargetSpec, cases: list[Case], limits: Limits) -> list[Observation]:
    """One observation per case; a run that produced no result fails every case the same way."""
    whole = _run_failure(run, limits)
    if whole is None and run.header.get("load"):
        whole = failure_from_error(run.header["load"], "loading your module")
    if whole is None and len(run.header.get("cases", [])) != len(cases):
        whole = Failure("crashed", "the grading process returned results for the wrong number of cases")
    if whole is not None:
        return [Observation(failure=whole) for _ in cases]
    return [_case(run, ci, record, target, case) for ci, (record, case) in enumerate(
        zip(run.header["cases"], cases, strict=True))]


def _run_failure(run: ChildRun, limits: Limits) -> Failure | None:
    if run.timed_out:
        return Failure("timeout", f"your code ran longer than the time limit of {limits.wall_seconds:g} s "
                                  "and was stopped: an infinite loop, or a very slow loop over elements?")
    if run.overflow:
        return Failure("resource_limit", "your code produced more result data than the grader accepts")
    if run.signal is not None:
        name = signal.Signals(run.signal).name if run.signal in signal.Signals.__members__.values() else str(run.signal)
        if run.signal == signal.SIGXCPU:
            return Failure("timeout", f"your code used more CPU time than the limit of {limits.wall_seconds:g} s "
                                      "and was stopped: an infinite loop?")
        if run.signal == signal.SIGXFSZ:
            return Failure("resource_limit", f"your code wrote more than the file-size limit of "
                                             f"{limits.file_mb} MiB (printed or saved too much)")
        return Failure("crashed", f"your code's process was killed by signal {name}")
    if not run.header:
        detail = f" ({run.problem})" if run.problem else ""
        return Failure("crashed", f"your code ended the grading process (exit status {run.exit_code}) before it "
                                  f"could report: sys.exit, os._exit or a crash?{detail}")
    return None


def failure_from_error(error: Any, during: str) -> Failure:
    if not isinstance(error, dict):
        return Failure("crashed", f"unreadable error report while {during}")
    kind = str(error.get("kind", "exception"))
    frames = [str(f) for f in error.get("frames", [])][-8:]
    text = f"{error.get('type', 'Error')}: {error.get('message', '')}".strip()
    where = ("\n  " + "\n  ".join(frames)) if frames else ""
    if kind == "not_implemented":
        return Failure("not_implemented", f"backward still raises NotImplementedError: not attempted yet ({text})")
    if kind == "exit":
        return Failure("crashed", f"your code called sys.exit while {during} ({text}){where}")
    if kind == "resource":
        return Failure("resource_limit", f"your code ran out of a resource while {during}: {text}{where}")
    return Failure("exception", f"{text} (while {during}){where}")


def _case(run: ChildRun, ci: int, record: Any, target: TargetSpec, case: Case) -> Observation:
    """One case of the child's report. The child runs student code, so a report of the wrong shape is the
    student's crash, never the grader's."""
    try:
        return _read_case(run, ci, record, target, case)
    except (TypeError, ValueError, KeyError, AttributeError, IndexError):
        return Observation(failure=Failure("crashed", "the sandboxed process sent back a report that cannot be read"))


def _read_case(run: ChildRun, ci: int, record: Any, target: TargetSpec, case: Case) -> Observation:
    if not isinstance(record, dict) or not isinstance(record.get("forward"), dict):
        return Observation(failure=Failure("crashed", "the grading process returned a malformed case"))
    forward = record["forward"]
    if not forward.get("ok"):
        return Observation(forward_failure=failure_from_error(forward, "running forward"))
    output = _array(run, f"c{ci}.out", None)
    sent = list(sent_digests(case)[0])
    forward_changed = _changed(sent, record.get("inputs_after_forward"))
    calls = []
    for k, call in enumerate(record.get("calls", [])[: len(case.upstream)]):
        calls.append(_call(run, ci, k, call, sent, case))
    fd: dict[int, tuple[np.ndarray, ...] | Failure] = {}
    for item in record.get("fd", []):
        ai = int(item.get("input", -1)) if isinstance(item, dict) else -1
        if ai not in case.directions:
            continue
        if item.get("error"):
            fd[ai] = failure_from_error(item["error"], f"running your forward for finite differences of "
                                                       f"{target.args[ai].name}")
            continue
        stacked = _array(run, f"c{ci}.j{ai}", (len(case.directions[ai]), *case.output.shape))
        fd[ai] = Failure("crashed", "finite differences missing") if stacked is None else tuple(stacked)
    forbidden = tuple(str(x) for x in record.get("forbidden", []))
    counts = record.get("ops")
    ops = (_count(counts.get("forward")), _count(counts.get("backward"))) if isinstance(counts, dict) else (0, 0)
    return Observation(output=output, output_kind=forward, forward_changed=forward_changed, calls=tuple(calls),
                       fd=fd, forbidden=forbidden, ops=ops)


def _count(value: Any) -> int:
    return value if isinstance(value, int) and not isinstance(value, bool) and value >= 0 else 0


def _call(run: ChildRun, ci: int, k: int, call: Any, sent: list[str | None], case: Case) -> Call:
    if not isinstance(call, dict):
        return Call(failure=Failure("crashed", "malformed backward report"))
    if call.get("error"):
        return Call(failure=failure_from_error(call["error"], "running backward"))
    raw = call.get("entries", [])
    entries = tuple(_entry(e) for e in (raw if isinstance(raw, list) else []))
    grads = {}
    for j, entry in enumerate(entries):
        if entry.get("type") == "tensor":
            arr = _array(run, f"c{ci}.k{k}.g{j}", tuple(int(d) for d in entry.get("shape", ())))
            if arr is not None:
                grads[j] = arr
    upstream_changed = call.get("grad_output_after") != sent_digests(case)[1][k]
    return Call(is_tuple=bool(call.get("tuple")), entries=entries, grads=grads, upstream_changed=upstream_changed,
                inputs_changed=_changed(sent, call.get("inputs_after")),
                saved_changed=any(bool(x) for x in call.get("saved_changed", [])), is_list=call.get("list") is True)


def _entry(entry: Any) -> dict[str, Any]:
    """A returned gradient as the child described it, or ``other`` when the description is malformed.

    The child runs student code, so nothing it says is trusted: a tensor's shape must be a list of
    non-negative ints and its dtype and device strings.
    """
    if not isinstance(entry, dict) or entry.get("type") not in ("tensor", "none", "other"):
        return {"type": "other", "typename": "unreadable"}
    if entry["type"] != "tensor":
        name = entry.get("typename")
        return {"type": entry["type"], **({"typename": name[:60]} if isinstance(name, str) else {})}
    shape = entry.get("shape")
    fields_ok = isinstance(entry.get("dtype"), str) and isinstance(entry.get("device"), str)
    if not (isinstance(shape, list) and fields_ok and all(_count(d) == d for d in shape) and len(shape) <= 16):
        return {"type": "other", "typename": "unreadable"}
    return entry


def _changed(sent: list[str | None], after: Any) -> tuple[bool, ...]:
    if not isinstance(after, list) or len(after) != len(sent):
        return tuple(s is not None for s in sent)
    return tuple(s is not None and s != a for s, a in zip(sent, after, strict=True))


def _array(run: ChildRun, key: str, shape: tuple[int, ...] | None) -> np.ndarray | None:
    arr = run.arrays.get(key)
    if arr is None or arr.dtype != np.float64 or (shape is not None and tuple(arr.shape) != tuple(shape)):
        return None
    return arr
