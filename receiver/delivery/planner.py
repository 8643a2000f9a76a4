"""Turns incident events into outbox rows: which destinations, which messages, in which order.

Each `plan_*` method runs on the database thread in one transaction, so a decision (thread parent
or reply, annotation create or patch, PagerDuty resolve) and its rows are stored together.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from dataclasses import asdict, dataclass, field
from typing import Any

import sqlite_utils

from analyst.diagnosis import DiagnosisResult
from receiver.delivery import grafana, outgoing_webhook, pagerduty, slack, slack_blocks
from receiver.delivery.noise import cooldown_suppression, incident_suppression, stored_suppression
from receiver.delivery.settings import (
    GrafanaSettings,
    NoiseSettings,
    OutgoingWebhookSettings,
    PagerDutySettings,
    SlackSettings,
)
from receiver.delivery.severity import severity_at_least
from receiver.delivery.summary import IncidentLinks, alert_summary, group_of, incident_links, similarity_key
from receiver.models import Incident
from receiver.storage import outbox as db_outbox
from receiver.storage.database import transaction
from receiver.storage.outbox import SUPPRESSED, NewDelivery, insert_delivery


@dataclass
class Plan:
    """What the service does after the transaction: wake these queues, count these suppressions."""

    queues: set[str] = field(default_factory=set)
    suppressed: list[str] = field(default_factory=list)


@dataclass
class Batch:
    """The rows one incident event adds, inside its transaction."""

    db: sqlite_utils.Database
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
        depends_on: int | None = None,
        key: str | None = None,
    ) -> int:
        row = NewDelivery(
            self.incident.id, self.group, destination, queue, kind, payload, depends_on, similarity_key=key
        )
        self.plan.queues.add(queue)
        return insert_delivery(self.db, row, self.now)

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
            insert_delivery(self.db, row, self.now)
            self.plan.suppressed.append(destination)


@dataclass(frozen=True)
class Thread:
    """An alert group's open Slack thread."""

    group_key: str
    incident_id: str
    channel: str
    parent_delivery_id: int
    alertname: str
    severity: str
    summary: str
    opened_at: float


