"""Memory of past incidents: evidence signatures, FTS5 text, similar incidents and recurring problems.

Writers run inside `Store.write`'s transaction; readers through `Store.run`.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable
from typing import Any

import sqlite_utils

from analyst.memory import SIMILAR, EvidenceSignature, similarity
from receiver.storage.database import fetch_all

# Full text ranks at most this many candidates; the signature score decides among them.
TEXT_CANDIDATES = 50
# Full text searches the most recently indexed this-many incidents: bm25 scores every match, so an
# unbounded search costs time in proportion to the whole history (1.1 s at 200,000 alike incidents against
# 0.2 s with this window); older incidents still count through their evidence signature.
TEXT_WINDOW = 20_000
# Signature candidates of the same alertname, newest first; also the most incidents the full-text words are
# expected to match together. bm25 scores every match, so words that each match a tenth of a full window
# (a recurring alert's own words in a storm of it: 12.8 ms of each recall at 5,500 incidents, growing with
# the history, on the one thread that reads SQLite) are not searched; the alertname's candidates hold them.
CANDIDATES = 2000
# Share of the final score that comes from the full-text match (the rest is signature similarity).
TEXT_WEIGHT = 0.1
# A word in more than half of the incidents searched picks out fewer of them than it leaves, and gets no
# weight in bm25's ranking (FTS5 clamps its inverse document frequency, log((N - n + 0.5) / (n + 0.5)), to
# 1e-6 where that is not positive), yet makes nearly every incident a match to be scored: the search leaves
# such words out, and without another word it reads nothing (the signature's candidates stand alone). Their
# share is read from the newest COMMON_SAMPLE indexed incidents (a binomial standard error of 1.6 points at
# 1,000), not counted over the whole window: that count would cost about what it saves.
COMMON_SAMPLE = 1000
# Words of three or more characters in any script (FTS5's unicode61 tokenizer indexes them all).
_WORD = re.compile(r"[^\W\d_]\w{2,}")


def save_signature(
    db: sqlite_utils.Database,
    incident_id: str,
    signature: EvidenceSignature,
    *,
    diagnosis_id: int | None,
    category: str,
    suspect: str,
    now: float,
) -> None:
    db.conn.execute(
        "INSERT OR REPLACE INTO incident_signatures (incident_id, diagnosis_id, evidence_key, alert_key,"
        " category, suspect, moved, created_at, alertname) VALUES (?,?,?,?,?,?,?,?,?)",
        (
            incident_id,
            diagnosis_id,
            signature.key,
            signature.alert,
            category,
            suspect,
            json.dumps(signature.moved),
            now,
            signature.alertname,
        ),
    )


def _text_rowid(db: sqlite_utils.Database, incident_id: str) -> int | None:
    """The rowid of an incident's full-text row, from `incident_text_rows`: FTS5 cannot index its
    `incident_id` column, and a search of it reads every row of the history."""
    row = db.conn.execute(
        "SELECT text_rowid FROM incident_text_rows WHERE incident_id=?", (incident_id,)
    ).fetchone()
    return int(row[0]) if row else None


def _insert_text(db: sqlite_utils.Database, incident_id: str, alert: str, diagnosis: str, notes: str) -> None:
    cursor = db.conn.execute(
        "INSERT INTO incident_text (incident_id, alert, diagnosis, notes) VALUES (?,?,?,?)",
        (incident_id, alert, diagnosis, notes),
    )
    db.conn.execute(
        "INSERT OR REPLACE INTO incident_text_rows (incident_id, text_rowid) VALUES (?,?)",
        (incident_id, cursor.lastrowid),
    )


def index_text(db: sqlite_utils.Database, incident_id: str, alert: str, diagnosis: str) -> None:
    """(Re)index an incident's alert text and diagnosis as the newest row; feedback notes are kept."""
    notes = ""
    if (rowid := _text_rowid(db, incident_id)) is not None:
        row = db.conn.execute("SELECT notes FROM incident_text WHERE rowid=?", (rowid,)).fetchone()
        notes = str(row[0]) if row else ""
        db.conn.execute("DELETE FROM incident_text WHERE rowid=?", (rowid,))
    _insert_text(db, incident_id, alert, diagnosis, notes)


