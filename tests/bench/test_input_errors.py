"""A benchmark given a path, a dataset or a binary it cannot use says so in one line and exits 2 before
any work: no traceback, no run that quietly leaves a part out, no full run that fails at its last write."""

from __future__ import annotations

import json
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from bench import (
    context,
    feedback,
    nab,
    ops,
    petshop,
    rca,
    rca_disturb,
    rca_replay,
    rca_signal,
    soak,
    tail_fit,
    workbench,
)
from bench.inputs import output_file
from demo.processes import BINARIES

NOT_A_DIR = "/nonexistent-bench-input"
UNWRITABLE = "/proc/no-such-dir/out"  # not even root can create files under /proc


def exits_with_one_line(capsys: pytest.CaptureFixture[str], prog: str, call: Callable[[], object]) -> str:
    """Run `call`; it must exit 2 with one `PROG: ...` line on stderr. Returns the message."""
    with pytest.raises(SystemExit) as stopped:
        call()
    assert stopped.value.code == 2
    err = capsys.readouterr().err
    assert "Traceback" not in err, err
    [line] = err.strip().splitlines()
    assert line.startswith(f"{prog}: "), line
    return line.removeprefix(f"{prog}: ")


def never(*args: Any, **kwargs: Any) -> None:
    raise AssertionError("the benchmark ran although its input was wrong")


def without_binary(monkeypatch: pytest.MonkeyPatch, name: str) -> None:
    monkeypatch.setitem(BINARIES, name, (f"no-such-{name}-binary",))


# --- dataset paths --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("prog", "main"),
    [
        ("python -m bench.petshop", lambda: petshop.main(["--data", NOT_A_DIR, "--split", "train"])),
        ("python -m bench.rca", lambda: rca.main(["--data", NOT_A_DIR])),
        ("python -m bench.rca_signal", lambda: rca_signal.main(["--data", NOT_A_DIR])),
        ("python -m bench.rca_disturb", lambda: rca_disturb.main(["--data", NOT_A_DIR, "--out", "/tmp"])),
        ("python -m bench.nab run", lambda: nab.main(["run", "--data", NOT_A_DIR, "--out", "/tmp"])),
        ("python -m bench.ops", lambda: ops.main(["--series", "1", "--nab", NOT_A_DIR])),
        ("python -m bench.feedback", lambda: feedback.main(["--petshop", NOT_A_DIR, "--no-llm"])),
        ("python -m bench.feedback", lambda: feedback.main(["--nezha", NOT_A_DIR, "--no-llm"])),
    ],
    ids=[
        "petshop",
        "rca",
        "rca_signal",
        "rca_disturb",
        "nab-run",
        "ops",
        "feedback-petshop",
        "feedback-nezha",
    ],
)
def test_a_data_folder_that_does_not_exist_is_refused(
    capsys: pytest.CaptureFixture[str], prog: str, main: Callable[[], object]
) -> None:
    message = exits_with_one_line(capsys, prog, main)
    assert NOT_A_DIR in message and "no such directory" in message


