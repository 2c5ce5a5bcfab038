"""Element-wise closeness with the tolerance scaled to the reference, and how numbers are shown to students."""

from __future__ import annotations

import numpy as np
import pytest

from grader.compare import all_close, index_text, num, scale_of, worst, worst_text
from grader.spec import Tolerance

TOL = Tolerance(rtol=1e-5, atol=1e-6)


def test_atol_scales_with_the_largest_reference_value():
    want = np.array([1e4, 0.0])
    assert all_close([np.array([1e4, 5e-3])], [want], TOL)       # 5e-3 <= 1e-6 * 1e4
    assert not all_close([np.array([1e4, 2e-2])], [want], TOL)


def test_rtol_is_relative_to_each_element():
    want = np.array([1.0, 100.0])
    assert all_close([want * (1 + 5e-6)], [want], TOL)
    assert not all_close([want * (1 + 5e-4)], [want], TOL)


def test_all_zero_reference_uses_scale_one():
    assert scale_of([np.zeros(3)]) == 1.0
    assert all_close([np.full(3, 5e-7)], [np.zeros(3)], TOL)
    assert not all_close([np.full(3, 5e-6)], [np.zeros(3)], TOL)


def test_every_pair_must_match_and_shapes_must_agree():
    a = np.ones((2, 3))
    assert all_close([a, a], [a, a], TOL)
    assert not all_close([a, a + 1], [a, a], TOL)
    assert not all_close([a.T], [a], TOL)


def test_nan_and_inf_never_count_as_close():
    want = np.array([1.0, 2.0])
    assert not all_close([np.array([np.nan, 2.0])], [want], TOL)
    assert not all_close([np.array([np.inf, 2.0])], [want], TOL)
    assert not all_close([np.array([np.inf, 2.0])], [np.array([np.inf, 2.0])], TOL)  # and warns nothing


def test_worst_finds_the_largest_difference_and_prefers_nan():
    want = np.zeros((2, 3))
    got = want.copy()
    got[1, 2] = 5.0
    assert worst(got, want) == ((1, 2), 5.0, 0.0)
    got[0, 1] = np.nan
    index, value, _ = worst(got, want)
    assert index == (0, 1) and np.isnan(value)
    assert worst_text(got, want) == "worst element at [0, 1]: got nan, expected 0"


@pytest.mark.parametrize(("value", "text"), [
    (0.0, "0"), (1.0, "1"), (-2.5, "-2.5"), (1 / 3, "0.333333"), (1.0000001, "1"), (123456789.0, "1.23457e+08"),
    (float("inf"), "inf"), (float("-inf"), "-inf"), (float("nan"), "nan"),
])
def test_num(value, text):
    assert num(value) == text


def test_index_text():
    assert index_text((1, 2, 3)) == "[1, 2, 3]"
    assert index_text(()) == "[]"
