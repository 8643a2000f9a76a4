"""Turns incident events into outbox rows: which destinations, which messages, in which order.

The planning is pure: `firing`, `diagnosis` and `resolved` take a `Snapshot` of what is stored about the
incident's group and return a `Plan` (rows and state to record). `plan_*` is the thin I/O around it: read
the snapshot, plan, and apply the plan, in one transaction on the database thread, so a decision (thread
parent or reply, annotation create or patch, PagerDuty resolve) and its rows are stored together.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import asdict, dataclass, field, replace
from typing import Any

import sqlite_utils

from analyst.diagnosis import DiagnosisResult
from receiver.delivery import grafana, outgoing_webhook, pagerduty, slack, slack_blocks
from receiver.delivery.noise import cooldown_reason, repeat_reason, verdict
from receiver.delivery.readable import readable_diagnosis, without_alert_labels
from receiver.delivery.recovery import RecoveryCheck
from receiver.delivery.settings import (
    GrafanaSettings,
    NoiseSettings,
    OutgoingWebhookSettings,
    PagerDutySettings,
    SlackSettings,
)
from receiver.delivery.severity import severity_at_least
from receiver.delivery.summary import (
    IncidentLinks,
    alert_summary,
    closing_diagnosis,
    group_of,
    incident_links,
    similarity_key,
)
from receiver.models import Incident
from receiver.storage import outbox as db_outbox
from receiver.storage.database import transaction
from receiver.storage.feedback import latest_diagnosis
from receiver.storage.outbox import SUPPRESSED, NewDelivery, insert_delivery


@dataclass(frozen=True)
class Pending:
    """A row of this plan, by its place in `Plan.rows`, until the database gives it an id."""

    index: int


RowId = int | Pending


@dataclass(frozen=True)
class Thread:
    """An alert group's open Slack thread."""

    group_key: str
    incident_id: str
    channel: str
    parent_delivery_id: RowId
    alertname: str
    severity: str
    summary: str
    opened_at: float


@dataclass(frozen=True)
class Member:
    """An incident of an alert group. `status` is "resolved" once its resolution was planned here; `severity`
    and `alert_resolved` are the stored incident's (None and False when it is not stored), so a member whose
    alert resolved in the same notification is no longer firing while its resolution waits its turn."""

    incident_id: str
    status: str
    starts_at: float
    ends_at: float | None
    severity: str | None = None
    alert_resolved: bool = False

    @property
    def open(self) -> bool:
        """Its resolution is still to come: the thread and the PagerDuty alert wait for it."""
        return self.status != "resolved"

    @property
    def firing(self) -> bool:
        return self.open and not self.alert_resolved


@dataclass(frozen=True)
class Snapshot:
    """What is stored about an incident and its alert group, read at the start of the planning transaction."""

    decided: bool = False
    decision: str | None = None  # the stored suppression reason (None: notify)
    notified_last_hour: int = 0  # incidents of this alertname notified in the last hour
    member_status: str | None = None  # this incident's status in its group (None: not a member yet)
    members: tuple[Member, ...] = ()
    thread: Thread | None = None
    announced: bool = False  # this incident already has a live Slack parent or "another alert" reply
    annotation_id: int | None = None  # the live Grafana create row of this incident
    last_pagerduty_kind: str | None = None  # the group's last live PagerDuty event
    similar: Mapping[str, Any] | None = None  # the last live row with the diagnosis' similarity key
    diagnosis_id: int | None = None  # for a diagnosis: the incident's newest stored one, being delivered


@dataclass(frozen=True)
class PlannedRow:
    row: NewDelivery
    depends_on: Pending | None = None  # set instead of `row.depends_on` when the parent is in this plan


