"""Memory through the app: similar incidents, the recall line, precedent, reuse of a confirmed
diagnosis, recurring problems, and no recall of a different incident."""

from __future__ import annotations

import dataclasses

import sqlite_utils

from analyst.builtin.precedent import precedent_shift
from analyst.evidence import Evidence, Precedent
from analyst.memory import alert_identity
from receiver.storage import memory as db_memory
from receiver.storage.migrations import migrate
from tests.analyst.conftest import incident, series
from tests.receiver.conftest import ClientFactory

from .conftest import diagnose_with_memory

DAY = 86_400.0
T0 = 1_793_577_600.0  # 2026-11-02


def traffic_surge() -> Evidence:
    """The scenario the built-in analyst calls a traffic surge, with CPU as the runner-up."""
    return incident(
        series("http_request_duration_seconds", component="web", onset_min=0, z=6),
        series("http_requests_total", component="web", onset_min=-8, z=7, corr=0.9),
        series("container_cpu_usage_seconds_total", component="web", onset_min=-4, z=5, corr=0.8),
        alertname="HighLatency",
    )


def deploy_errors() -> Evidence:
    return incident(
        series("http_errors_ratio", component="checkout", onset_min=0, z=9),
        series("process_start_time_seconds", component="checkout", onset_min=-3, z=50, corr=0.3),
        alertname="HighErrorRate",
    )


async def diagnosis(client: object, incident_id: str) -> dict:
    return (await (await client.get(f"/api/v1/incidents/{incident_id}")).json())["diagnosis"]  # type: ignore[attr-defined]


async def test_a_repeat_judged_wrong_before_is_diagnosed_with_the_given_cause(
    make_client: ClientFactory,
) -> None:
    client = await make_client()
    first = await diagnose_with_memory(client, traffic_surge(), "fp-a", T0)
    assert (await diagnosis(client, first))["primary_hypothesis"]["category"] == "traffic.surge"
    judged = await client.post(
        f"/api/v1/incidents/{first}/feedback",
        json={
            "verdict": "wrong",
            "actual_cause": "container_cpu_usage_seconds_total",
            "who": "ana",
            "note": "a noisy neighbour ate the CPU",
        },
    )
    assert judged.status == 201

    repeat = await diagnose_with_memory(client, traffic_surge(), "fp-b", T0 + DAY)
    answer = await diagnosis(client, repeat)
    assert answer["primary_hypothesis"]["suspect"] == "container_cpu_usage_seconds_total"
    assert answer["recall"] == (
        f"seen once since 2026-11-02; last confirmed cause: container_cpu_usage_seconds_total ({first})"
    )
    similar = await (await client.get(f"/api/v1/incidents/{repeat}/similar")).json()
    assert [s["incident_id"] for s in similar["similar"]] == [first]
    assert similar["similar"][0]["same_signature"] is True
    assert similar["similar"][0]["note"] == "a noisy neighbour ate the CPU"


async def test_a_repeat_of_a_confirmed_diagnosis_reuses_it(make_client: ClientFactory) -> None:
    client = await make_client()
    first = await diagnose_with_memory(client, deploy_errors(), "fp-a", T0)
    await client.post(f"/api/v1/incidents/{first}/feedback", json={"verdict": "correct", "who": "ana"})
    repeat = await diagnose_with_memory(client, deploy_errors(), "fp-b", T0 + DAY)
    answer = await diagnosis(client, repeat)
    assert answer["backend"] == "memory"
    assert answer["primary_hypothesis"]["suspect"] == "process_start_time_seconds"
    assert answer["notes"] == [f"reused the confirmed diagnosis of {first} (same evidence signature)"]
    again = await diagnose_with_memory(client, deploy_errors(), "fp-c", T0 + 2 * DAY, reuse=False)
    assert (await diagnosis(client, again))["backend"] == "builtin"


async def test_a_different_incident_is_not_recalled(make_client: ClientFactory) -> None:
    client = await make_client()
    first = await diagnose_with_memory(client, traffic_surge(), "fp-a", T0)
    await client.post(
        f"/api/v1/incidents/{first}/feedback",
        json={"verdict": "wrong", "actual_cause": "container_cpu_usage_seconds_total", "who": "ana"},
    )
    other = await diagnose_with_memory(client, deploy_errors(), "fp-b", T0 + DAY)
    answer = await diagnosis(client, other)
    assert answer["primary_hypothesis"]["category"] == "change.deployment"
    assert answer["recall"] is None
    assert (await (await client.get(f"/api/v1/incidents/{other}/similar")).json())["similar"] == []