@dataclass(frozen=True)
class DeliveryPlanner:
    slack: SlackSettings
    grafana: GrafanaSettings
    pagerduty: PagerDutySettings
    outgoing_webhook: OutgoingWebhookSettings
    noise: NoiseSettings
    public_url: str

    def _batch(self, db: sqlite_utils.Database, incident: Incident, now: float) -> Batch:
        return Batch(db, incident, incident_links(self.public_url, incident.id), now)

    # -- events -----------------------------------------------------------------------------------

    def plan_firing(self, db: sqlite_utils.Database, incident: Incident, now: float) -> Plan:
        batch = self._batch(db, incident, now)
        with transaction(db):
            _join_group(batch)
            reason = incident_suppression(db, self.noise, incident, now)
            if not self.slack.enabled:
                pass
            elif reason is not None:
                batch.suppress([slack.DESTINATION], "firing", reason)
            else:
                self._announce(batch)
        return batch.plan

    def plan_diagnosis(
        self, db: sqlite_utils.Database, incident: Incident, diagnosis: DiagnosisResult, now: float
    ) -> Plan:
        batch = self._batch(db, incident, now)
        key = similarity_key(incident, diagnosis.primary_hypothesis.category.value)
        with transaction(db):
            _join_group(batch)
            targets = self._diagnosis_targets(incident)
            reason = incident_suppression(db, self.noise, incident, now) or cooldown_suppression(
                db, self.noise, key, now
            )
            if reason is not None:
                batch.suppress(targets, "diagnosis", reason, key)
                return batch.plan
            if slack.DESTINATION in targets:
                thread = self._announce(batch)
                for message in slack_blocks.diagnosis_messages(incident, diagnosis, batch.links):
                    self._slack_reply(batch, thread, "diagnosis", message, key)
            if grafana.DESTINATION in targets:
                self._annotate(batch, diagnosis, key)
            if pagerduty.DESTINATION in targets:
                event = pagerduty.build_trigger(incident, diagnosis, batch.links)
                batch.add(
                    pagerduty.DESTINATION, pagerduty.QUEUE, pagerduty.TRIGGER, {"event": event}, key=key
                )
            if outgoing_webhook.DESTINATION in targets:
                self._post_webhook(batch, "diagnosis", diagnosis, key)
        return batch.plan

    def plan_resolved(
        self, db: sqlite_utils.Database, incident: Incident, diagnosis: DiagnosisResult | None, now: float
    ) -> Plan:
        batch = self._batch(db, incident, now)
        ended = incident.ends_at if incident.ends_at is not None else now
        with transaction(db):
            if db_outbox.member_status(db, incident.id) == "resolved":
                return batch.plan  # resolving twice (a resent webhook) changes nothing
            _join_group(batch)
            db_outbox.resolve_member(db, incident.id, ended)
            members = db_outbox.group_members(db, batch.group)
            still_firing = sum(1 for m in members if m["status"] != "resolved")
            reason = stored_suppression(db, incident.id)
            if self.grafana.enabled:
                self._close_annotation(batch, diagnosis, ended, reason)
            if self.slack.enabled:
                self._close_thread(batch, diagnosis, members, still_firing)
            if self.pagerduty.enabled and still_firing == 0:
                self._resolve_pagerduty(batch)
            if self.outgoing_webhook.enabled and reason is None:
                self._post_webhook(batch, "resolved", diagnosis)
        return batch.plan

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
        thread = _open_thread(batch.db, batch.group)
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
            db_outbox.save_thread(batch.db, asdict(thread))
            return thread
        if not _announced(batch.db, incident.id):
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
        members: list[dict[str, Any]],
        still_firing: int,
    ) -> None:
        """Say this alert resolved; once the whole group has, mark the parent resolved and summarise."""
        thread = _open_thread(batch.db, batch.group)
        if thread is None:
            return
        if still_firing:
            if _announced(batch.db, batch.incident.id):
                message = slack_blocks.member_resolved_reply(batch.incident, still_firing)
                self._slack_reply(batch, thread, "resolved", message)
            return
        episode = [m for m in members if m["starts_at"] >= thread.opened_at] or members
        duration = max((m["ends_at"] or batch.now) for m in episode) - min(m["starts_at"] for m in episode)
        links = incident_links(self.public_url, thread.incident_id)
        if self.slack.uses_web_api:
            parent = slack_blocks.resolved_parent(
                thread.alertname, thread.severity, thread.summary, thread.opened_at, duration, links
            )
            self._slack_reply(batch, thread, "update", parent, edit_parent=True)
        summary = slack_blocks.closing_summary(batch.incident, diagnosis, duration, links)
        self._slack_reply(batch, thread, "summary", summary)
        db_outbox.close_thread(batch.db, batch.group, batch.now)

    # -- Grafana, PagerDuty, webhook --------------------------------------------------------------

    def _annotate(self, batch: Batch, diagnosis: DiagnosisResult, key: str | None) -> None:
        body = grafana.build_annotation(batch.incident, diagnosis, batch.links, batch.now)
        existing = _annotation_row(batch.db, batch.incident.id)
        if existing is None:
            batch.add(grafana.DESTINATION, grafana.QUEUE, grafana.CREATE, {"body": body}, key=key)
        else:
            patch = {k: body[k] for k in ("text", "tags", "timeEnd")}
            batch.add(grafana.DESTINATION, grafana.QUEUE, grafana.PATCH, {"body": patch}, existing, key)

    def _close_annotation(
        self, batch: Batch, diagnosis: DiagnosisResult | None, ended: float, reason: str | None
    ) -> None:
        existing = _annotation_row(batch.db, batch.incident.id)
        if existing is not None:
            body = {"timeEnd": grafana.to_ms(ended)}
            batch.add(grafana.DESTINATION, grafana.QUEUE, grafana.PATCH, {"body": body}, existing)
        elif diagnosis is not None and reason is None:
            self._annotate(batch, diagnosis, None)

    def _resolve_pagerduty(self, batch: Batch) -> None:
        """Resolve the group's PagerDuty alert if the last live event for it was a trigger."""
        if db_outbox.last_live_group_kind(batch.db, batch.group, pagerduty.DESTINATION) == pagerduty.TRIGGER:
            event = pagerduty.build_resolve(batch.group)
            batch.add(pagerduty.DESTINATION, pagerduty.QUEUE, pagerduty.RESOLVE, {"event": event})

    def _post_webhook(
        self, batch: Batch, event: str, diagnosis: DiagnosisResult | None, key: str | None = None
    ) -> None:
        document = json.loads(
            json.dumps(outgoing_webhook.build_event(event, batch.incident, diagnosis, batch.links))
        )
        batch.add(
            outgoing_webhook.DESTINATION, outgoing_webhook.QUEUE, event, {"document": document}, key=key
        )


def _content(message: slack_blocks.SlackMessage) -> dict[str, Any]:
    return {"text": message.text, "blocks": message.blocks}


def _join_group(batch: Batch) -> None:
    """Count the incident in its group; it stays open until `plan_resolved` handles it."""
    incident = batch.incident
    db_outbox.join_group(batch.db, incident.id, batch.group, incident.starts_at, incident.ends_at)


def _open_thread(db: sqlite_utils.Database, group_key: str) -> Thread | None:
    """The group's unresolved thread, unless its parent message failed (then a new thread is opened)."""
    row = db_outbox.open_thread(db, group_key)
    return Thread(**row) if row else None


def _announced(db: sqlite_utils.Database, incident_id: str) -> bool:
    """Whether this incident already has a live parent or 'another alert' message."""
    return db_outbox.has_live(db, incident_id, slack.DESTINATION, ("parent", "alert"))


def _annotation_row(db: sqlite_utils.Database, incident_id: str) -> int | None:
    return db_outbox.last_live_id(db, incident_id, grafana.DESTINATION, grafana.CREATE)
