"""structlog configuration: JSON lines (or console) with context variables such as incident_id.

Every event (and the stdlib records of aiohttp and friends) is redacted before it is rendered.
"""

from __future__ import annotations

import logging
import sys

import structlog
from aiohttp.http_exceptions import HttpProcessingError
from aiohttp.web_protocol import RequestPayloadError
from structlog.typing import EventDict, WrappedLogger

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


def configure_logging(level: str = "info", fmt: str = "json") -> None:
    """structlog events and stdlib records (aiohttp, asyncio, urllib3) through one renderer: every line on
    stderr is a JSON object (or a console line) with timestamp, level and logger, redacted. Safe to call
    again (a reload): the root handler is replaced, not added."""
    renderer: structlog.typing.Processor = (
        structlog.processors.JSONRenderer() if fmt == "json" else structlog.dev.ConsoleRenderer(colors=False)
    )
    timestamper = structlog.processors.TimeStamper(fmt="iso", utc=True)
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
        logger_factory=structlog.PrintLoggerFactory(file=sys.stderr),
        cache_logger_on_first_use=False,
    )
    handler = logging.StreamHandler(sys.stderr)
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