@dataclass
class Plan:
    """Rows and state one incident event records, then what the service does after the transaction:
    wake these queues, count these suppressions."""

    rows: list[PlannedRow] = field(default_factory=list)
    join: tuple[str, str, float, float | None] | None = None  # (incident, group, starts, ends)
    resolve: tuple[str, float] | None = None  # (incident, ended)
    decision: tuple[str, str, str | None] | None = None  # (incident, alertname, suppression reason)
    new_thread: Thread | None = None
    close_thread: str | None = None  # group key
    queues: set[str] = field(default_factory=set)
    suppressed: list[str] = field(default_factory=list)


@dataclass
class Batch:
    """The rows one incident event adds, planned from its snapshot."""

    snapshot: Snapshot
    incident: Incident
    links: IncidentLinks
    now: float
    plan: Plan = field(default_factory=Plan)

    @property
    def group(self) -> str:
        return group_of(self.incident)

    def add(
        self,
        destination: str,
        queue: str,
        kind: str,
        payload: Mapping[str, Any],
        depends_on: RowId | None = None,
        key: str | None = None,
    ) -> Pending:
        stored = depends_on if isinstance(depends_on, int) else None
        row = NewDelivery(
            self.incident.id, self.group, destination, queue, kind, payload, stored, similarity_key=key
        )
        pending = depends_on if isinstance(depends_on, Pending) else None
        self.plan.rows.append(PlannedRow(row, pending))
        self.plan.queues.add(queue)
        return Pending(len(self.plan.rows) - 1)

    def suppress(self, destinations: Iterable[str], kind: str, reason: str, key: str | None = None) -> None:
        for destination in destinations:
            row = NewDelivery(
                self.incident.id,
                self.group,
                destination,
                destination,
                kind,
                {},
                None,
                SUPPRESSED,
                reason,
                key,
            )
            self.plan.rows.append(PlannedRow(row))
            self.plan.suppressed.append(destination)

    def join_group(self) -> None:
        """Count the incident in its group; it stays open until `resolved` handles it."""
        incident = self.incident
        self.plan.join = (incident.id, self.group, incident.starts_at, incident.ends_at)

    def incident_suppression(self, noise: NoiseSettings) -> str | None:
        """The stored verdict for this incident (made now, and recorded, if new)."""
        if self.snapshot.decided:
            return self.snapshot.decision
        reason = verdict(noise, self.incident, self.snapshot.notified_last_hour)
        self.plan.decision = (self.incident.id, self.incident.alertname, reason)
        return reason


