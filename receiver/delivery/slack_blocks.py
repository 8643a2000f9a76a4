"""Slack messages as Block Kit, within Slack's limits, with mrkdwn escaping of everything we insert.

Untrusted text (labels, annotations, diagnoses) is redacted (`analyst.llm.redact`) and made inert:
Slack has no escape for `*_~` and backticks, so they become look-alikes (`∗ ˍ ∼ ˋ`); an underscore
between two letters or digits stays (it cannot start or end italics), so snake_case names stay copyable.

Limits: 50 blocks per message, 3000 characters per section, 150 per header, and an undocumented
total (`msg_blocks_too_long`, seen near 13k characters), so long diagnoses become several thread
replies (`paginate`). Every other message is one message whose parts are capped (`clip`, `CUT_MARKER`):
a 200,000-character alert description still gives a parent that Slack accepts.
"""

from __future__ import annotations

import itertools
import json
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from analyst.diagnosis import DiagnosisResult
from analyst.llm.redact import redact_label, redact_secrets
from receiver.delivery.summary import (
    IncidentLinks,
    actions_title,
    alert_summary,
    cause_line,
    format_duration,
    hypothesis_line,
    percent,
)
from receiver.models import Incident
from receiver.storage.feedback import DIAGNOSIS_ID_DIGITS

MAX_BLOCKS = 50
SECTION_TEXT_LIMIT = 3000
HEADER_TEXT_LIMIT = 150
MESSAGE_BLOCK_BUDGET = 10_000
FALLBACK_TEXT_LIMIT = 3000

# Caps of the parts of a one-message reply, in characters as `paginate` weighs them (JSON-escaped): their
# sum, with a header and a link, stays well under MESSAGE_BLOCK_BUDGET.
ALERT_TEXT_LIMIT = 3000  # an alert's summary or description
LABELS_TEXT_LIMIT = 1500  # the labels line
LABEL_VALUE_LIMIT = 200  # one label's name or value, before escaping
NAME_LIMIT = 200  # an alertname or severity in running text
CAUSE_LIMIT = 600
RECOVERY_LIMIT = 1500
ITEM_TEXT_LIMIT = 400  # one follow-up or preventive measure
LIST_ITEMS_LIMIT = 8
CUT_MARKER = "… (full text in alert-analyst)"

Block = dict[str, Any]


@dataclass(frozen=True)
class SlackMessage:
    """`text` is the notification fallback (always sent); `blocks` the rendered message."""

    text: str
    blocks: list[Block]


_LOOKALIKES = str.maketrans({"*": "\u2217", "~": "\u223c", "`": "\u02cb"})
_EDGE_UNDERSCORE = re.compile(r"(?<![A-Za-z0-9])_|_(?![A-Za-z0-9])")  # could open or close italics
_LINE_START_QUOTE = re.compile(r"^&gt;", re.MULTILINE)


def escape_entities(text: str) -> str:
    """Escape exactly `&`, `<` and `>`, which Slack reserves for control sequences."""
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def escape_mrkdwn(text: str) -> str:
    """Untrusted text as inert mrkdwn: secrets redacted, `&<>` as entities, no bold, italics, strike,
    code or quote."""
    inert = escape_entities(redact_secrets(text)).translate(_LOOKALIKES)
    inert = _EDGE_UNDERSCORE.sub("\u02cd", inert)
    return _LINE_START_QUOTE.sub("\u00ad&gt;", inert)  # a soft hyphen keeps a leading > from quoting


def inline_code(text: str) -> str:
    """Text inside a `code span`: only a backtick (or a line break) could end it; `*_~` are inert there."""
    return escape_entities(" ".join(text.splitlines())).replace("`", "\u02cb")


def _safe_cut(text: str, cut: int) -> int:
    """Move `cut` back so it does not split an `&amp;`-style entity."""
    amp = text.rfind("&", max(0, cut - 5), cut)
    if amp != -1 and ";" not in text[amp:cut]:
        return amp
    return cut


def truncate(text: str, limit: int) -> str:
    """Shorten already-escaped text to `limit` characters, ending in an ellipsis."""
    if len(text) <= limit:
        return text
    return text[: _safe_cut(text, limit - 1)] + "…"


def weight(text: str) -> int:
    """`text`'s characters as `paginate` counts them: JSON-escaped (a non-ASCII character counts 6 or 12)."""
    return len(json.dumps(text)) - 2


