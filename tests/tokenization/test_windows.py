import pytest
from hypothesis import given
from hypothesis import strategies as st

from spacy_repsl.tokenization.windows import plan_windows


def test_short_input_is_one_window():
    assert [tuple(w.__dict__.values()) for w in plan_windows(5, 8)] == [(0, 5, 0, 5)]


@given(st.integers(1, 2000), st.integers(2, 300), st.data())
def test_windows_partition_cores_and_keep_context(n, max_length, data):
    context = data.draw(st.integers(0, (max_length - 1) // 2))
    boundaries = sorted(data.draw(st.sets(st.integers(1, max(1, n - 1)), max_size=30)))
    windows = plan_windows(n, max_length, context, boundaries)
    assert windows[0].core_start == 0 and windows[-1].core_end == n
    for a, b in zip(windows, windows[1:]):
        assert a.core_end == b.core_start
    for w in windows:
        assert 0 <= w.start <= w.core_start < w.core_end <= w.end <= n
        assert w.end - w.start <= max_length
        assert w.core_start - w.start >= min(context, w.core_start)
        assert w.end - w.core_end >= min(context, n - w.core_end)


def test_bad_settings():
    with pytest.raises(ValueError, match="at least 1"):
        plan_windows(3, 0)
    with pytest.raises(ValueError, match="below half"):
        plan_windows(3, 8, 4)
