"""The Slack diagnosis reply: the recall line from memory and the feedback buttons, within Slack's limits."""

from __future__ import annotations

from receiver.delivery.slack_blocks import MAX_BLOCKS, diagnosis_messages
from receiver.delivery.summary import incident_links
from tests.delivery.builders import make_diagnosis, make_incident


def texts(blocks: list[dict]) -> list[str]:
    return [e.get("text", "") for b in blocks if b["type"] == "context" for e in b["elements"]]


def test_the_reply_says_how_often_it_was_seen_and_ends_with_the_buttons() -> None:
    incident = make_incident()
    diagnosis = make_diagnosis(
        recall="seen 3 times since 2026-11-02; last confirmed cause: orders_db (inc-9)"
    )
    [message] = diagnosis_messages(incident, diagnosis, incident_links("http://aa", incident.id))
    assert any(
        "seen 3 times since 2026-11-02; last confirmed cause: orders_db (inc-9)" in t
        for t in texts(message.blocks)
    )
    actions = message.blocks[-1]
    assert actions["type"] == "actions"
    assert [(e["action_id"], e["value"]) for e in actions["elements"]] == [
        ("feedback_correct", incident.id),
        ("feedback_wrong", incident.id),
        ("feedback_partly", incident.id),
    ]


def test_a_long_diagnosis_keeps_the_buttons_within_fifty_blocks() -> None:
    incident = make_incident()
    diagnosis = make_diagnosis(immediate_actions=tuple(f"step {n} " + "x" * 2900 for n in range(60)))
    messages = diagnosis_messages(incident, diagnosis, incident_links("http://aa", incident.id))
    assert len(messages) > 1
    assert all(len(m.blocks) <= MAX_BLOCKS for m in messages)
    assert messages[-1].blocks[-1]["type"] == "actions"
    assert all(b["type"] != "actions" for m in messages[:-1] for b in m.blocks)