def clip(text: str, limit: int) -> str:
    """Shorten already-escaped text to a `weight` of at most `limit`, ending in CUT_MARKER: the full text
    is in alert-analyst, which the message links."""
    if len(text) <= limit and weight(text) <= limit:
        return text
    room = max(0, limit - weight(CUT_MARKER))
    totals = itertools.accumulate(weight(c) for c in text[:room])  # a character weighs at least 1
    cut = sum(1 for _ in itertools.takewhile(lambda total: total <= room, totals))
    return text[: _safe_cut(text, cut)].rstrip() + CUT_MARKER


def _shorten_plain(text: str, limit: int) -> str:
    """Raw text (not yet escaped) cut to `limit` characters, ending in an ellipsis."""
    return text if len(text) <= limit else text[: limit - 1] + "…"


def split_text(text: str, limit: int = SECTION_TEXT_LIMIT) -> list[str]:
    """Split escaped text into chunks of at most `limit`, preferring line breaks."""
    chunks: list[str] = []
    while len(text) > limit:
        cut = text.rfind("\n", 0, limit)
        if cut <= 0:
            cut = _safe_cut(text, limit)
        chunks.append(text[:cut])
        text = text[cut:].lstrip("\n")
    if text:
        chunks.append(text)
    return chunks


def link(url: str, label: str) -> str:
    return f"<{escape_entities(redact_secrets(url)).replace('|', '%7C')}|{escape_mrkdwn(label)}>"


def header_block(text: str) -> Block:
    """A plain_text header (no formatting to escape), redacted before it is cut."""
    text = redact_secrets(text)
    plain = text if len(text) <= HEADER_TEXT_LIMIT else text[: HEADER_TEXT_LIMIT - 1] + "…"
    return {"type": "header", "text": {"type": "plain_text", "text": plain, "emoji": True}}


def section_blocks(mrkdwn: str) -> list[Block]:
    return [{"type": "section", "text": {"type": "mrkdwn", "text": chunk}} for chunk in split_text(mrkdwn)]


def context_block(mrkdwn: str) -> Block:
    return {"type": "context", "elements": [{"type": "mrkdwn", "text": truncate(mrkdwn, SECTION_TEXT_LIMIT)}]}


FEEDBACK_ACTION_PREFIX = "feedback_"
FEEDBACK_BLOCK_ID = "alert_analyst_feedback"
FEEDBACK_BUTTONS = (
    ("correct", "✅ Correct", "primary"),
    ("wrong", "❌ Wrong", "danger"),
    ("partly", "➗ Partly", None),
)


# A button's value: "{incident id}:{diagnosis id}" (Slack allows 2000 characters). Buttons posted before
# the diagnosis id was added carry the incident id alone, which judges the incident's newest diagnosis.
DIAGNOSIS_ID = re.compile(f"[0-9]{{1,{DIAGNOSIS_ID_DIGITS}}}")


def feedback_value(incident_id: str, diagnosis_id: int | None) -> str:
    """What a feedback button carries: the incident and the diagnosis the message shows."""
    return incident_id if diagnosis_id is None else f"{incident_id}:{diagnosis_id}"


def parse_feedback_value(value: str) -> tuple[str, int | None]:
    """(incident id, diagnosis id) of a feedback button's value; the diagnosis id is None in buttons
    posted before it was added (incident ids never hold a colon)."""
    incident_id, colon, diagnosis_id = value.rpartition(":")
    if colon and incident_id and DIAGNOSIS_ID.fullmatch(diagnosis_id):
        return incident_id, int(diagnosis_id)
    return value, None


def feedback_actions(incident_id: str, diagnosis_id: int | None = None) -> Block:
    """Buttons that judge the diagnosis; Slack posts the click to `/slack/interactions` with the value
    `feedback_value(incident_id, diagnosis_id)`, so a click judges the diagnosis the clicker read."""
    buttons: list[Block] = []
    for verdict, label, style in FEEDBACK_BUTTONS:
        button: Block = {
            "type": "button",
            "action_id": FEEDBACK_ACTION_PREFIX + verdict,
            "text": {"type": "plain_text", "text": label, "emoji": True},
            "value": feedback_value(incident_id, diagnosis_id),
        }
        if style:
            button["style"] = style
        buttons.append(button)
    return {"type": "actions", "block_id": FEEDBACK_BLOCK_ID, "elements": buttons}


def paginate(
    blocks: Sequence[Block], max_blocks: int = MAX_BLOCKS, budget: int = MESSAGE_BLOCK_BUDGET
) -> list[list[Block]]:
    """Group blocks into messages of at most `max_blocks` blocks and about `budget` characters."""
    pages: list[list[Block]] = [[]]
    size = 0
    for block in blocks:
        block_size = len(json.dumps(block))
        if pages[-1] and (len(pages[-1]) >= max_blocks or size + block_size > budget):
            pages.append([])
            size = 0
        pages[-1].append(block)
        size += block_size
    return pages


