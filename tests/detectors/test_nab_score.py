"""The NAB goal as a regression test: the default detector through the alert layer (`alert_analyst`), run
over all 58 files, scored by our scorer."""

import pytest

from bench.nab import run, score
from tests.support.paths import SHARED

NAB = SHARED / "nab"

pytestmark = pytest.mark.skipif(not NAB.exists(), reason="NAB data not present")


@pytest.fixture(scope="module")
def nab_scores(tmp_path_factory):
    out = tmp_path_factory.mktemp("nab")
    run(NAB / "data", out, "alert_analyst", processes=2)
    return score(
        out / "alert_analyst",
        NAB / "labels" / "combined_windows.json",
        NAB / "config" / "profiles.json",
        None,
    )


def test_alert_analyst_reaches_the_issue_13_goal_on_standard(nab_scores):
    assert nab_scores["standard"] >= 72.0


def test_alert_analyst_does_not_fall_below_its_measured_nab_scores(nab_scores):
    # measured 72.8 / 63.3 / 79.0 (session 34: a calm step in a smooth series); 72.1 / 62.5 / 78.2 before,
    # 72.9 / 62.4 / 79.1 before the sudden step of smooth series (session 24)
    assert nab_scores["standard"] >= 72.5
    assert nab_scores["reward_low_FP_rate"] >= 63.0
    assert nab_scores["reward_low_FN_rate"] >= 78.5
