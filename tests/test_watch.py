"""The watch's own arithmetic: its fast paths decide exactly what its torch paths decide."""

from __future__ import annotations

import pytest
import torch

from grader.sandbox.watch import SMALL_STEP, Stacks, _original


def _torch_screen(rows: torch.Tensor, original: torch.Tensor) -> bool:
    scale = float(torch.amax(torch.abs(original)))
    head = rows[:, :2] - original[:, :2]
    first, second = head[:, 0], head[:, 1]
    maybe = (first == 0) | (second == 0) | (first == second)
    if scale > 0:
        maybe = maybe | (torch.abs(first) <= SMALL_STEP * scale)
    return bool(maybe.any())


@pytest.mark.parametrize("dtype", [torch.float16, torch.float32, torch.float64])
def test_the_numpy_screen_of_stacked_rows_decides_as_torch_does(dtype: torch.dtype) -> None:
    """Random rows, and rows built to sit on each edge of the screen: a zero or equal first difference, a first
    difference at the small-step limit (just inside and just outside, after rounding to the dtype), NaN. The
    rows sit in a longer flat tensor after a few other elements, as the watch meets them; the screen of every
    way they could be stacked there is one gather, which must keep this way exactly when torch's test passes."""
    gen = torch.Generator().manual_seed(0)
    for trial in range(300):
        n, k, pad = 2 + trial % 5, 2 + trial % 3, trial % 2
        original = torch.randn(1, n, generator=gen, dtype=torch.float64).to(dtype)
        rows = torch.randn(k, n, generator=gen, dtype=torch.float64).to(dtype) * 3
        edge = trial % 7
        scale = float(original.abs().max())
        if edge == 1:
            rows[0, 0] = original[0, 0]
        elif edge == 2:
            rows[0, :2] = original[0, :2] + 0.5
        elif edge in (3, 4):
            limit = SMALL_STEP * scale * (1 + (-1) ** edge * 1e-3)
            rows[0, 0] = original[0, 0] + limit
        elif edge == 5:
            rows[-1, 1] = float("nan")
        elif edge == 6:
            original[0, :] = 0
        want = _torch_screen(rows, original)
        flat = torch.cat([rows.new_full((pad,), 7.0), rows.reshape(-1)])
        stacks = Stacks([_original(original.reshape(-1))], dtype, flat.numel())
        kept = {offset for _, _, _, offset in stacks.candidates(flat.numpy(), probe=False)}
        assert (pad in kept) == want, (trial, rows, original)


def _layouts(dtype: torch.dtype) -> list[torch.Tensor]:
    """Tensors as the child meets them: fresh, requiring grad, transposed, sliced from an offset, stepped, expanded
    (stride 0), empty, a single number."""
    base = torch.randn(6, 5, dtype=torch.float64, generator=torch.Generator().manual_seed(1)).to(dtype)
    grad = base.clone().requires_grad_(True)
    return [base, grad * 2, base.t(), base[2:, 1:4], base[::2, ::3], base[1].expand(4, 5), base[:0],
            base[3, 2], base.reshape(-1)[7:]]


@pytest.mark.parametrize("dtype", [torch.float16, torch.float32, torch.float64])
def test_reading_a_tensor_from_its_memory_gives_what_torch_reads(dtype: torch.dtype) -> None:
    from grader.sandbox.memory import host_array, snapshot

    for tensor in _layouts(dtype):
        values = host_array(tensor)
        assert values is not None
        want = tensor.detach().numpy()
        assert values.dtype == want.dtype and values.shape == want.shape
        assert values.tobytes() == want.tobytes()
        assert not values.flags.writeable
        kept = snapshot(tensor)
        assert kept is not None and kept.flags.c_contiguous and kept.tobytes() == want.reshape(-1).tobytes()


def test_what_numpy_cannot_read_from_memory_is_left_to_torch() -> None:
    """A tensor whose storage was shrunk under it, bfloat16 (no numpy dtype), integers, the meta device (no memory),
    a lazily negated view and a subclass."""
    from grader.sandbox.memory import host_array

    class Mine(torch.Tensor):
        pass

    x = torch.randn(3)
    shrunk = torch.randn(1000, dtype=torch.float64)[10:]
    shrunk.untyped_storage().resize_(16)  # its memory taken away under it: reading it would reach past the end
    for tensor in (shrunk, x.to(torch.bfloat16), torch.arange(3), torch.empty(3, device="meta"), torch._neg_view(x),
                   x.as_subclass(Mine), 2.0):
        assert host_array(tensor) is None