def _fallback(text: str) -> str:
    return truncate(escape_mrkdwn(text), FALLBACK_TEXT_LIMIT)


def _slack_date(ts: float) -> str:
    iso = datetime.fromtimestamp(ts, UTC).strftime("%Y-%m-%d %H:%M:%S UTC")
    return f"<!date^{int(ts)}^{{date_short_pretty}} {{time_secs}}|{iso}>"


def _label(name: str, value: str) -> str:
    shown_name = _shorten_plain(redact_secrets(name), LABEL_VALUE_LIMIT)
    shown_value = _shorten_plain(redact_label(name, value), LABEL_VALUE_LIMIT)
    return f"`{inline_code(shown_name)}={inline_code(shown_value)}`"


def _labels_line(labels: Mapping[str, str], skip: Iterable[str] = ("alertname", "severity")) -> str:
    """The labels as code spans, whole ones only, within LABELS_TEXT_LIMIT: those left out are counted."""
    shown = [_label(k, v) for k, v in sorted(labels.items()) if k not in skip]
    line = ""
    for count, label in enumerate(shown):
        left = len(shown) - count
        more = f" … ({left} more label{'s' if left > 1 else ''} in alert-analyst)"
        if weight(f"{line} {label}") + weight(more) > LABELS_TEXT_LIMIT:
            return line + more
        line = f"{line} {label}" if line else label
    return line or "_none_"


def _bullets(
    items: Iterable[str], numbered: bool = False, item_limit: int | None = None, at_most: int | None = None
) -> str:
    """One line per item; with `item_limit` each is clipped, with `at_most` the rest are counted."""
    items = list(items)
    lines = []
    for number, item in enumerate(items[:at_most], start=1):
        marker = f"{number}." if numbered else "•"
        text = escape_mrkdwn(item)
        lines.append(f"{marker} {clip(text, item_limit) if item_limit else text}")
    if at_most is not None and len(items) > at_most:
        lines.append(f"… and {len(items) - at_most} more in alert-analyst")
    return "\n".join(lines)


def _name(text: str) -> str:
    """An alertname or severity in running text: escaped and capped."""
    return clip(escape_mrkdwn(text), NAME_LIMIT)


def firing_parent(incident: Incident, links: IncidentLinks) -> SlackMessage:
    """The thread's parent: posted when the alert group first fires."""
    summary = alert_summary(incident)
    shown = clip(escape_mrkdwn(summary), ALERT_TEXT_LIMIT)
    started = _slack_date(incident.starts_at)
    blocks = [
        header_block(f"🔥 FIRING: {incident.alertname} ({incident.severity})"),
        *section_blocks(f"{shown}\n*Started:* {started}\n*Labels:* {_labels_line(incident.labels)}"),
        context_block(f"{link(links.ui, 'Open in alert-analyst')} · diagnosis follows in this thread"),
    ]
    return SlackMessage(_fallback(f"[FIRING] {incident.alertname} ({incident.severity}): {summary}"), blocks)


def resolved_parent(
    alertname: str, severity: str, summary: str, started_at: float, duration: float, links: IncidentLinks
) -> SlackMessage:
    """The parent rewritten by chat.update once the whole group has resolved."""
    blocks = [
        header_block(f"✅ RESOLVED: {alertname} ({severity})"),
        *section_blocks(
            f"~{clip(escape_mrkdwn(summary), ALERT_TEXT_LIMIT)}~\n*Started:* {_slack_date(started_at)} · "
            f"*Resolved after* {format_duration(duration)}"
        ),
        context_block(link(links.ui, "Open in alert-analyst")),
    ]
    return SlackMessage(_fallback(f"[RESOLVED] {alertname} ({severity}): {summary}"), blocks)


def group_alert_reply(incident: Incident, links: IncidentLinks) -> SlackMessage:
    """A later alert of the same group, as a thread reply."""
    summary = alert_summary(incident)
    text = (
        f"🔥 *Another alert in this group:* {_name(incident.alertname)} ({_name(incident.severity)})"
        f"\n{clip(escape_mrkdwn(summary), ALERT_TEXT_LIMIT)}\n*Labels:* {_labels_line(incident.labels)}"
    )
    blocks = [*section_blocks(text), context_block(link(links.ui, "Open in alert-analyst"))]
    return SlackMessage(_fallback(f"[FIRING] {incident.alertname}: {summary}"), blocks)


