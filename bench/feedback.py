"""Feedback and memory benchmark: a replayed stream of recurring incidents through the product's
diagnose stage and SQLite memory.

Kinds of incident come from the trading scenarios of the built-in analyst's tests and the PetShop
train split; each kind recurs (jittered: strengths and onsets move, and sometimes a side series stays
calm, so a repeat need not have the same evidence signature). The judge answers every first
occurrence: "correct", or "wrong" with the true cause. Printed: top-1 accuracy on first occurrences
and on repeats, with memory off, with memory but no feedback, and with feedback; false recall (a past
incident with a different true cause recalled as similar); and, through the OpenAI backend against
the fake LLM server counting tokens, LLM tokens per repeat vs per first occurrence.

    python -m bench.feedback [--petshop ../shared/petshop] [--nezha ../shared/nezha] [--repeats 3] [--seed 7]
"""

from __future__ import annotations

import asyncio
import dataclasses
import json
import random
import statistics
import sys
import tempfile
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from analyst.builtin import BuiltinAnalyst
from analyst.diagnosis import DiagnosisResult
from analyst.evidence import AlertInfo, Evidence, SeriesEvidence, evidence_to_dict
from analyst.llm import LLMAnalyst, LLMSettings
from analyst.protocol import Analyst
from bench import petshop
from bench.inputs import SHARED, BenchArgumentParser, existing_dir, require_files
from bench.nezha_evidence import nezha_faults
from bench.rca_data import day_folders
from receiver.evidence.settings import ContextSettings
from receiver.models import new_incident
from receiver.pipeline import memory
from receiver.pipeline.stages import StagePlugins, build_stages, load_diagnosis
from receiver.pipeline.workers import StageContext, StageFn
from receiver.storage import feedback as db_feedback
from receiver.storage import incidents as db_incidents
from receiver.storage.database import Store
from receiver.storage.feedback import Feedback
from tests.fakes.llm import FakeLLMServer, RecordedRequest, Reply, answer, answer_json, prompt_text

DAY = 86_400.0
T0 = 1_793_577_600.0  # 2026-11-02
# Share of repeats in which one anomalous side series (neither the cause nor the alert) stays calm.
NEAR_REPEAT_SHARE = 0.3
JITTER = 0.15  # strengths scale by 1 +- JITTER; onsets move by up to 30 s


@dataclass(frozen=True)
class Kind:
    """One recurring incident: its evidence and true cause (a series id or a component)."""

    name: str
    evidence: Evidence
    truth: str


@dataclass(frozen=True)
class Occurrence:
    kind: Kind
    index: int  # 0: first occurrence
    at: float
    evidence: Evidence


# --- Kinds --------------------------------------------------------------------------------------


def _series(
    series_id: str, component: str, onset_min: float | None, z: float, corr: float = 0.8, **extra: Any
) -> SeriesEvidence:
    anomalous = onset_min is not None
    return SeriesEvidence(
        series_id=series_id,
        metric=series_id.split("{")[0],
        labels={},
        role=extra.pop("role", "related"),
        anomalous=anomalous,
        anomaly_type="level_shift" if anomalous else None,
        onset=T0 + 60 * onset_min if onset_min is not None else None,
        direction=extra.pop("direction", "up") if anomalous else None,
        baseline=1.0,
        current=3.0 if anomalous else 1.0,
        z_score=z if anomalous else 0.4,
        p_value=1e-6 if anomalous else 0.4,
        score=z if anomalous else 0.4,
        correlation=corr,
        component=component,
        points=60,
    )


def _trading(name: str, alertname: str, truth: str, *series: SeriesEvidence) -> Kind:
    alert = dataclasses.replace(series[0], role="alert", lag_seconds=0.0)
    evidence = Evidence(
        incident_id=name,
        alert=AlertInfo(
            alertname=alertname,
            status="firing",
            labels={"alertname": alertname, "service": alert.component or "svc"},
            annotations={"summary": f"{alertname} on {alert.component}"},
            starts_at=T0,
        ),
        series=(alert, *series[1:]),
        window_start=T0 - 3600,
        window_end=T0 + 600,
        alert_series_id=alert.series_id,
    )
    return Kind(name, evidence, truth)