def test_stacked_copies_are_found_after_an_episode_of_other_inputs_of_the_same_size() -> None:
    """The ways to stack copies are kept while a case's calls repeat the same inputs; inputs of the same size but
    other values (the next case) must be screened with their own first elements, not the last case's."""
    from grader.sandbox.watch import FINITE_DIFFERENCES, IntegrityWatch

    watch = IntegrityWatch()
    gen = torch.Generator().manual_seed(3)
    for _case in range(3):
        x = torch.randn(6, dtype=torch.float64, generator=gen) * 4
        for _call in range(2):
            watch.findings = set()
            watch.episode([x.clone()])
            with torch.no_grad(), watch.active(), watch.phase("backward"):
                (x + 1.0) * 3.0  # honest work on tensors of other sizes
                stacked = torch.stack([x + 1e-4, x - 1e-4])  # f(x ± h) in one call
                torch.sin(stacked)
            assert watch.findings == {FINITE_DIFFERENCES}


def test_with_the_job_arrays_given_the_screen_keeps_them_and_still_finds_stacked_copies() -> None:
    """The runner gives each episode the job's arrays its inputs were copied from: the watch keeps those (no copy
    of its own) and reuses what it worked out of them for every call of the case; a given array that does not
    match its input (another dtype or size) is not trusted, and the input is copied as before."""
    import numpy as np

    from grader.sandbox.watch import FINITE_DIFFERENCES, IntegrityWatch

    watch = IntegrityWatch()
    gen = torch.Generator().manual_seed(5)
    for _case in range(2):
        source = (torch.randn(6, dtype=torch.float64, generator=gen) * 4).numpy()
        source.flags.writeable = False  # as mapped from the job's sealed segment
        kept = []
        for _call in range(2):
            watch.findings = set()
            x = torch.from_numpy(source.copy())
            watch.episode([x, 2.0], sources=[source, None])
            kept.append(watch._inputs[0])
            with torch.no_grad(), watch.active(), watch.phase("backward"):
                torch.sin(torch.stack([x + 1e-4, x - 1e-4]))
            assert watch.findings == {FINITE_DIFFERENCES}
        assert np.shares_memory(kept[0][0], source) and kept[0] is kept[1]
    for wrong in (source.astype(np.float32), source[:5]):
        watch.episode([torch.from_numpy(source.copy())], sources=[wrong])
        assert not np.shares_memory(watch._inputs[0][0], wrong)
        assert np.array_equal(watch._inputs[0][0], source)


def test_read_only_values_become_a_tensor_of_their_own_without_a_warning() -> None:
    import warnings

    import numpy as np

    from grader.sandbox.memory import as_tensor

    values = np.arange(4.0)
    values.flags.writeable = False
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # torch warns (in the student's output) for a tensor of read-only memory
        tensor = as_tensor(values)
    assert tensor.tolist() == [0.0, 1.0, 2.0, 3.0] and not np.shares_memory(tensor.numpy(), values)
    writable = np.arange(3.0)
    assert np.shares_memory(as_tensor(writable).numpy(), writable)


def test_the_graders_own_tensors_are_made_unseen_with_the_collector_off(monkeypatch: pytest.MonkeyPatch) -> None:
    """A tensor the grader makes from its arrays skips the watch's handler (~25 µs each, some 360 a run), and no
    collection, which could run a student's finalizer unwatched, can start while it is made."""
    import gc

    import numpy as np
    from torch.utils._python_dispatch import TorchDispatchMode

    from grader.sandbox import memory

    class Seen(TorchDispatchMode):
        def __init__(self) -> None:
            super().__init__()
            self.ops: list[str] = []

        def __torch_dispatch__(self, func, types, args=(), kwargs=None):  # type: ignore[no-untyped-def]
            self.ops.append(str(func))
            return func(*args, **(kwargs or {}))

    collector: list[bool] = []
    real = memory._from_numpy
    monkeypatch.setattr(memory, "_from_numpy", lambda array: collector.append(gc.isenabled()) or real(array))
    array = np.arange(6.0).reshape(2, 3)
    for enabled in (True, False):
        (gc.enable if enabled else gc.disable)()
        try:
            with Seen() as mode:
                made = memory.tensor_of(array)
                torch.from_numpy(array)  # the way that is seen
            assert gc.isenabled() is enabled  # as it was
        finally:
            gc.enable()
        assert mode.ops == ["aten.lift_fresh.default"] and collector[-1] is False
        assert made.data_ptr() == array.ctypes.data and made.tolist() == array.tolist()