def test_nab_run_refuses_a_folder_without_nab_csvs(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    message = exits_with_one_line(
        capsys,
        "python -m bench.nab",
        lambda: nab.main(["run", "--data", str(tmp_path), "--out", str(tmp_path)]),
    )
    assert "no <category>/<name>.csv files" in message


def test_ops_refuses_a_nab_root_without_labels(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    message = exits_with_one_line(
        capsys, "python -m bench.ops", lambda: ops.main(["--series", "1", "--nab", str(tmp_path)])
    )
    assert "labels/combined_labels.json: no such file" in message and "--nab ''" in message


def test_tail_fit_leaves_nab_out_when_told_so(monkeypatch: pytest.MonkeyPatch) -> None:
    """`--nab ''` (as its help says) is no NAB root, not the current directory."""
    roots: list[Path | None] = []
    for corpus in ("make_corpus", "make_kpi_corpus", "make_smooth_kpi_corpus"):
        monkeypatch.setattr(tail_fit, corpus, lambda n, seed: [])
    monkeypatch.setattr(
        tail_fit, "report", lambda name, score, rule, families, root, seed: roots.append(root)
    )
    tail_fit.main(["--nab", ""])
    assert roots and set(roots) == {None}


# --- files missing inside a dataset ---------------------------------------------------------------


def test_petshop_names_an_incident_file_that_is_missing(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    issue = tmp_path / "mini_traffic" / "train" / "issue_0"
    issue.mkdir(parents=True)
    (tmp_path / "mini_traffic" / "graph.csv").write_text(",PetSite\nPetSite,0.0\n")
    (issue / "target.json").write_text("{}")
    message = exits_with_one_line(
        capsys,
        "python -m bench.petshop",
        lambda: petshop.main(["--data", str(tmp_path), "--split", "train"]),
    )
    assert message == f"{issue / 'metrics.csv'}: no such file (a PetShop incident)"


def _nezha_day(root: Path, fault_list: bool = True) -> Path:
    day = root / "2022-08-22"
    (day / "metric").mkdir(parents=True)
    (day / "metric" / "front_service.csv").write_text("Time,SuccessRate(%)\n2022-08-22 04:00:00,100\n")
    if fault_list:
        (day / "2022-08-22-fault_list.json").write_text(json.dumps({"04": []}))
    return day


def test_a_nezha_day_without_its_fault_list_is_named(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    day = _nezha_day(tmp_path, fault_list=False)
    message = exits_with_one_line(
        capsys, "python -m bench.rca_signal", lambda: rca_signal.main(["--data", str(tmp_path)])
    )
    assert message == f"{day}: no <day>-fault_list.json (a Nezha day)"


def test_a_folder_without_nezha_days_is_refused(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    message = exits_with_one_line(
        capsys, "python -m bench.rca_signal", lambda: rca_signal.main(["--data", str(tmp_path)])
    )
    assert message == f"{tmp_path}: no Nezha days (<day>/metric/ folders) under it"


def test_nab_score_says_when_result_files_are_missing(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    labels, profiles = tmp_path / "windows.json", tmp_path / "profiles.json"
    labels.write_text(json.dumps({"realTraffic/speed_1.csv": [], "realTraffic/speed_2.csv": []}))
    profiles.write_text("{}")
    results = tmp_path / "alert_analyst"
    (results / "realTraffic").mkdir(parents=True)
    (results / "realTraffic" / "alert_analyst_speed_1.csv").write_text("timestamp,value,anomaly_score\n")
    argv = ["score", "--results", str(results), "--labels", str(labels), "--profiles", str(profiles)]
    message = exits_with_one_line(capsys, "python -m bench.nab", lambda: nab.main(argv))
    assert message.startswith(
        f"{results / 'realTraffic' / 'alert_analyst_speed_2.csv'}: no such file (1 of the 2"
    )


def test_rca_replay_refuses_an_evidence_file_that_does_not_exist(capsys: pytest.CaptureFixture[str]) -> None:
    message = exits_with_one_line(
        capsys, "python -m bench.rca_replay", lambda: rca_replay.main([f"{NOT_A_DIR}/evidence.jsonl"])
    )
    assert "no such file" in message


# --- outputs that cannot be written: refused before the run, not after it -------------------------


def test_petshop_refuses_an_unwritable_out_before_diagnosing(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setattr(petshop, "run", never)
    argv = ["--data", str(tmp_path), "--split", "train", "--out", UNWRITABLE]
    message = exits_with_one_line(capsys, "python -m bench.petshop", lambda: petshop.main(argv))
    assert message.startswith(f"argument --out: {UNWRITABLE}: cannot write here")


@pytest.mark.parametrize("flag", ["--out", "--evidence-out", "--keep-workdir"])
def test_rca_refuses_an_unwritable_output_before_starting_prometheus(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], flag: str
) -> None:
    monkeypatch.setattr(rca, "run", never)
    argv = ["--data", str(tmp_path), flag, UNWRITABLE]
    message = exits_with_one_line(capsys, "python -m bench.rca", lambda: rca.main(argv))
    assert message.startswith(f"argument {flag}: {UNWRITABLE}: cannot write here")


def test_nab_run_refuses_an_unwritable_out(capsys: pytest.CaptureFixture[str]) -> None:
    data = Path(__file__).resolve().parent  # any existing folder: --out is checked first
    message = exits_with_one_line(
        capsys, "python -m bench.nab run", lambda: nab.main(["run", "--data", str(data), "--out", UNWRITABLE])
    )
    assert message.startswith(f"argument --out: {UNWRITABLE}: cannot write here")


def test_rca_disturb_refuses_an_unwritable_out(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    _nezha_day(tmp_path / "in")
    argv = ["--data", str(tmp_path / "in"), "--out", UNWRITABLE]
    message = exits_with_one_line(capsys, "python -m bench.rca_disturb", lambda: rca_disturb.main(argv))
    assert message.startswith(f"argument --out: {UNWRITABLE}: cannot write here")


def test_workbench_refuses_a_database_it_cannot_create(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setattr(workbench, "run", never)
    monkeypatch.setattr(sys, "argv", ["workbench", "--db", UNWRITABLE])
    message = exits_with_one_line(capsys, "python -m bench.workbench", workbench.main)
    assert message.startswith(f"argument --db: {UNWRITABLE}: cannot write here")


def test_checking_an_output_file_neither_leaves_nor_truncates_it(tmp_path: Path) -> None:
    fresh, kept = tmp_path / "rows.jsonl", tmp_path / "earlier.jsonl"
    kept.write_text("an earlier run\n")
    assert output_file(str(fresh)) == fresh and not fresh.exists()
    assert output_file(str(kept)) == kept and kept.read_text() == "an earlier run\n"


# --- binaries -------------------------------------------------------------------------------------


def test_rca_without_promtool_says_what_to_install(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    _nezha_day(tmp_path)
    without_binary(monkeypatch, "promtool")
    message = exits_with_one_line(capsys, "python -m bench.rca", lambda: rca.main(["--data", str(tmp_path)]))
    assert message.startswith("promtool not found on PATH; install it with: apt-get install")


def test_context_without_prometheus_says_so_before_backfilling(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setattr(context, "start_backfilled_prometheus", never)
    without_binary(monkeypatch, "prometheus")
    message = exits_with_one_line(capsys, "python -m bench.context", lambda: context.main(["--runs", "1"]))
    assert message.startswith("prometheus not found on PATH")


def test_soak_without_prometheus_says_so_before_its_baseline_minute(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setattr(soak, "run_soak", never)
    monkeypatch.setattr(sys, "argv", ["soak", "--minutes", "1"])
    without_binary(monkeypatch, "prometheus")
    message = exits_with_one_line(capsys, "python -m bench.soak", soak.main)
    assert message.startswith("prometheus not found on PATH")