def trading_kinds() -> list[Kind]:
    """The trading-firm scenarios of tests/analyst/test_builtin_scenarios.py, as recurring kinds."""
    vol = 'market_realized_volatility{symbol="BTCUSDT"}'
    pool = 'db_pool_connections_in_use{pool="orders"}'
    return [
        _trading(
            "volatility",
            "PnLDrawdown",
            vol,
            _series('strategy_pnl{book="btc"}', "strategy", -1, -7, direction="down"),
            _series(vol, "marketdata", -6, 9),
            _series("order_fill_latency_seconds", "gateway", None, 0),
            _series('market_volume{symbol="BTCUSDT"}', "marketdata", -3, 4, corr=0.5),
        ),
        _trading(
            "db_pool",
            "HighErrorRate",
            pool,
            _series("order_errors_ratio", "orders", 0, 8),
            _series(pool, "orders", -4, 6, corr=0.9),
            _series("http_request_duration_seconds", "orders", -1, 5),
            _series("process_cpu_seconds_total", "orders", None, 0),
        ),
        _trading(
            "cpu",
            "HighLatency",
            "container_cpu_usage_seconds_total",
            _series("http_request_duration_seconds", "api", 0, 7),
            _series("container_cpu_usage_seconds_total", "api", -5, 6, corr=0.85),
            _series("http_requests_total", "api", None, 0),
        ),
        _trading(
            "deploy",
            "HighErrorRate",
            "process_start_time_seconds",
            _series("http_errors_ratio", "checkout", 0, 9),
            _series("process_start_time_seconds", "checkout", -3, 50, corr=0.3),
            _series("http_request_duration_seconds", "checkout", 0, 4),
        ),
        _trading(
            "traffic_surge",
            "HighLatency",
            "http_requests_total",
            _series("http_request_duration_seconds", "web", 0, 6),
            _series("http_requests_total", "web", -8, 7, corr=0.9),
            _series("container_cpu_usage_seconds_total", "web", -4, 5, corr=0.8),
        ),
        # The same alert and moved series as traffic_surge, but operators know the cause is the CPU
        # (a noisy neighbour): the built-in ranking says "traffic" and is wrong until told.
        _trading(
            "noisy_neighbour",
            "HighLatency",
            "container_cpu_usage_seconds_total",
            _series("http_request_duration_seconds", "web2", 0, 6),
            _series("http_requests_total", "web2", -8, 7, corr=0.9),
            _series("container_cpu_usage_seconds_total", "web2", -4, 5, corr=0.8),
        ),
    ]


def nezha_kinds(data: Path) -> list[Kind]:
    """Every fault of the Nezha development days (OnlineBoutique, TrainTicket)."""
    return [
        Kind(name, evidence, truth)
        for day in day_folders(data)
        for name, evidence, truth in nezha_faults(day)
    ]


def petshop_kinds(data: Path) -> list[Kind]:
    """Every PetShop train incident (one series per node, the call graph as topology)."""
    kinds = []
    for scenario_dir in sorted(p for p in data.iterdir() if (p / "graph.csv").exists()):
        issues = sorted((scenario_dir / "train").glob("issue_*"), key=lambda p: int(p.name.split("_")[1]))
        if not issues:
            continue
        for issue_dir in issues:
            require_files(issue_dir, petshop.INCIDENT_FILES, "a PetShop incident")
        graph = petshop.read_call_graph(scenario_dir / "graph.csv")
        normal, _ = petshop.normal_data_for(scenario_dir)
        for issue_dir in issues:
            metric, alert_time = petshop.read_alert(issue_dir)
            incident = petshop.Incident(
                scenario_dir.name,
                issue_dir.name,
                metric,
                alert_time,
                petshop.read_metrics(issue_dir / "metrics.csv"),
            )
            baselines = petshop.baselines_for(normal, incident.metrics.nodes(metric), metric)
            evidence = petshop.incident_evidence(incident, graph, baselines)
            name = f"petshop/{scenario_dir.name}/{issue_dir.name}"
            kinds.append(Kind(name, evidence, petshop.read_root_cause(issue_dir)))
    return kinds


