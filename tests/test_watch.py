"""The watch's own arithmetic: its fast paths decide exactly what its torch paths decide."""

from __future__ import annotations

import pytest
import torch

from grader.sandbox.watch import SMALL_STEP, _screen


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
        assert _screen(rows.numpy(), original.numpy()) == want, (trial, rows, original)