@dataclass(frozen=True)
class DeliveryPlanner:
    slack: SlackSettings
    grafana: GrafanaSettings
    pagerduty: PagerDutySettings
    outgoing_webhook: OutgoingWebhookSettings
    noise: NoiseSettings
    public_url: str

    def _batch(self, snapshot: Snapshot, incident: Incident, now: float) -> Batch:
        return Batch(snapshot, incident, incident_links(self.public_url, incident.id), now)

    # -- events (pure: snapshot in, plan out) -----------------------------------------------------

    def firing(self, snapshot: Snapshot, incident: Incident, now: float) -> Plan:
        batch = self._batch(snapshot, incident, now)
        batch.join_group()
        reason = batch.incident_suppression(self.noise)
        if not self.slack.enabled:
            pass
        elif reason is not None:
            batch.suppress([slack.DESTINATION], "firing", reason)
        else:
            self._announce(batch)
        return batch.plan

    def diagnosis(
        self,
        snapshot: Snapshot,
        incident: Incident,
        diagnosis: DiagnosisResult,
        now: float,
        repeat_of: str | None = None,
    ) -> Plan:
        batch = self._batch(snapshot, incident, now)
        key = self.similarity_key(incident, diagnosis)
        batch.join_group()
        targets = self._diagnosis_targets(incident)
        reason = batch.incident_suppression(self.noise) or cooldown_reason(self.noise, snapshot.similar, now)
        if reason is not None:
            batch.suppress(targets, "diagnosis", reason, key)
            return batch.plan
        repeat = repeat_reason(repeat_of)
        if repeat_of is not None and repeat is not None:
            told = _showing(batch, repeat_of, targets)
            batch.suppress(told, "diagnosis", repeat, key)
            targets = [t for t in targets if t not in told]
        shown = readable_diagnosis(diagnosis, incident.labels)  # what people read; the webhook gets all
        if slack.DESTINATION in targets:
            thread = self._announce(batch)
            for message in slack_blocks.diagnosis_messages(
                incident, shown, batch.links, snapshot.diagnosis_id
            ):
                self._slack_reply(batch, thread, "diagnosis", message, key)
        if grafana.DESTINATION in targets:
            self._annotate(batch, diagnosis, key)  # org-wide: it names the series in full
        if pagerduty.DESTINATION in targets:
            event = pagerduty.build_trigger(incident, shown, batch.links)
            batch.add(pagerduty.DESTINATION, pagerduty.QUEUE, pagerduty.TRIGGER, {"event": event}, key=key)
        if outgoing_webhook.DESTINATION in targets:
            self._post_webhook(batch, "diagnosis", diagnosis, key)
        return batch.plan

    def resolved(
        self,
        snapshot: Snapshot,
        incident: Incident,
        diagnosis: DiagnosisResult | None,
        now: float,
        recovery: RecoveryCheck | None = None,
    ) -> Plan:
        """Close the region, the thread and the PagerDuty alert; the messages carry follow-ups instead of the
        diagnosis' firing-time mitigations, and say how the alert recovered (`recovery`) when checked."""
        batch = self._batch(snapshot, incident, now)
        if snapshot.member_status == "resolved":
            return batch.plan  # resolving twice (a resent webhook) changes nothing
        if diagnosis is not None:
            follow_up = recovery.follow_ups if recovery is not None else None
            diagnosis = closing_diagnosis(incident, diagnosis, follow_up)
        ended = incident.ends_at if incident.ends_at is not None else now
        batch.join_group()
        batch.plan.resolve = (incident.id, ended)
        members = _members_after_resolve(snapshot, incident, ended)
        reason = snapshot.decision if snapshot.decided else None
        text = recovery.text if recovery is not None else ""
        if self.grafana.enabled:
            self._close_annotation(batch, diagnosis, ended, reason, text)
        if self.slack.enabled:
            self._close_thread(batch, diagnosis, members, text)
        if self.pagerduty.enabled and not any(m.open and self._pages(m) for m in members):
            self._resolve_pagerduty(batch)
        if self.outgoing_webhook.enabled and reason is None:
            self._post_webhook(batch, "resolved", diagnosis, recovery=recovery)
        return batch.plan

    def similarity_key(self, incident: Incident, diagnosis: DiagnosisResult) -> str:
        return similarity_key(incident, diagnosis.primary_hypothesis.category.value)

    # -- the same events on the database thread: read the snapshot, plan, apply ---------------------

    def plan_firing(self, db: sqlite_utils.Database, incident: Incident, now: float) -> Plan:
        with transaction(db):
            snapshot = read_snapshot(db, incident, now, budget=self.noise.max_alerts_per_hour)
            return apply_plan(db, self.firing(snapshot, incident, now), now)

    def plan_diagnosis(
        self,
        db: sqlite_utils.Database,
        incident: Incident,
        diagnosis: DiagnosisResult,
        now: float,
        repeat_of: str | None = None,
    ) -> Plan:
        key = self.similarity_key(incident, diagnosis)
        cooldown = self.noise.cooldown_minutes * 60 if self.noise.cooldown_minutes > 0 else None
        with transaction(db):
            snapshot = replace(
                read_snapshot(
                    db, incident, now, similar=(key, cooldown), budget=self.noise.max_alerts_per_hour
                ),
                diagnosis_id=_newest_diagnosis_id(db, incident.id),
            )
            return apply_plan(db, self.diagnosis(snapshot, incident, diagnosis, now, repeat_of), now)

    def plan_resolved(
        self,
        db: sqlite_utils.Database,
        incident: Incident,
        diagnosis: DiagnosisResult | None,
        now: float,
        recovery: RecoveryCheck | None = None,
    ) -> Plan:
        with transaction(db):
            snapshot = read_snapshot(db, incident, now)
            return apply_plan(db, self.resolved(snapshot, incident, diagnosis, now, recovery), now)

    def _pages(self, member: Member) -> bool:
        """Whether the member's alert is one PagerDuty pages for (a member not stored counts as one)."""
        return member.severity is None or severity_at_least(member.severity, self.pagerduty.min_severity)

    def _diagnosis_targets(self, incident: Incident) -> list[str]:
        pages = self.pagerduty.enabled and severity_at_least(incident.severity, self.pagerduty.min_severity)
        enabled = {
            slack.DESTINATION: self.slack.enabled,
            grafana.DESTINATION: self.grafana.enabled,
            pagerduty.DESTINATION: pages,
            outgoing_webhook.DESTINATION: self.outgoing_webhook.enabled,
        }
        return [destination for destination, on in enabled.items() if on]

    # -- Slack ------------------------------------------------------------------------------------

    def _announce(self, batch: Batch) -> Thread:
        """The group's open thread: open it with a parent message, or add this alert to it as a reply."""
        incident = batch.incident
        thread = batch.plan.new_thread or batch.snapshot.thread
        if thread is None:
            channel = self.slack.channel_for(incident.labels)
            message = slack_blocks.firing_parent(incident, batch.links)
            if self.slack.uses_web_api:
                payload: dict[str, Any] = {
                    "method": slack.POST,
                    "body": {"channel": channel, **_content(message)},
                }
            else:
                payload = {"method": slack.WEBHOOK, "message": _content(message)}
            parent_id = batch.add(slack.DESTINATION, slack.queue_for(self.slack, channel), "parent", payload)
            thread = Thread(
                batch.group,
                incident.id,
                channel,
                parent_id,
                incident.alertname,
                incident.severity,
                alert_summary(incident),
                incident.starts_at,
            )
            batch.plan.new_thread = thread
            return thread
        if not batch.snapshot.announced:
            self._slack_reply(batch, thread, "alert", slack_blocks.group_alert_reply(incident, batch.links))
        return thread

    def _slack_reply(
        self,
        batch: Batch,
        thread: Thread,
        kind: str,
        message: slack_blocks.SlackMessage,
        key: str | None = None,
        edit_parent: bool = False,
    ) -> None:
        """A thread reply, or with `edit_parent` a chat.update of the parent; plain posts in webhook mode."""
        queue = slack.queue_for(self.slack, thread.channel)
        if not self.slack.uses_web_api:
            batch.add(
                slack.DESTINATION,
                queue,
                kind,
                {"method": slack.WEBHOOK, "message": _content(message)},
                key=key,
            )
            return
        payload = {"method": slack.UPDATE if edit_parent else slack.POST, "body": _content(message)}
        batch.add(slack.DESTINATION, queue, kind, payload, depends_on=thread.parent_delivery_id, key=key)

    def _close_thread(
        self,
        batch: Batch,
        diagnosis: DiagnosisResult | None,
        members: Sequence[Member],
        recovery: str = "",
    ) -> None:
        """Say this alert resolved while others of the group still fire; once every member's resolution
        is in, mark the parent resolved and summarise. Members resolved in the same notification get no
        "still firing" reply: the summary follows once their resolutions are planned."""
        thread = batch.snapshot.thread
        if thread is None:
            return
        if any(m.open for m in members):
            still_firing = sum(1 for m in members if m.firing)
            if still_firing and batch.snapshot.announced:
                message = slack_blocks.member_resolved_reply(batch.incident, still_firing, batch.links)
                self._slack_reply(batch, thread, "resolved", message)
            return
        episode = [m for m in members if m.starts_at >= thread.opened_at] or list(members)
        duration = max((m.ends_at or batch.now) for m in episode) - min(m.starts_at for m in episode)
        links = incident_links(self.public_url, thread.incident_id)
        if self.slack.uses_web_api:
            parent = slack_blocks.resolved_parent(
                thread.alertname, thread.severity, thread.summary, thread.opened_at, duration, links
            )
            self._slack_reply(batch, thread, "update", parent, edit_parent=True)
        shown = readable_diagnosis(diagnosis, batch.incident.labels) if diagnosis is not None else None
        readable = without_alert_labels(recovery, batch.incident.labels)
        summary = slack_blocks.closing_summary(batch.incident, shown, duration, links, readable)
        self._slack_reply(batch, thread, "summary", summary)
        batch.plan.close_thread = batch.group

    # -- Grafana, PagerDuty, webhook --------------------------------------------------------------

    def _annotate(
        self, batch: Batch, diagnosis: DiagnosisResult, key: str | None, recovery: str | None = None
    ) -> None:
        body = grafana.build_annotation(batch.incident, diagnosis, batch.links, batch.now, recovery)
        existing = batch.snapshot.annotation_id
        if existing is None:
            batch.add(grafana.DESTINATION, grafana.QUEUE, grafana.CREATE, {"body": body}, key=key)
        else:
            patch = {k: body[k] for k in ("text", "tags", "timeEnd")}
            batch.add(grafana.DESTINATION, grafana.QUEUE, grafana.PATCH, {"body": patch}, existing, key)

    def _close_annotation(
        self,
        batch: Batch,
        diagnosis: DiagnosisResult | None,
        ended: float,
        reason: str | None,
        recovery: str,
    ) -> None:
        """End the incident's region at `ended`, its text now with the follow-ups and `recovery`."""
        existing = batch.snapshot.annotation_id
        if existing is not None:
            body: dict[str, Any] = {"timeEnd": grafana.to_ms(ended)}
            if diagnosis is not None:
                body["text"] = grafana.annotation_text(batch.incident, diagnosis, batch.links, recovery)
            batch.add(grafana.DESTINATION, grafana.QUEUE, grafana.PATCH, {"body": body}, existing)
        elif diagnosis is not None and reason is None:
            self._annotate(batch, diagnosis, None, recovery)

    def _resolve_pagerduty(self, batch: Batch) -> None:
        """Resolve the group's PagerDuty alert if the last live event for it was a trigger."""
        if batch.snapshot.last_pagerduty_kind == pagerduty.TRIGGER:
            event = pagerduty.build_resolve(batch.group)
            batch.add(pagerduty.DESTINATION, pagerduty.QUEUE, pagerduty.RESOLVE, {"event": event})

    def _post_webhook(
        self,
        batch: Batch,
        event: str,
        diagnosis: DiagnosisResult | None,
        key: str | None = None,
        recovery: RecoveryCheck | None = None,
    ) -> None:
        built = outgoing_webhook.build_event(event, batch.incident, diagnosis, batch.links, recovery)
        document = json.loads(json.dumps(built))
        batch.add(
            outgoing_webhook.DESTINATION, outgoing_webhook.QUEUE, event, {"document": document}, key=key
        )


