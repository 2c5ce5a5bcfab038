"""The watch's own arithmetic: its fast paths decide exactly what its torch paths decide."""

from __future__ import annotations

import pytest
import torch

from grader.sandbox.watch import SMALL_STEP, _head, _screen


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
    difference at the small-step limit (just inside and just outside, after rounding to the dtype), NaN."""
    gen = torch.Generator().manual_seed(0)
    for trial in range(300):
        n, k = 2 + trial % 5, 1 + trial % 4
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
        head = _head(original.reshape(-1).numpy())
        assert head is not None
        # the rows as the watch meets them: inside a longer flat tensor, from an offset
        flat = torch.cat([rows.new_full((trial % 3,), 7.0), rows.reshape(-1)]).numpy()
        assert _screen(flat, trial % 3, k, n, head) == want, (trial, rows, original)


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
    """bfloat16 (no numpy dtype), integers, the meta device (no memory), a lazily negated view and a subclass."""
    from grader.sandbox.memory import host_array

    class Mine(torch.Tensor):
        pass

    x = torch.randn(3)
    for tensor in (x.to(torch.bfloat16), torch.arange(3), torch.empty(3, device="meta"), torch._neg_view(x),
                   x.as_subclass(Mine), 2.0):
        assert host_array(tensor) is None