# --- The stream ---------------------------------------------------------------------------------


def jittered(evidence: Evidence, truth: str, rng: random.Random, near: bool) -> Evidence:
    """A recurrence: strengths and onsets move a little; `near` also calms one side series."""
    side = [
        s.series_id
        for s in evidence.anomalous
        if s.series_id != evidence.alert_series_id and truth not in (s.series_id, s.component)
    ]
    calm = rng.choice(side) if near and side else None
    series = []
    for s in evidence.series:
        if s.series_id == calm:
            s = dataclasses.replace(
                s, anomalous=False, anomaly_type=None, direction=None, onset=None, z_score=0.4
            )
        elif s.anomalous:
            scale = 1 + rng.uniform(-JITTER, JITTER)
            s = dataclasses.replace(
                s,
                z_score=s.z_score * scale if s.z_score is not None else None,
                score=s.score * scale,
                onset=s.onset + rng.uniform(-30, 30) if s.onset is not None else None,
            )
        series.append(s)
    return dataclasses.replace(evidence, series=tuple(series))


def stream(kinds: Sequence[Kind], repeats: int, seed: int) -> list[Occurrence]:
    """Every kind once, then `repeats` more times, interleaved in time (first occurrences spread out)."""
    rng = random.Random(seed)
    occurrences = []
    for kind in kinds:
        first = T0 + rng.uniform(0, 10 * DAY)
        occurrences.append(Occurrence(kind, 0, first, kind.evidence))
        at = first
        for index in range(1, repeats + 1):
            at += rng.uniform(0.5, 3) * DAY
            near = rng.random() < NEAR_REPEAT_SHARE
            occurrences.append(Occurrence(kind, index, at, jittered(kind.evidence, kind.truth, rng, near)))
    return sorted(occurrences, key=lambda o: o.at)


# --- One run ------------------------------------------------------------------------------------


@dataclass
class Outcome:
    occurrence: Occurrence
    right: bool
    tokens: int
    calls: int
    recalled: list[str]  # kind names of the recalled similar incidents
    false_recalls: int
    route: str = "analysis"  # memory (recalled, no analyst), confirm (short LLM prompt), analysis


def is_right(result: DiagnosisResult, truth: str) -> bool:
    """The primary suspect is the true cause (a series id or component), or a series of its pods."""
    suspect = result.primary_hypothesis.suspect
    return suspect == truth or f"pod={truth}-" in suspect


async def replay(
    occurrences: Sequence[Occurrence],
    analyst: Analyst,
    *,
    remember: bool,
    feedback: bool,
    reuse: bool = True,
    llm: FakeLLMServer | None = None,
) -> list[Outcome]:
    """The stream through the diagnose stage over a fresh SQLite store; the judge answers firsts."""
    plugins = StagePlugins(None, ContextSettings(), analyst, None, remember=remember, reuse_confirmed=reuse)
    diagnose = build_stages(plugins)["diagnose"]
    with tempfile.TemporaryDirectory() as tmp:
        store = Store(Path(tmp) / "bench.db")
        try:
            return await _replay(store, occurrences, diagnose, remember, feedback, llm)
        finally:
            store.close()


