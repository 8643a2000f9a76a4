"""The log redacts like every other way out: structlog events (values, nested labels, exceptions and
tracebacks) and stdlib records of libraries such as aiohttp."""

from __future__ import annotations

import io
import json
import logging

import structlog

from analyst.llm.redact import REDACTED
from receiver.logs import RedactingFilter, configure_logging
from tests.support.redaction_corpus import leak_counts, secret_samples

SECRETS = secret_samples()


def test_no_secret_kind_leaks_into_structlog_lines(capsys, restore_logging) -> None:
    configure_logging("info", "json")
    log = structlog.get_logger("test.redaction")
    for sample in SECRETS:
        log.warning(
            "probe", detail=sample.text, labels={"carrier": sample.text}, error=RuntimeError(sample.text)
        )
        try:
            raise ValueError(f"upstream said {sample.text}")
        except ValueError:
            log.exception("probe_failed")

    lines = [json.loads(line) for line in capsys.readouterr().err.splitlines() if line.startswith("{")]
    probes = [line for line in lines if line["event"] == "probe"]
    failures = [line for line in lines if line["event"] == "probe_failed"]
    assert len(probes) == len(failures) == len(SECRETS)
    assert all(REDACTED in line["detail"] and REDACTED in line["labels"]["carrier"] for line in probes)
    assert all("ValueError: upstream said" in line["exception"] for line in failures)
    counts = leak_counts(SECRETS, "\n".join(json.dumps(line) for line in lines))
    print(f"\nlog leaks per kind: {counts}")
    assert counts == dict.fromkeys(counts, 0)


def test_no_secret_kind_leaks_through_stdlib_records() -> None:
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.setFormatter(logging.Formatter("%(levelname)s %(name)s %(message)s"))
    handler.addFilter(RedactingFilter())
    logger = logging.getLogger("test.redaction.stdlib")
    logger.addHandler(handler)
    logger.propagate = False
    try:
        for sample in SECRETS:
            logger.warning("request to %s failed", sample.text)
            try:
                raise ConnectionError(sample.text)
            except ConnectionError:
                logger.exception("connection lost")
    finally:
        logger.removeHandler(handler)
        logger.propagate = True

    written = stream.getvalue()
    assert written.count("request to ") == written.count("ConnectionError: ") == len(SECRETS)
    counts = leak_counts(SECRETS, written)
    assert counts == dict.fromkeys(counts, 0)


def test_configure_logging_puts_the_filter_on_the_root_handlers(restore_logging) -> None:
    configure_logging("info", "json")
    configure_logging("info", "json")
    for handler in logging.getLogger().handlers:
        assert sum(isinstance(f, RedactingFilter) for f in handler.filters) == 1
