"""`alert-analyst backtest` replays a rule over history and prints the injected anomaly."""

from __future__ import annotations

import math

import pytest

from bench.backtest import keyed, make_series
from demo.processes import ManagedProcess
from receiver.cli.backtest import run_backtest
from receiver.scheduled.backtest import plan_backtest, replay
from receiver.scheduled.settings import DetectionSettings, RuleSettings
from receiver.times import parse_duration, parse_time
from tests.scheduled.conftest import QUERY, Injected


def test_backtest_prints_the_injected_anomaly(prometheus: ManagedProcess, injected: Injected, capsys):
    code = run_backtest(
        [
            "--query",
            QUERY,
            "--from",
            str(injected.end - 3600),
            "--to",
            str(injected.end),
            "--prometheus.url",
            prometheus.url,
            "--lookback",
            "6h",
            "--interval",
            "5m",
            "--method",
            "zscore",
        ]
    )

    out = capsys.readouterr()
    assert code == 0
    assert 'demo_fill_latency_seconds{job="trading",venue="a"}' in out.out
    assert 'venue="b"' not in out.out and 'venue="c"' not in out.out
    assert "1 anomalies would have fired" in out.out
    assert "backtest" in out.err  # the tqdm progress bar
    assert "note:" not in out.out


def test_backtest_prints_the_notes_the_api_gives(prometheus: ManagedProcess, injected: Injected, capsys):
    """A query that returns nothing (a typo) is said to, as `POST /api/v1/backtest` says it."""
    argv = [
        "--query",
        "demo_fill_latncy_seconds",
        "--from",
        str(injected.end - 3600),
        "--to",
        str(injected.end),
    ]
    code = run_backtest([*argv, "--prometheus.url", prometheus.url, "--interval", "5m"])

    out = capsys.readouterr().out
    assert code == 0 and "0 anomalies would have fired" in out
    assert "note: 'demo_fill_latncy_seconds' returned no series over the range" in out


@pytest.mark.parametrize(
    ("floor", "fired"),
    [
        (["--min-delta", "0.2"], 1),
        (["--min-delta", "0.6"], 0),
        (["--min-change", "5"], 1),
        (["--min-change", "12"], 0),
    ],
)
def test_backtest_counts_only_moves_as_large_as_the_floor(
    prometheus: ManagedProcess, injected: Injected, capsys, floor: list[str], fired: int
):
    # venue a: 0.05 s -> 0.5 s, a move of 0.45 s or 9 x its baseline
    window = ["--from", str(injected.end - 3600), "--to", str(injected.end), "--lookback", "6h"]
    args = ["--query", QUERY, *window, "--prometheus.url", prometheus.url, "--method", "zscore", *floor]

    assert run_backtest(args) == 0
    assert f"{fired} anomalies would have fired" in capsys.readouterr().out


def test_backtest_rejects_a_negative_floor(capsys):
    assert run_backtest(["--query", "up", "--from=-1h", "--min-change=-1"]) == 2
    assert "min_change" in capsys.readouterr().err


def test_backtest_rejects_a_bad_time(capsys):
    assert run_backtest(["--query", "up", "--from", "yesterday-ish"]) == 2
    assert "invalid time" in capsys.readouterr().err


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("now", 1000.0),
        ("-6h", 1000.0 - 21600),
        ("now-90s", 910.0),
        ("1700000000", 1.7e9),
        ("2023-11-14T22:13:20Z", 1.7e9),
        ("2023-11-14T23:13:20+01:00", 1.7e9),
    ],
)
def test_times_are_rfc3339_unix_or_relative(text, expected):
    assert math.isclose(parse_time(text, now=1000.0), expected)


def test_durations_combine_units():
    assert parse_duration("1h30m") == 5400 and parse_duration("2d") == 172800


def test_a_duration_in_plain_seconds_is_seconds_as_the_readme_says():
    assert parse_duration("60") == 60 and parse_duration("0.5") == 0.5
    assert parse_time("now-60", now=1000.0) == 940 and parse_time("-60", now=1000.0) == -60  # Unix seconds
    with pytest.raises(ValueError, match="60 \\(seconds\\), 30s"):
        parse_duration("60x")


def test_replay_of_all_series_at_once_equals_replay_series_by_series():
    series = make_series(4, days=0.25, seed=2)
    rule = RuleSettings(name="bench", query="bench")
    plan = plan_backtest(rule, DetectionSettings(), 86400.0, float(series[0].timestamps[-1]))

    together = keyed(replay(plan, series, 0.0))
    alone = keyed([f for s in series for f in replay(plan, [s], 0.0)])

    assert together == alone
    assert len({name for name, _ in together}) >= 2  # the injected spikes and shifts were found
