"""`python -m bench.recall` runs as documented: each way's lookup times, then what the two found."""

from __future__ import annotations

import re

import pytest

from bench import recall


def test_a_small_history_prints_both_ways_and_what_they_found(capsys: pytest.CaptureFixture[str]) -> None:
    assert recall.main(["--incidents", "400", "--lookups", "12"]) == 0

    out = capsys.readouterr().out
    assert "400 remembered incidents of 45 corpus alerts" in out
    medians = re.findall(r"^  (common words left out|every word \(before\)) +median +([\d.]+) ms", out, re.M)
    assert [name for name, _ in medians] == ["common words left out", "every word (before)"]
    found = re.search(r"the same top ten in (\d+) of 12 lookups; .* mean ([\d.]+) against ([\d.]+)", out)
    assert found is not None and 0 <= int(found[1]) <= 12
    # a past incident is similar from 0.7, of which the text gives at most 0.1: its signature from 0.6 / 0.9
    assert 0.66 <= float(found[2]) <= 1.0 and 0.66 <= float(found[3]) <= 1.0


def test_nothing_to_remember_is_refused(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit):
        recall.main(["--incidents", "0"])
    assert "--incidents and --lookups must be at least 1" in capsys.readouterr().err
