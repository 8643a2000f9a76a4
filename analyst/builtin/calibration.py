"""Confidence of hypotheses, and how well it is calibrated.

Ranking scores become probabilities by a softmax over the candidates plus a "none of these" option,
so a lone strong candidate gets high confidence and several close ones share it. TEMPERATURE and
NONE_SCORE were chosen on the PetShop train split and the scenario tests (see docs/benchmarks/petshop.md).
"""

from __future__ import annotations

import math
from collections.abc import Sequence

TEMPERATURE = 0.08
NONE_SCORE = 0.45
FLOOR, CEILING = 0.02, 0.97
NO_EVIDENCE_CONFIDENCE = 0.05
# When only the alert's own series moved, its category is a guess from the symptom itself; so is a
# component's when its strongest change is its wait on what it calls (outbound latency), and there is
# none when that change is of no kind a category names ("Undetermined cause: X"): where, not what.
SELF_CAUSE_CEILING = 0.5


def confidences_from_scores(scores: Sequence[float]) -> list[float]:
    """Probability that each candidate is the cause, given all candidates' ranking scores."""
    if not scores:
        return []
    top = max(*scores, NONE_SCORE)
    weights = [math.exp((s - top) / TEMPERATURE) for s in scores]
    total = sum(weights) + math.exp((NONE_SCORE - top) / TEMPERATURE)
    return [min(CEILING, max(FLOOR, w / total)) for w in weights]


def expected_calibration_error(confidences: Sequence[float], hits: Sequence[bool], bins: int = 10) -> float:
    """ECE: |accuracy - mean confidence| per equal-width confidence bin, weighted by bin size."""
    if len(confidences) != len(hits):
        raise ValueError("confidences and hits must have the same length")
    if not confidences:
        return 0.0
    total = 0.0
    for b in range(bins):
        lo, hi = b / bins, (b + 1) / bins
        members = [i for i, c in enumerate(confidences) if lo <= c < hi or (b == bins - 1 and c == 1.0)]
        if members:
            accuracy = sum(1.0 for i in members if hits[i]) / len(members)
            mean_conf = sum(confidences[i] for i in members) / len(members)
            total += len(members) * abs(accuracy - mean_conf)
    return total / len(confidences)