def member_resolved_reply(incident: Incident, still_firing: int, links: IncidentLinks) -> SlackMessage:
    """An alert of the group resolved while `still_firing` others still fire, as a thread reply."""
    duration = (incident.ends_at or incident.last_seen) - incident.starts_at
    text = (
        f"✅ {_name(incident.alertname)} {_labels_line(incident.labels)} resolved after "
        f"{format_duration(duration)}; {still_firing} alert(s) of this group still firing."
    )
    blocks = [*section_blocks(text), context_block(link(links.ui, "Open in alert-analyst"))]
    return SlackMessage(_fallback(f"[RESOLVED] {incident.alertname}"), blocks)


def diagnosis_messages(
    incident: Incident, diagnosis: DiagnosisResult, links: IncidentLinks, diagnosis_id: int | None = None
) -> list[SlackMessage]:
    """The diagnosis as one thread reply, or several when it exceeds Slack's per-message limits; the
    feedback buttons judge stored diagnosis `diagnosis_id` (None: whichever is the incident's newest)."""
    primary = diagnosis.primary_hypothesis
    blocks: list[Block] = [
        header_block(f"🧭 Diagnosis: {primary.title}"),
        *section_blocks(
            f"*Primary cause:* {escape_mrkdwn(primary.title)}\n"
            f"*Confidence:* {percent(diagnosis.confidence_score)} · *Category:* `{primary.category.value}`"
            f" · *Suspect:* {escape_mrkdwn(primary.suspect)}"
        ),
    ]
    if diagnosis.executive_summary:
        blocks += section_blocks(escape_mrkdwn(diagnosis.executive_summary))
    if primary.supporting_evidence:
        blocks += section_blocks("*Evidence*\n" + _bullets(primary.supporting_evidence))
    if diagnosis.alternative_hypotheses:
        alternatives = (hypothesis_line(h) for h in diagnosis.alternative_hypotheses)
        blocks += section_blocks("*Alternatives*\n" + _bullets(alternatives))
    if diagnosis.immediate_actions:
        title = actions_title(incident, diagnosis)
        blocks += section_blocks(f"*{title}*\n" + _bullets(diagnosis.immediate_actions, numbered=True))
    if diagnosis.recall:
        blocks.append(context_block("🧠 " + escape_mrkdwn(diagnosis.recall)))
    model = f" · model {escape_mrkdwn(diagnosis.llm_model_used)}" if diagnosis.llm_model_used else ""
    blocks.append(
        context_block(
            f"{link(links.ui, 'Full diagnosis')} · {link(links.api, 'JSON')} · "
            f"backend {escape_mrkdwn(diagnosis.backend)}{model}"
        )
    )
    pages = paginate(blocks, max_blocks=MAX_BLOCKS - 1)  # room for the feedback buttons
    pages[-1].append(feedback_actions(incident.id, diagnosis_id))
    fallback = f"Diagnosis for {incident.alertname}: {cause_line(diagnosis)}"
    if len(pages) == 1:
        return [SlackMessage(_fallback(fallback), pages[0])]
    return [
        SlackMessage(_fallback(f"{fallback} (part {n}/{len(pages)})"), page)
        for n, page in enumerate(pages, start=1)
    ]


def closing_summary(
    incident: Incident,
    diagnosis: DiagnosisResult | None,
    duration: float,
    links: IncidentLinks,
    recovery: str | None = None,
) -> SlackMessage:
    """The last reply of a thread: how long it lasted, the cause, how it recovered (`recovery`, checked at
    resolution), the follow-ups (`diagnosis` is the closing one: `summary.closing_diagnosis`) and the
    diagnosis' preventive measures."""
    lines = [f"✅ *Resolved* after {format_duration(duration)}."]
    if diagnosis is not None:
        lines.append(f"*Cause:* {clip(escape_mrkdwn(cause_line(diagnosis)), CAUSE_LIMIT)}")
        if recovery:
            lines.append(f"*Recovery:* {clip(escape_mrkdwn(recovery), RECOVERY_LIMIT)}")
        follow_ups = _bullets(diagnosis.immediate_actions, True, ITEM_TEXT_LIMIT, LIST_ITEMS_LIMIT)
        lines.append("*Follow-up:*\n" + follow_ups)
        if diagnosis.preventive_measures:
            prevent = _bullets(diagnosis.preventive_measures[:3], item_limit=ITEM_TEXT_LIMIT)
            lines.append("*Prevent a recurrence:*\n" + prevent)
    else:
        lines.append("*Cause:* no diagnosis was produced.")
    blocks = [*section_blocks("\n".join(lines)), context_block(link(links.ui, "Open in alert-analyst"))]
    return SlackMessage(
        _fallback(f"[RESOLVED] {incident.alertname} after {format_duration(duration)}"), blocks
    )