def index_notes(db: sqlite_utils.Database, incident_id: str) -> None:
    """Feedback notes and given causes of an incident into its full-text row."""
    rows = db.conn.execute(
        "SELECT coalesce(note, ''), coalesce(actual_cause, ''), coalesce(actual_category, '')"
        " FROM feedback WHERE incident_id=?",
        (incident_id,),
    ).fetchall()
    text = " ".join(" ".join(row) for row in rows).strip()
    if (rowid := _text_rowid(db, incident_id)) is not None:
        db.conn.execute("UPDATE incident_text SET notes=? WHERE rowid=?", (text, rowid))
    else:
        _insert_text(db, incident_id, "", "", text)


def fts_words(text: str, limit: int = 24) -> list[str]:
    """The first `limit` distinct words of `text`, lower case, as FTS5's tokenizer indexes them."""
    return list(dict.fromkeys(w.lower() for w in _WORD.findall(text)))[:limit]


def fts_query(words: Iterable[str]) -> str:
    """An FTS5 OR-query of `words` (quoted: no operator in user text reaches FTS5)."""
    return " OR ".join(f'"{w}"' for w in words)


def telling_words(db: sqlite_utils.Database, words: list[str], newest: int) -> list[str]:
    """Those of `words` that single out past incidents, in their order: each found in at most half of the
    newest COMMON_SAMPLE incidents and, taken rarest first, together expected in at most CANDIDATES of the
    TEXT_WINDOW searched (their share of the sample times the window's rows, at most `newest`). Rows
    written after the caller read `newest` are not counted: the sample and the window stay one history."""
    floor = newest - COMMON_SAMPLE
    sampled = db.conn.execute(
        "SELECT count(*) FROM incident_text WHERE rowid > ? AND rowid <= ?", (floor, newest)
    ).fetchone()[0]
    if not sampled:
        return list(words)
    window = min(newest, TEXT_WINDOW)
    # counted no further than what could be kept: more than half, or alone past the budget
    most = min(sampled // 2, CANDIDATES * sampled // window)
    counts = {
        word: db.conn.execute(
            "SELECT count(*) FROM (SELECT 1 FROM incident_text WHERE incident_text MATCH ? AND rowid > ?"
            " AND rowid <= ? LIMIT ?)",
            (fts_query([word]), floor, newest, most + 1),
        ).fetchone()[0]
        for word in words
    }
    kept, expected = set(), 0.0
    for word in sorted(words, key=counts.__getitem__):  # stable: ties keep the text's order
        expected += counts[word] * window / sampled
        if counts[word] > most or expected > CANDIDATES:
            break
        kept.add(word)
    return [word for word in words if word in kept]


def _text_scores(db: sqlite_utils.Database, text: str, exclude: str) -> dict[str, float]:
    words = fts_words(text)
    if not words:
        return {}
    newest = db.conn.execute("SELECT max(rowid) FROM incident_text").fetchone()[0] or 0
    telling = telling_words(db, words, newest)
    if not telling:
        return {}
    rows = db.conn.execute(
        "SELECT incident_id, bm25(incident_text) FROM incident_text WHERE incident_text MATCH ?"
        " AND rowid > ? AND incident_id != ? ORDER BY bm25(incident_text) LIMIT ?",
        (fts_query(telling), newest - TEXT_WINDOW, exclude, TEXT_CANDIDATES),
    ).fetchall()
    if not rows:
        return {}
    best = min(r[1] for r in rows)  # bm25 is negative: lower is better
    return {r[0]: (r[1] / best if best else 0.0) for r in rows}


def similar_incidents(
    db: sqlite_utils.Database,
    signature: EvidenceSignature,
    text: str,
    *,
    exclude: str,
    limit: int = 10,
    min_similarity: float = SIMILAR,
    before: float | None = None,
) -> list[dict[str, Any]]:
    """Past incidents most like `signature` (+ full text), best first, each with its newest judgement.

    The candidates are scored from their signature alone (each distinct signature once: a recurring
    problem's incidents share theirs); only the `limit` best are read whole."""
    text_scores = _text_scores(db, text, exclude)
    # The newest CANDIDATES of the same alertname (an index range, whatever the history) and the text matches,
    # each once, in incident id order (ties of score and time are taken in it). The signature row carries
    # its alertname: no join with `incidents`, whose wide rows cost twice the read itself.
    columns = "SELECT incident_id, alert_key, moved, created_at, alertname FROM incident_signatures"
    recent = db.conn.execute(
        f"{columns} WHERE incident_id != ? AND alertname = ? ORDER BY created_at DESC LIMIT ?",
        (exclude, signature.alertname, CANDIDATES),
    ).fetchall()
    matched = []
    if text_scores:  # none found: no query
        in_text = f"{columns} WHERE incident_id IN ({_marks(text_scores)})"
        matched = db.conn.execute(in_text, tuple(text_scores)).fetchall()
    candidates = sorted({row[0]: row for row in (*recent, *matched)}.values())
    # each distinct signature parsed and compared once: (alertname, alert key, moved) -> (it, similarity)
    pasts: dict[tuple[str, str, str], tuple[EvidenceSignature, float]] = {}
    scored = []
    for incident_id, alert_key, moved, created_at, alertname in candidates:
        if before is not None and created_at >= before:
            continue
        key = (alertname or "", alert_key, moved)
        if key not in pasts:
            past = EvidenceSignature(key[0], alert_key, tuple(json.loads(moved)))
            pasts[key] = past, similarity(signature, past)
        score = (1 - TEXT_WEIGHT) * pasts[key][1] + TEXT_WEIGHT * text_scores.get(incident_id, 0.0)
        if score >= min_similarity:
            scored.append((round(score, 4), created_at, incident_id, key))
    scored.sort(key=lambda r: (-r[0], -r[1]))
    best = scored[:limit]
    rows = {
        row["incident_id"]: row
        for row in fetch_all(
            db,
            "SELECT s.incident_id, s.diagnosis_id, s.evidence_key, s.alert_key, s.category, s.suspect,"
            " s.moved, s.created_at, i.alertname, i.first_seen, i.ends_at, i.status"
            " FROM incident_signatures s JOIN incidents i ON i.id = s.incident_id"
            f" WHERE s.incident_id IN ({_marks(best)})",
            [incident_id for _, _, incident_id, _ in best],
        )
    }
    found = []
    for score, _, incident_id, key in best:
        row = rows[incident_id]
        past = pasts[key][0]
        row["similarity"] = score
        row["same_signature"] = past.key == signature.key
        row["moved"] = list(past.moved)
        found.append(row)
    return _with_judgements(db, found)


def _marks(values: Iterable[object]) -> str:
    return ",".join("?" for _ in values) or "NULL"


# The primary suspect of the judged diagnosis `d` (a judgement is about the diagnosis it was given on).
_JUDGED_SUSPECT = "json_extract(d.body, '$.primary_hypothesis.suspect')"


def _with_judgements(db: sqlite_utils.Database, rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Each row with its newest judgement. A judgement speaks of the diagnosis it was given on: after a
    re-diagnosis, `diagnosis_id`, `suspect` and `category` are that diagnosis', not the newest one's."""
    for row in rows:
        judged = fetch_all(
            db,
            "SELECT f.verdict, f.actual_category, f.actual_cause, f.note, f.who, f.updated_at,"
            f" f.diagnosis_id, {_JUDGED_SUSPECT} AS judged_suspect,"
            " d.category AS judged_category FROM feedback f LEFT JOIN diagnoses d ON d.id = f.diagnosis_id"
            " WHERE f.incident_id=? ORDER BY f.updated_at DESC, f.id DESC LIMIT 1",
            (row["incident_id"],),
        )
        judgement = judged[0] if judged else {}
        if judgement.get("diagnosis_id") not in (None, row["diagnosis_id"]):
            row["diagnosis_id"] = judgement["diagnosis_id"]
            row["suspect"] = judgement["judged_suspect"]
            row["category"] = judgement["judged_category"]
        row["verdict"] = judgement.get("verdict")
        row["actual_category"] = judgement.get("actual_category")
        row["actual_cause"] = judgement.get("actual_cause")
        row["note"] = judgement.get("note")
        row["confirmed_cause"] = confirmed_cause(row)
    return rows


def confirmed_cause(row: dict[str, Any]) -> str | None:
    """The cause a judgement vouches for: the diagnosed suspect if correct, else the one given."""
    if row.get("verdict") == "correct":
        return str(row.get("actual_cause") or row.get("suspect") or "") or None
    return row.get("actual_cause") or None


def signature_of(db: sqlite_utils.Database, incident_id: str) -> EvidenceSignature | None:
    rows = fetch_all(
        db,
        "SELECT s.alert_key, s.moved, i.alertname FROM incident_signatures s JOIN incidents i"
        " ON i.id = s.incident_id WHERE s.incident_id=?",
        (incident_id,),
    )
    if not rows:
        return None
    row = rows[0]
    return EvidenceSignature(row["alertname"] or "", row["alert_key"], tuple(json.loads(row["moved"])))


def incident_text(db: sqlite_utils.Database, incident_id: str) -> str:
    if (rowid := _text_rowid(db, incident_id)) is None:
        return ""
    row = db.conn.execute(
        "SELECT alert || ' ' || diagnosis FROM incident_text WHERE rowid=?", (rowid,)
    ).fetchone()
    return str(row[0]) if row else ""


def diagnosis_body(db: sqlite_utils.Database, diagnosis_id: int) -> dict[str, Any] | None:
    row = db.conn.execute("SELECT body FROM diagnoses WHERE id=?", (diagnosis_id,)).fetchone()
    return json.loads(row[0]) if row else None


def problems(db: sqlite_utils.Database, limit: int = 100) -> list[dict[str, Any]]:
    """Incidents grouped by evidence signature: count, first/last seen, confirmed cause, mean time to
    resolve (over resolved members)."""
    groups = fetch_all(
        db,
        "SELECT s.evidence_key, min(i.alertname) AS alertname, min(s.alert_key) AS alert_key,"
        " min(s.moved) AS moved, count(*) AS count, min(i.first_seen) AS first_seen,"
        " max(i.first_seen) AS last_seen,"
        " avg(CASE WHEN i.status='resolved' AND i.ends_at > i.starts_at THEN i.ends_at - i.starts_at END)"
        " AS mean_time_to_resolve_seconds,"
        " sum(i.status='resolved') AS resolved"
        " FROM incident_signatures s JOIN incidents i ON i.id = s.incident_id"
        " GROUP BY s.evidence_key ORDER BY count(*) DESC, max(i.first_seen) DESC LIMIT ?",
        (limit,),
    )
    for group in groups:
        group["moved"] = json.loads(group["moved"])
        members = fetch_all(
            db,
            "SELECT s.incident_id, f.verdict, f.actual_cause, f.actual_category,"
            f" coalesce({_JUDGED_SUSPECT}, s.suspect) AS suspect,"
            " coalesce(d.category, s.category) AS category"
            " FROM incident_signatures s LEFT JOIN feedback f ON f.incident_id = s.incident_id"
            " LEFT JOIN diagnoses d ON d.id = f.diagnosis_id"
            " WHERE s.evidence_key=? ORDER BY s.created_at DESC, f.updated_at DESC",
            (group["evidence_key"],),
        )
        confirmed = next((m for m in members if confirmed_cause(m)), None)
        group["confirmed_cause"] = confirmed_cause(confirmed) if confirmed else None
        group["confirmed_category"] = (
            (confirmed.get("actual_category") or confirmed["category"]) if confirmed else None
        )
        group["incidents"] = list(dict.fromkeys(m["incident_id"] for m in members))[:20]
        group["categories"] = sorted({m["category"] for m in members if m["category"]})
    return groups