async def _replay(
    store: Store,
    occurrences: Sequence[Occurrence],
    diagnose: StageFn,
    remember: bool,
    feedback: bool,
    llm: FakeLLMServer | None,
) -> list[Outcome]:
    kind_of: dict[str, Kind] = {}
    outcomes = []
    for n, occurrence in enumerate(occurrences):
        evidence = occurrence.evidence
        incident = new_incident(
            fingerprint=f"{occurrence.kind.name}#{occurrence.index}",
            starts_at=occurrence.at,
            ends_at=None,
            labels={"alertname": evidence.alert.alertname, **evidence.alert.labels},
            annotations=dict(evidence.alert.annotations),
            generator_url="",
            group_key=f"bench-{n}",
            source="alertmanager",
            now=occurrence.at,
            stage="diagnose",
        )
        kind_of[incident.id] = occurrence.kind
        evidence = dataclasses.replace(evidence, incident_id=incident.id)
        await store.write(db_incidents.create_incident, incident)
        await store.write(db_incidents.save_evidence, incident.id, evidence_to_dict(evidence))
        recalled = (await memory.recall(store, evidence)).similar if remember else []
        requests_before = len(llm.requests) if llm is not None else 0
        await diagnose(StageContext(incident, store))
        result = await load_diagnosis(store, incident.id)
        assert result is not None
        right = is_right(result, occurrence.kind.truth)
        if feedback and occurrence.index == 0:
            verdict = Feedback(who="judge", verdict="correct") if right else _wrong(occurrence.kind)
            await store.write(db_feedback.record_feedback, incident.id, verdict, occurrence.at + 600)
        kinds = [kind_of[r["incident_id"]] for r in recalled]
        outcomes.append(
            Outcome(
                occurrence,
                right,
                result.tokens_in + result.tokens_out,
                (len(llm.requests) - requests_before) if llm is not None else 0,
                [k.name for k in kinds],
                sum(k.truth != occurrence.kind.truth for k in kinds),
                route_of(result),
            )
        )
    return outcomes


def route_of(result: DiagnosisResult) -> str:
    if result.backend == "memory":
        return "memory"
    if any(note.startswith("confirmed against") for note in result.notes):
        return "confirm"
    return "analysis"


def _wrong(kind: Kind) -> Feedback:
    return Feedback(who="judge", verdict="wrong", actual_cause=kind.truth, note=f"the cause was {kind.truth}")


# --- The fake LLM -------------------------------------------------------------------------------


def echo_builtin(request: RecordedRequest) -> Reply:
    """A model that agrees with the built-in ranking in the prompt, and confirms what it is asked to."""
    text = prompt_text(request)
    if "Same cause?" in text:
        return answer(
            json.dumps({"same_cause": True, "confidence": 0.9, "comment": "same series moved first"})
        )
    builtin = next(json.loads(line) for line in text.splitlines() if line.startswith('{"builtin"'))
    top = builtin["builtin"][0]
    primary = {
        "title": top["title"],
        "category": top["category"],
        "suspect": top["suspect"],
        "confidence": top["confidence"],
        "supporting_evidence": ["it moved first"],
        "contradicting_evidence": [],
    }
    return answer(answer_json(primary_hypothesis=primary, alternative_hypotheses=[]))


async def llm_replay(occurrences: Sequence[Occurrence], reuse: bool) -> list[Outcome]:
    """The stream with feedback through the OpenAI backend against the fake LLM server (tokens counted)."""
    async with FakeLLMServer(echo_builtin, count_tokens=True) as fake:
        settings = LLMSettings(
            base_url=fake.openai_base_url, api_key="bench-key-0123456789", cache_ttl_seconds=0
        )
        analyst = LLMAnalyst(settings, "openai", BuiltinAnalyst())
        try:
            return await replay(occurrences, analyst, remember=True, feedback=True, reuse=reuse, llm=fake)
        finally:
            await analyst.aclose()


# --- Report -------------------------------------------------------------------------------------


def share(outcomes: Sequence[Outcome]) -> str:
    if not outcomes:
        return "n/a"
    right = sum(o.right for o in outcomes)
    return f"{right / len(outcomes):.1%} ({right}/{len(outcomes)})"


def firsts(outcomes: Sequence[Outcome]) -> list[Outcome]:
    return [o for o in outcomes if o.occurrence.index == 0]


def repeats(outcomes: Sequence[Outcome]) -> list[Outcome]:
    return [o for o in outcomes if o.occurrence.index > 0]


