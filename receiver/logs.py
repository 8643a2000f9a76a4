"""structlog configuration: JSON lines (or console) with context variables such as incident_id.

Every event (and the stdlib records of aiohttp and friends) is redacted before it is rendered. A line that
cannot be written (stderr on a full disk, closed, or a pipe whose reader is gone) is dropped and counted,
never raised into the code that logged it.
"""

from __future__ import annotations

import logging
import sys
import threading
import traceback
from collections.abc import Sequence
from typing import Any, TextIO, cast

import structlog
from aiohttp.http_exceptions import HttpProcessingError
from aiohttp.web_protocol import RequestPayloadError
from structlog.typing import EventDict, Processor, WrappedLogger

from analyst.llm.redact import redact_document, redact_secrets

_PLAIN = (str, int, float, bool, type(None), dict, list, tuple)
LEVELS = {"debug": logging.DEBUG, "info": logging.INFO, "warning": logging.WARNING, "error": logging.ERROR}


def redact_event(logger: WrappedLogger, method: str, event_dict: EventDict) -> EventDict:
    """structlog processor: the same redaction as every sink, over every string in the event (other
    objects, such as exceptions, are rendered with repr first so their text is redacted too)."""
    plain = {k: v if isinstance(v, _PLAIN) else repr(v) for k, v in event_dict.items()}
    return dict(redact_document(plain))


class RedactingFilter(logging.Filter):
    """Redacts a stdlib record's message and traceback (formatted here, so the handler prints ours)."""

    def filter(self, record: logging.LogRecord) -> bool:
        try:
            message = record.getMessage()
        except (TypeError, ValueError):
            return True  # the handler reports the bad format string itself
        record.msg, record.args = redact_secrets(message), None
        if record.exc_info and not record.exc_text:
            record.exc_text = redact_secrets(logging.Formatter().formatException(record.exc_info))
        return True


class ClientErrorFilter(logging.Filter):
    """aiohttp logs a request it could not parse (bad headers, a body that does not decode as its
    Content-Encoding, also while draining an unread body after the answer) with a traceback: that is the
    client's error, not ours, so it becomes one warning line."""

    def filter(self, record: logging.LogRecord) -> bool:
        error = record.exc_info[1] if record.exc_info else None
        if isinstance(error, RequestPayloadError):
            error = error.__cause__ if isinstance(error.__cause__, HttpProcessingError) else None
            error = error or HttpProcessingError(code=400, message="request body does not decode")
        if isinstance(error, HttpProcessingError) and 400 <= (error.code or 0) < 500:
            record.msg, record.args = f"bad request answered {error.code}: {error.message}", None
            record.exc_info, record.exc_text = None, None
            record.levelno, record.levelname = logging.WARNING, "WARNING"
        return True


class DroppingStream:
    """stderr for log lines that never raises: a line it cannot take is dropped and counted, and the next
    line that does get through is preceded by one `log_lines_dropped` event. Each `write` is a whole line
    (as WriteLogger and StreamHandler write them), flushed at once; no retries."""

    def __init__(
        self,
        stream: TextIO,
        notice_processors: Sequence[Processor],
        previous: DroppingStream | None = None,
    ) -> None:
        self.stream = stream
        self.dropped = 0  # lines lost since logging was first configured, a running total
        self._unreported = 0
        self._error = ""
        self._notice_processors = notice_processors
        self._lock = threading.Lock()  # one line at a time from structlog and the stdlib alike
        if previous is not None:
            self._carry(previous)

    def _carry(self, previous: DroppingStream) -> None:
        """Take over the counts of the stream this one replaces (a reload): the running total, and the
        lines not yet reported, which this stream's first line written reports."""
        with previous._lock:
            self.dropped, self._unreported, self._error = (
                previous.dropped,
                previous._unreported,
                previous._error,
            )
            previous._unreported = 0  # reported by this stream, not by a late write to the old one

    def write(self, line: str) -> int:
        with self._lock:
            text = self._notice() + line if self._unreported else line
            try:
                self.stream.write(text)
                self.stream.flush()
            except (OSError, ValueError) as exc:  # ENOSPC, EPIPE; ValueError: closed
                self.dropped += 1
                self._unreported += 1
                self._error = f"{type(exc).__name__}: {exc}"
            else:
                self._unreported = 0
        return len(line)

    def flush(self) -> None:
        """Every write is flushed already."""

    def _notice(self) -> str:
        event: Any = {"event": "log_lines_dropped", "dropped": self._unreported, "error": self._error}
        for processor in self._notice_processors:
            event = processor(None, "warning", event)
        return f"{event}\n"


