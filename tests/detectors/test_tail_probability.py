from detectors.tail_probability import SortedHistory, surprise


def _history(values, tolerance):
    h = SortedHistory(tolerance)
    for v in values:
        h.add(v)
    return h


def test_a_new_extreme_is_as_rare_as_the_history_allows():
    h = _history(range(99), tolerance=0.0)
    assert h.upper(1000.0) == 1 / 100
    assert h.two_sided(-5.0) == 2 / 100


def test_a_hair_beyond_the_past_is_not_rare_with_a_tolerance():
    h = _history([float(i % 10) for i in range(200)], tolerance=0.05)
    assert h.two_sided(9.001) > 0.1
    assert h.two_sided(12.0) < 0.02


def test_the_spread_is_the_5_to_95_percent_range():
    h = _history([float(i) for i in range(101)], tolerance=0.1)
    assert h.spread() == 90.0
    assert SortedHistory(0.1).spread() == 0.0


def test_surprise_counts_decades():
    assert surprise(0.001) == 3.0


def test_the_newest_values_wait_outside_the_comparison_set():
    h = SortedHistory(0.0, delay=2)
    for v in [1.0, 2.0, 3.0, 50.0, 51.0]:
        h.add(v)
    assert len(h) == 3
    assert h.upper(50.0) == 1 / 4
