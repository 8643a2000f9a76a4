"""`python -m bench.feedback` runs end to end on the trading kinds alone and prints every figure."""

from __future__ import annotations

import pytest

from bench import feedback


def test_bench_prints_accuracy_false_recall_and_tokens(capsys: pytest.CaptureFixture[str]) -> None:
    assert feedback.main(["--petshop", "", "--nezha", "", "--repeats", "2"]) == 0
    out = capsys.readouterr().out
    assert "6 kinds (6 trading, 0 PetShop, 0 Nezha)" in out
    feedback_line = next(line for line in out.splitlines() if "memory + feedback" in line)
    assert "100.0% (12/12)" in feedback_line  # every repeat right once the judge has spoken
    assert "false recall: 0/" in out
    assert "repeats by confirm" in out or "repeats by memory" in out