async def test_problems_group_incidents_by_signature(make_client: ClientFactory) -> None:
    client = await make_client()
    ids = [await diagnose_with_memory(client, deploy_errors(), f"fp-{n}", T0 + n * DAY) for n in range(3)]
    await diagnose_with_memory(client, traffic_surge(), "fp-x", T0)
    await client.post(f"/api/v1/incidents/{ids[0]}/feedback", json={"verdict": "correct", "who": "ana"})
    problems = (await (await client.get("/api/v1/problems")).json())["problems"]
    assert [(p["alertname"], p["count"]) for p in problems] == [("HighErrorRate", 3), ("HighLatency", 1)]
    assert problems[0]["confirmed_cause"] == "process_start_time_seconds"
    assert problems[0]["first_seen"] == T0 and problems[0]["last_seen"] == T0 + 2 * DAY
    page = await (await client.get("/ui/problems")).text()
    assert "process_start_time_seconds" in page and "HighErrorRate" in page


async def test_incident_fragment_escapes_history_and_similar_incidents(make_client: ClientFactory) -> None:
    from receiver.web.feedback import incident_extras_html

    client = await make_client()
    first = await diagnose_with_memory(client, traffic_surge(), "fp-a", T0)
    await client.post(
        f"/api/v1/incidents/{first}/feedback", json={"verdict": "wrong", "note": "<script>x</script>"}
    )
    repeat = await diagnose_with_memory(client, traffic_surge(), "fp-b", T0 + DAY)
    feedback = await (await client.get(f"/api/v1/incidents/{first}/feedback")).json()
    similar = (await (await client.get(f"/api/v1/incidents/{repeat}/similar")).json())["similar"]
    diagnosis_id = feedback["current"][0]["diagnosis_id"]
    fragment = incident_extras_html(first, feedback, similar, diagnosis_id=diagnosis_id)
    assert "<script>" not in fragment and "&lt;script&gt;" in fragment
    assert f'action="/ui/incidents/{first}/feedback"' in fragment
    assert f'href="/ui/incidents/{first}"' in fragment


async def test_a_cause_given_for_a_near_twin_is_recalled_even_when_its_series_did_not_move(
    make_client: ClientFactory,
) -> None:
    client = await make_client()
    first = await diagnose_with_memory(client, deploy_errors(), "fp-a", T0)
    await client.post(
        f"/api/v1/incidents/{first}/feedback",
        json={"verdict": "wrong", "actual_cause": "orders-db", "actual_category": "dependency.database"},
    )
    repeat = await diagnose_with_memory(client, deploy_errors(), "fp-b", T0 + DAY)
    answer = await diagnosis(client, repeat)
    assert answer["backend"] == "memory"
    assert answer["primary_hypothesis"]["suspect"] == "orders-db"
    assert answer["primary_hypothesis"]["category"] == "dependency.database"
    assert answer["alternative_hypotheses"][0]["suspect"] == "process_start_time_seconds"
    unrelated = await diagnose_with_memory(client, traffic_surge(), "fp-c", T0 + 2 * DAY)
    assert (await diagnosis(client, unrelated))["primary_hypothesis"]["category"] == "traffic.surge"


def with_labels(evidence: Evidence, **labels: str) -> Evidence:
    alert = dataclasses.replace(evidence.alert, labels={**evidence.alert.labels, **labels})
    return dataclasses.replace(evidence, alert=alert)


