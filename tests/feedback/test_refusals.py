"""`record_feedback` refuses, inside its own write, a judgement with no diagnosis to judge: the refusal
carries the HTTP answer (status, message, field) and nothing is written."""

from __future__ import annotations

import pytest
import sqlite_utils

from receiver.storage import incidents as db_incidents
from receiver.storage.database import run_in_transaction
from receiver.storage.feedback import Feedback, FeedbackRefused, record_feedback
from receiver.storage.migrations import migrate

from .conftest import firing

NOW = 1_790_000_600.0


@pytest.fixture
def db() -> sqlite_utils.Database:
    db = sqlite_utils.Database(memory=True)
    migrate(db)
    return db


def stored_incident(
    db: sqlite_utils.Database, fingerprint: str, *, diagnosed: bool
) -> tuple[str, int | None]:
    """An incident (with one diagnosis when `diagnosed`); its id and the diagnosis id."""
    incident = firing(fingerprint, NOW - 600, {"alertname": "DiskFull"}, {}, "done")
    run_in_transaction(db, db_incidents.create_incident, incident)
    if not diagnosed:
        return incident.id, None
    diagnosis_id = run_in_transaction(
        db,
        db_incidents.save_diagnosis,
        incident.id,
        {},
        backend="builtin",
        category="saturation",
        confidence=0.7,
    )
    return incident.id, diagnosis_id


def refusal(db: sqlite_utils.Database, incident_id: str, diagnosis_id: int | None = None) -> FeedbackRefused:
    feedback = Feedback(who="ana", verdict="correct", diagnosis_id=diagnosis_id)
    with pytest.raises(FeedbackRefused) as refused:
        run_in_transaction(db, record_feedback, incident_id, feedback, NOW)
    return refused.value


def feedback_rows(db: sqlite_utils.Database) -> int:
    return db.conn.execute(
        "SELECT (SELECT count(*) FROM feedback) + (SELECT count(*) FROM feedback_history)"
    ).fetchone()[0]


def test_an_unknown_incident_is_refused_with_404(db: sqlite_utils.Database) -> None:
    refused = refusal(db, "no-such-incident")
    assert (refused.status, refused.field) == (404, None)
    assert str(refused) == "incident no-such-incident is not stored (unknown, or pruned by retention)"
    assert feedback_rows(db) == 0


def test_another_incidents_diagnosis_is_refused_with_400_naming_diagnosis_id(
    db: sqlite_utils.Database,
) -> None:
    judged, _ = stored_incident(db, "fp-judged", diagnosed=True)
    _, foreign = stored_incident(db, "fp-other", diagnosed=True)
    assert foreign is not None
    refused = refusal(db, judged, foreign)
    assert (refused.status, refused.field) == (400, "diagnosis_id")
    assert str(refused) == (
        f"diagnosis {foreign} is not stored for incident {judged}"
        " (another incident's, unknown, or pruned by retention)"
    )
    assert feedback_rows(db) == 0


def test_an_undiagnosed_incident_is_refused_with_409(db: sqlite_utils.Database) -> None:
    incident_id, _ = stored_incident(db, "fp-waiting", diagnosed=False)
    refused = refusal(db, incident_id)
    assert (refused.status, refused.field) == (409, None)
    assert str(refused) == f"incident {incident_id} has no diagnosis yet: judge it once it is diagnosed"
    assert feedback_rows(db) == 0


def test_a_judgement_of_the_incidents_own_diagnosis_is_stored(db: sqlite_utils.Database) -> None:
    incident_id, diagnosis_id = stored_incident(db, "fp-judged", diagnosed=True)
    feedback = Feedback(who="ana", verdict="correct", diagnosis_id=diagnosis_id)
    outcome = run_in_transaction(db, record_feedback, incident_id, feedback, NOW)
    assert outcome.created and outcome.diagnosis["id"] == outcome.feedback["diagnosis_id"] == diagnosis_id
    assert feedback_rows(db) == 2  # the judgement and its history entry