def _showing(batch: Batch, earlier: str, targets: Sequence[str]) -> list[str]:
    """Of `targets`, those that still show `earlier`'s analysis, which a repeat shares: the group's open
    Slack thread if `earlier` was in it (not a thread this repeat opened after that one closed), and the
    group's PagerDuty alert while its last event is a trigger. A Grafana region and a webhook event belong
    to each occurrence, and a PagerDuty alert that was resolved must be triggered again to page."""
    thread = batch.plan.new_thread or batch.snapshot.thread
    in_thread = (
        thread is not None
        and thread.incident_id != batch.incident.id
        and any(m.incident_id == earlier and m.starts_at >= thread.opened_at for m in batch.snapshot.members)
    )
    showing = {
        slack.DESTINATION: in_thread,
        pagerduty.DESTINATION: batch.snapshot.last_pagerduty_kind == pagerduty.TRIGGER,
    }
    return [t for t in targets if showing.get(t, False)]


def _content(message: slack_blocks.SlackMessage) -> dict[str, Any]:
    return {"text": message.text, "blocks": message.blocks}


def _members_after_resolve(snapshot: Snapshot, incident: Incident, ended: float) -> list[Member]:
    """The group's members once this incident is counted in it and marked resolved."""
    others = [m for m in snapshot.members if m.incident_id != incident.id]
    own = next((m for m in snapshot.members if m.incident_id == incident.id), None)
    starts = own.starts_at if own is not None else incident.starts_at
    return [*others, Member(incident.id, "resolved", starts, ended, incident.severity, alert_resolved=True)]