class DroppingStreamHandler(logging.StreamHandler[DroppingStream]):
    """The stdlib handler on a DroppingStream. Its report of a record it cannot format goes there too,
    redacted (the stdlib's writes to sys.stderr itself and lets a closed one's ValueError out)."""

    def handleError(self, record: logging.LogRecord) -> None:
        if logging.raiseExceptions:
            report = f"{traceback.format_exc()}Message: {record.msg!r}\nArguments: {record.args!r}\n"
            self.stream.write(f"--- Logging error ---\n{redact_secrets(report)}")


def dropped_log_lines() -> int:
    """Log lines lost (stderr full, closed or its reader gone) since logging was first configured: a
    reload's configure_logging carries the count on."""
    stream = _current_stream()
    return stream.dropped if stream is not None else 0


def _current_stream() -> DroppingStream | None:
    handlers = logging.getLogger().handlers
    return next((h.stream for h in handlers if isinstance(h, DroppingStreamHandler)), None)


def configure_logging(level: str = "info", fmt: str = "json") -> None:
    """structlog events and stdlib records (aiohttp, asyncio, urllib3) through one renderer: every line on
    stderr is a JSON object (or a console line) with timestamp, level and logger, redacted; a line stderr
    refuses is dropped (see DroppingStream). Safe to call again (a reload): the root handler is replaced,
    not added, and the new stream carries on the old one's count of dropped lines."""
    renderer: Processor = (
        structlog.processors.JSONRenderer() if fmt == "json" else structlog.dev.ConsoleRenderer(colors=False)
    )
    timestamper = structlog.processors.TimeStamper(fmt="iso", utc=True)
    notice: list[Processor] = [structlog.processors.add_log_level, timestamper, renderer]
    stream = DroppingStream(sys.stderr, notice, previous=_current_stream())
    structlog.configure(
        processors=[
            structlog.contextvars.merge_contextvars,
            structlog.processors.add_log_level,
            timestamper,
            structlog.processors.format_exc_info,
            redact_event,
            renderer,
        ],
        wrapper_class=structlog.make_filtering_bound_logger(LEVELS[level]),
        # WriteLogger: one write a line (PrintLogger's print makes two), and only write and flush are used.
        logger_factory=structlog.WriteLoggerFactory(file=cast("TextIO", stream)),
        cache_logger_on_first_use=False,
    )
    handler = DroppingStreamHandler(stream)
    handler.setFormatter(
        structlog.stdlib.ProcessorFormatter(
            foreign_pre_chain=[
                structlog.contextvars.merge_contextvars,
                structlog.stdlib.add_log_level,
                structlog.stdlib.add_logger_name,
                timestamper,
            ],
            processors=[
                structlog.stdlib.ProcessorFormatter.remove_processors_meta,
                structlog.processors.format_exc_info,
                redact_event,
                renderer,
            ],
        )
    )
    handler.addFilter(ClientErrorFilter())
    handler.addFilter(RedactingFilter())
    root = logging.getLogger()
    root.handlers = [handler]
    root.setLevel(LEVELS[level])
    logging.getLogger("aiohttp.access").setLevel(logging.WARNING)
    # urllib3 (under prometheus-api-client) logs every retry; failures are counted and noted in evidence.
    logging.getLogger("urllib3.connectionpool").setLevel(logging.ERROR)
    # httpx (under the openai and anthropic SDKs) logs every request at info; the LLM analyst counts its
    # calls (`alert_analyst_llm_requests_total`) and logs its failures and fallbacks itself.
    logging.getLogger("httpx").setLevel(logging.WARNING)
