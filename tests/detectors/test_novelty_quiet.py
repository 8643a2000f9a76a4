"""The quiet period after an alarm only zeroes scores: what the scorer learns, and so every score outside
a quiet period, is the same as without it."""

import numpy as np

from detectors import DetectionRule
from detectors.novelty import QUIET_SHARE, TailNoveltyScorer


def _with_quiet_periods(scores: list[float], quiet_len: int) -> list[float]:
    """The scores as the quiet period leaves them: 0 for the points after an alarm (>= 0.5)."""
    out, quiet = [], 0
    for seen, score in enumerate(scores):
        if quiet > 0:
            out.append(0.0)
            quiet -= 1
            continue
        out.append(score)
        if score >= 0.5:
            quiet = max(quiet_len, int(QUIET_SHARE * seen))
    return out


def test_the_quiet_period_zeroes_scores_and_changes_nothing_else():
    rng = np.random.default_rng(4)
    x = rng.normal(100.0, 2.0, 6_000) + np.repeat(rng.normal(0, 5, 30), 200)  # shifts: many alarms
    x[rng.integers(0, 6_000, 40)] += rng.choice([-40.0, 40.0], 40)
    t = 60.0 * np.arange(x.size)  # timestamps: the daily terms take part after the first day
    rule = DetectionRule("n", method="novelty", window_size=20)
    quiet, loud = TailNoveltyScorer(rule), TailNoveltyScorer(rule, quiet=False)
    got = [quiet.update(v, ts) for v, ts in zip(x.tolist(), t.tolist(), strict=True)]
    raw = [loud.update(v, ts) for v, ts in zip(x.tolist(), t.tolist(), strict=True)]
    assert sum(s >= 0.5 for s in got) >= 5 and sum(s == 0 for s in got) > 400
    assert got == _with_quiet_periods(raw, quiet.quiet_len)