def read_snapshot(
    db: sqlite_utils.Database,
    incident: Incident,
    now: float,
    similar: tuple[str, float | None] | None = None,
    budget: int | None = None,
) -> Snapshot:
    """What the planner needs to know, read inside the planning transaction; `similar` is the diagnosis'
    (similarity key, cooldown seconds), the cooldown None when it is off; `budget` the hourly budget per
    alertname (None: none, so the past hour is not counted)."""
    group = group_of(incident)
    decided, decision = db_outbox.stored_decision(db, incident.id)
    thread = db_outbox.open_thread(db, group)
    key, cooldown = similar if similar is not None else (None, None)
    return Snapshot(
        decided=decided,
        decision=decision,
        notified_last_hour=(
            0
            if decided or budget is None
            else db_outbox.notified_since(db, incident.alertname, now - 3600, budget)
        ),
        member_status=db_outbox.member_status(db, incident.id),
        members=_group_members(db, group),
        thread=Thread(**thread) if thread else None,
        announced=db_outbox.has_live(db, incident.id, slack.DESTINATION, ("parent", "alert")),
        annotation_id=db_outbox.last_live_id(db, incident.id, grafana.DESTINATION, grafana.CREATE),
        last_pagerduty_kind=db_outbox.last_live_group_kind(db, group, pagerduty.DESTINATION),
        similar=db_outbox.last_similar(db, key, now - cooldown) if key and cooldown else None,
    )