def report_tokens(outcomes: Sequence[Outcome], reuse: bool) -> None:
    """LLM calls and tokens (in + out, counted by the fake server) per first occurrence and per repeat."""
    first, again = firsts(outcomes), repeats(outcomes)
    first_tokens = statistics.mean(o.tokens for o in first)
    again_tokens = statistics.mean(o.tokens for o in again)
    called = [o for o in again if o.calls]
    print(
        f"LLM (openai via fake server, feedback, analyst.reuse_confirmed={str(reuse).lower()}):"
        f" accuracy first {share(first)}, repeats {share(again)}"
    )
    print(
        f"  tokens per first {first_tokens:.0f}, per repeat {again_tokens:.0f}"
        f" ({again_tokens / first_tokens:.1%});"
        f" repeats with no LLM call {len(again) - len(called)}/{len(again)}"
    )
    for route in ("memory", "confirm", "analysis"):
        taken = [o for o in again if o.route == route]
        if taken:
            mean = statistics.mean(o.tokens for o in taken)
            print(
                f"  repeats by {route:<8}: {len(taken):>3},"
                f" {mean:.0f} tokens each ({mean / first_tokens:.1%} of a first)"
            )


def optional_dir(text: str) -> Path | None:
    """argparse type of a dataset folder: None for '' (that dataset left out), else one that exists."""
    return existing_dir(text) if text else None


def main(argv: Sequence[str] | None = None) -> int:
    parser = BenchArgumentParser(prog="python -m bench.feedback", description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--petshop", type=optional_dir, default=str(SHARED / "petshop"), help="train split used ('': none)"
    )
    parser.add_argument(
        "--nezha", type=optional_dir, default=str(SHARED / "nezha"), help="development days ('': none)"
    )
    parser.add_argument("--repeats", type=int, default=3, help="recurrences of every kind after the first")
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--no-llm", action="store_true", help="skip the token count through the fake LLM")
    args = parser.parse_args(argv)
    with parser.input_errors():
        sources = {
            "trading": trading_kinds(),
            "PetShop": petshop_kinds(args.petshop) if args.petshop else [],
            "Nezha": nezha_kinds(args.nezha) if args.nezha else [],
        }
    kinds = [kind for found in sources.values() for kind in found]
    occurrences = stream(kinds, args.repeats, args.seed)
    counts = ", ".join(f"{len(found)} {name}" for name, found in sources.items())
    print(f"{len(kinds)} kinds ({counts}), each seen 1 + {args.repeats} times: {len(occurrences)} incidents")
    started = time.perf_counter()
    builtin = BuiltinAnalyst()
    plain = asyncio.run(replay(occurrences, builtin, remember=False, feedback=False))
    unjudged = asyncio.run(replay(occurrences, builtin, remember=True, feedback=False))
    judged = asyncio.run(replay(occurrences, builtin, remember=True, feedback=True))
    print("top-1 accuracy          first occurrences        repeats")
    for label, rows in (
        ("memory off", plain),
        ("memory, no feedback", unjudged),
        ("memory + feedback", judged),
    ):
        print(f"  {label:<21} {share(firsts(rows)):<24} {share(repeats(rows))}")
    wrong_first = {o.occurrence.kind.name for o in firsts(plain) if not o.right}
    fixed = [o for o in repeats(judged) if o.occurrence.kind.name in wrong_first]
    print(f"  repeats of kinds whose first diagnosis was wrong, after feedback: {share(fixed)}")
    pairs = sum(len(o.recalled) for o in judged)
    false = sum(o.false_recalls for o in judged)
    print(
        f"false recall: {false}/{pairs} recalled incidents had a different true cause"
        f" ({false / max(pairs, 1):.1%})"
    )
    print(f"replays took {time.perf_counter() - started:.1f} s")
    if not args.no_llm:
        for reuse in (True, False):
            report_tokens(asyncio.run(llm_replay(occurrences, reuse)), reuse)
    return 0


if __name__ == "__main__":
    sys.exit(main())
