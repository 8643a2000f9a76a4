import json

import pytest

from bench.nab import score
from tests.support.paths import SHARED

NAB = SHARED / "nab"
PUBLISHED = json.loads((NAB / "results" / "final_results.json").read_text()) if NAB.exists() else {}

pytestmark = pytest.mark.skipif(not NAB.exists(), reason="NAB data not present")


@pytest.mark.parametrize("detector", ["numenta", "windowedGaussian"])
def test_scorer_reproduces_published_scores_at_stored_thresholds(detector):
    got = score(
        NAB / "results" / detector,
        NAB / "labels" / "combined_windows.json",
        NAB / "config" / "profiles.json",
        NAB / "config" / "thresholds.json",
    )
    for profile in ("standard", "reward_low_FP_rate", "reward_low_FN_rate"):
        assert got[profile] == pytest.approx(PUBLISHED[detector][profile], abs=0.01)


def test_threshold_sweep_finds_the_documented_better_low_fp_threshold_for_numenta():
    got = score(
        NAB / "results" / "numenta",
        NAB / "labels" / "combined_windows.json",
        NAB / "config" / "profiles.json",
        None,
    )
    assert got["reward_low_FP_rate"] == pytest.approx(63.21, abs=0.01)
    assert got["standard"] == pytest.approx(70.10, abs=0.01)