def _group_members(db: sqlite_utils.Database, group: str) -> tuple[Member, ...]:
    rows = db_outbox.group_members(db, group)
    return tuple(Member(**{**row, "alert_resolved": bool(row["alert_resolved"])}) for row in rows)


def _newest_diagnosis_id(db: sqlite_utils.Database, incident_id: str) -> int | None:
    row = latest_diagnosis(db, incident_id)
    return int(row["id"]) if row else None


def apply_plan(db: sqlite_utils.Database, plan: Plan, now: float) -> Plan:
    """Record what `plan` says (call inside the planning transaction) and return it."""
    if plan.join is not None:
        db_outbox.join_group(db, *plan.join)
    if plan.decision is not None:
        incident_id, alertname, reason = plan.decision
        db_outbox.record_decision(db, incident_id, alertname, now, reason)
    if plan.resolve is not None:
        db_outbox.resolve_member(db, *plan.resolve)
    ids: list[int] = []
    for planned in plan.rows:
        row = planned.row
        if planned.depends_on is not None:
            row = replace(row, depends_on=ids[planned.depends_on.index])
        ids.append(insert_delivery(db, row, now))
    if plan.new_thread is not None:
        thread = plan.new_thread
        parent = thread.parent_delivery_id
        stored = ids[parent.index] if isinstance(parent, Pending) else parent
        db_outbox.save_thread(db, asdict(replace(thread, parent_delivery_id=stored)))
    if plan.close_thread is not None:
        db_outbox.close_thread(db, plan.close_thread, now)
    return plan