async def test_label_values_with_separators_are_not_taken_for_another_alert(
    make_client: ClientFactory,
) -> None:
    """`{a="1,b=2"}` and `{a="1", b="2"}` had the same alert identity: the confirmed diagnosis of one was
    reused for the other as "same evidence signature"."""
    client = await make_client()
    first = await diagnose_with_memory(client, with_labels(deploy_errors(), a="1,b=2"), "fp-a", T0)
    await client.post(f"/api/v1/incidents/{first}/feedback", json={"verdict": "correct", "who": "ana"})
    other = await diagnose_with_memory(client, with_labels(deploy_errors(), a="1", b="2"), "fp-b", T0 + DAY)
    assert (await diagnosis(client, other))["backend"] == "builtin"
    similar = (await (await client.get(f"/api/v1/incidents/{other}/similar")).json())["similar"]
    assert [s["same_signature"] for s in similar] == [False]
    repeat = await diagnose_with_memory(client, with_labels(deploy_errors(), a="1,b=2"), "fp-c", T0 + 2 * DAY)
    assert (await diagnosis(client, repeat))["backend"] == "memory"


def test_alert_identity_escapes_only_what_could_be_read_two_ways() -> None:
    assert alert_identity("X", {"a": "1,b=2"}) != alert_identity("X", {"a": "1", "b": "2"})
    assert alert_identity("X", {"a": "1\\", "b": "2"}) != alert_identity("X", {"a": "1\\,b=2"})
    assert (
        alert_identity("X", {"service": "web", "severity": "page", "path": "/a{b}"})
        == "X{path=/a{b},service=web}"
    )
    long_unicode = {f"l{n}": "задержка " * 500 for n in range(200)}
    assert alert_identity("Задержка", long_unicode).startswith("Задержка{l0=задержка")


def test_text_in_any_script_is_searched() -> None:
    """Words were [A-Za-z] only: an alert described in Cyrillic or Japanese found no similar text."""
    db = sqlite_utils.Database(memory=True)
    migrate(db)
    db_memory.index_text(db, "inc-1", "ЗадержкаОплаты сервис платежей", "база данных")
    db_memory.index_text(db, "inc-2", "支払い遅延 決済サービス", "")
    db_memory.index_text(db, "inc-3", "DiskFull node-1", "disk")
    assert set(db_memory._text_scores(db, "Задержка оплаты: сервис платежей", exclude="x")) == {"inc-1"}
    assert set(db_memory._text_scores(db, "支払い遅延", exclude="x")) == {"inc-2"}


def test_a_suspect_judged_wrong_is_lowered_when_the_judge_gave_only_its_category() -> None:
    """A judge's "wrong, but it is a database problem" about a database suspect raised that suspect (its
    category matched the confirmed category) instead of lowering it."""
    wrong = Precedent("inc-0", 1.0, "wrong", "dependency.database", "orders-db", "dependency.database")
    shift, notes = precedent_shift({"orders-db"}, "dependency.database", "orders-db", [wrong])
    assert shift < 0 and notes == ("lowered orders-db: judged wrong on similar incident inc-0",)
    other, raised = precedent_shift({"payments-db"}, "dependency.database", "payments-db", [wrong])
    assert other > 0 and raised == ("raised payments-db: confirmed cause of similar incident inc-0",)


async def test_a_similar_incident_ranks_the_confirmed_cause_first(make_client: ClientFactory) -> None:
    """Not the same signature (an extra series moved), but similar: the cause confirmed last time is
    raised to the top, and the diagnosis says why."""
    client = await make_client()
    first = await diagnose_with_memory(client, traffic_surge(), "fp-a", T0)
    assert (await diagnosis(client, first))["primary_hypothesis"]["category"] == "traffic.surge"
    await client.post(
        f"/api/v1/incidents/{first}/feedback",
        json={"verdict": "wrong", "actual_cause": "container_cpu_usage_seconds_total", "who": "ana"},
    )
    evidence = traffic_surge()
    extra = series("go_gc_duration_seconds", component="web", onset_min=-1, z=4, corr=0.5)
    similar_evidence = dataclasses.replace(evidence, series=(*evidence.series, extra))
    repeat = await diagnose_with_memory(client, similar_evidence, "fp-b", T0 + DAY)
    found = (await (await client.get(f"/api/v1/incidents/{repeat}/similar")).json())["similar"]
    assert [(s["incident_id"], s["same_signature"]) for s in found] == [(first, False)]
    answer = await diagnosis(client, repeat)
    assert answer["backend"] == "builtin"
    assert answer["primary_hypothesis"]["suspect"] == "container_cpu_usage_seconds_total"
    assert any(f"confirmed cause of similar incident {first}" in note for note in answer["notes"])
