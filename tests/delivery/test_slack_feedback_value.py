"""The feedback buttons' value names the incident and the diagnosis the reply shows; buttons posted before
the diagnosis id was added (the incident id alone) still parse."""

from __future__ import annotations

from receiver.delivery.slack_blocks import diagnosis_messages, feedback_value, parse_feedback_value
from receiver.delivery.summary import incident_links
from tests.delivery.builders import make_diagnosis, make_incident

SLACK_VALUE_LIMIT = 2000


def test_the_buttons_carry_the_incident_and_the_diagnosis() -> None:
    incident = make_incident()
    links = incident_links("http://aa", incident.id)
    [message] = diagnosis_messages(incident, make_diagnosis(), links, diagnosis_id=42)
    values = {e["value"] for e in message.blocks[-1]["elements"]}
    assert values == {f"{incident.id}:42"}
    assert all(len(v) <= SLACK_VALUE_LIMIT for v in values)
    assert parse_feedback_value(values.pop()) == (incident.id, 42)


def test_a_value_with_the_incident_alone_judges_the_newest_diagnosis() -> None:
    assert parse_feedback_value("inc-0123456789abcdef") == ("inc-0123456789abcdef", None)
    assert feedback_value("inc-0123456789abcdef", None) == "inc-0123456789abcdef"


def test_a_value_whose_tail_is_not_a_diagnosis_id_is_an_incident_id() -> None:
    for value in ("inc-x:", "inc-x:abc", "inc-x:\u00b2", "inc-x:-1", ":7", "inc-x:" + "1" * 19):
        assert parse_feedback_value(value) == (value, None), value
