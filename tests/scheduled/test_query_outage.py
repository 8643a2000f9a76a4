"""An anomaly that happens while a rule's query fails is not lost: the first cycle that evaluates the
rule again looks back to where the failed cycles began, also after a restart (SQLite keeps where). A rule
changed or removed meanwhile has missed nothing, and keeps no row. Over a real Prometheus."""

from __future__ import annotations

from receiver.evidence.prometheus import PrometheusSource
from receiver.scheduled.scheduler import DetectionScheduler
from receiver.scheduled.settings import DetectionSettings, RuleSettings
from receiver.storage.database import Store, fetch_all
from tests.scheduled.conftest import QUERY, Injected, Recorder

RULE = RuleSettings(name="fill_latency", query=QUERY)


def detecting(*rules: RuleSettings) -> DetectionSettings:
    """`rules`, with the scheduler's own loop off: each test runs the cycles itself."""
    return DetectionSettings(enabled=False, rules=list(rules))


def caught_up_rules(store: Store) -> list[str]:
    """The rules SQLite keeps an outage catch-up of."""
    return [row["rule"] for row in store.run_sync(fetch_all, "SELECT rule FROM detection_catch_up")]


async def restart(scheduler: DetectionScheduler) -> Store:
    """Stops `scheduler` and closes its store, as a shutdown does; the store opened again."""
    await scheduler.stop()
    scheduler.store.close()
    return Store(scheduler.store.path)


async def test_a_jump_during_a_query_outage_opens_one_incident_once_queries_answer(
    injected: Injected, source: PrometheusSource, unreachable: PrometheusSource, store: Store
):
    recorder = Recorder()
    scheduler = DetectionScheduler(store, source, detecting(RULE), on_anomaly=recorder)
    first = await scheduler.run_cycle(now=injected.end - 1800)  # before venue a jumps (end - 240 s)
    scheduler.source = unreachable
    failed = [await scheduler.run_cycle(now=injected.end - 1800 + 300 * k) for k in range(1, 6)]
    assert first.incidents == [] and all("fill_latency" in report.errors for report in failed)

    scheduler.source = source  # back 10 minutes after the jump: older than freshness (2 x 300 s)
    back = await scheduler.run_cycle(now=injected.end + 600)
    later = await scheduler.run_cycle(now=injected.end + 900)

    assert back.incidents == ["inc-1"] and later.incidents == [] and len(recorder.findings) == 1
    assert recorder.findings[0].series_labels["venue"] == "a"
    assert abs(recorder.findings[0].starts_at - injected.anomaly_at) <= 60
    await scheduler.stop()


async def test_a_jump_during_an_outage_across_a_restart_opens_its_incident_once_queries_answer(
    injected: Injected, source: PrometheusSource, unreachable: PrometheusSource, store: Store
):
    recorder = Recorder()
    before = DetectionScheduler(store, source, detecting(RULE), on_anomaly=recorder)
    await before.run_cycle(now=injected.end - 1800)
    before.source = unreachable  # fails from 20 minutes before venue a jumps (end - 240 s) ...
    failed = [await before.run_cycle(now=injected.end - 1200 + 300 * k) for k in range(2)]
    store = await restart(before)

    after = DetectionScheduler(store, unreachable, detecting(RULE), on_anomaly=recorder)
    failed.append(await after.run_cycle(now=injected.end + 600))  # ... and after it, until 15 minutes past
    after.source = source
    back = await after.run_cycle(now=injected.end + 900)

    assert all("fill_latency" in report.errors for report in failed)
    assert back.incidents == ["inc-1"] and len(recorder.findings) == 1
    assert recorder.findings[0].series_labels["venue"] == "a"
    assert abs(recorder.findings[0].starts_at - injected.anomaly_at) <= 60
    await after.stop()
    store.close()


async def test_a_rule_changed_across_a_restart_during_an_outage_has_missed_nothing(
    injected: Injected, source: PrometheusSource, unreachable: PrometheusSource, store: Store
):
    recorder = Recorder()
    before = DetectionScheduler(store, unreachable, detecting(RULE), on_anomaly=recorder)
    assert "fill_latency" in (await before.run_cycle(now=injected.end - 1200)).errors
    store = await restart(before)

    changed = RULE.model_copy(update={"threshold": 3.5})
    after = DetectionScheduler(store, source, detecting(changed), on_anomaly=recorder)
    back = await after.run_cycle(now=injected.end + 900)

    assert back.errors == {} and back.incidents == [] and recorder.findings == []
    assert caught_up_rules(store) == []
    await after.stop()
    store.close()


async def test_a_rule_removed_from_the_configuration_during_an_outage_leaves_no_catch_up(
    unreachable: PrometheusSource, store: Store
):
    before = DetectionScheduler(store, unreachable, detecting(RULE), on_anomaly=Recorder())
    await before.run_cycle()
    assert caught_up_rules(store) == ["fill_latency"]
    store = await restart(before)

    after = DetectionScheduler(store, unreachable, detecting(), on_anomaly=Recorder())
    await after.run_cycle()

    assert caught_up_rules(store) == []
    await after.stop()
    store.close()


async def test_a_rule_deleted_during_an_outage_leaves_no_catch_up(
    unreachable: PrometheusSource, store: Store
):
    scheduler = DetectionScheduler(store, unreachable, detecting(), on_anomaly=Recorder())
    await scheduler.add_rule(RULE)
    assert "fill_latency" in (await scheduler.run_cycle()).errors
    assert caught_up_rules(store) == ["fill_latency"]

    await scheduler.delete_rule("fill_latency")

    assert caught_up_rules(store) == []
    await scheduler.stop()
    store.close()


async def test_a_rule_changed_by_a_reload_during_an_outage_leaves_no_catch_up(
    unreachable: PrometheusSource, store: Store
):
    scheduler = DetectionScheduler(store, unreachable, detecting(RULE), on_anomaly=Recorder())
    await scheduler.run_cycle()
    assert caught_up_rules(store) == ["fill_latency"]

    await scheduler.reconfigure(detecting(RULE.model_copy(update={"threshold": 3.5})))

    assert caught_up_rules(store) == []
    await scheduler.stop()
    store.close()


async def test_a_jump_while_the_service_was_down_opens_its_incident_at_the_first_cycle_after_it(
    injected: Injected, source: PrometheusSource, store: Store, tmp_path
):
    """No cycle ran while the service was down (a redeploy, an OOM kill): the first after the restart looks
    back to where the last one before it looked up to. A first run ever does not: it has seen nothing."""
    recorder = Recorder()
    before = DetectionScheduler(store, source, detecting(RULE), on_anomaly=recorder)
    last = await before.run_cycle(now=injected.end - 1800)  # then down from 26 minutes before venue a jumps
    store = await restart(before)

    after = DetectionScheduler(store, source, detecting(RULE), on_anomaly=recorder)
    back = await after.run_cycle(now=injected.end + 900)  # up again 15 minutes after it (freshness: 10)
    later = await after.run_cycle(now=injected.end + 1200)
    fresh_store = Store(tmp_path / "new.db")
    first_ever = DetectionScheduler(fresh_store, source, detecting(RULE), on_anomaly=Recorder())
    never_ran = await first_ever.run_cycle(now=injected.end + 900)

    assert last.incidents == [] and back.incidents == ["inc-1"] and later.incidents == []
    assert len(recorder.findings) == 1 and recorder.findings[0].series_labels["venue"] == "a"
    assert abs(recorder.findings[0].starts_at - injected.anomaly_at) <= 60
    assert never_ran.incidents == []
    await after.stop()
    await first_ever.stop()
    fresh_store.close()
    store.close()
