"""docs/benchmarks.md and docs/benchmarks/*.md as a contributor reproducing a figure meets them: every
command names a benchmark that exists, with options it has; the summary table's commands run as written
from the checkout; every link between the pages lands on a heading that exists."""

from __future__ import annotations

import contextlib
import importlib
import inspect
import io
import re
import sys
from functools import cache
from pathlib import Path

import pytest

DOCS = Path(__file__).resolve().parents[2] / "docs"
PAGES = [DOCS / "benchmarks.md", *sorted((DOCS / "benchmarks").glob("*.md"))]
COMMAND = re.compile(r"`(python -m bench\.([a-z_]+)[^`]*)`")
FENCED_COMMAND = re.compile(r"^((?:[A-Z_]+=\S+ )*python -m bench\.([a-z_]+).*)")
PLACEHOLDER = re.compile(r"…|<[^>]*>|(?<![\w./-])[A-Z]{2,}(?![\w=])")
OPTION = re.compile(r"(?<![\w-])--[a-z][a-z0-9-]*")
COMMAND_CELL = re.compile(r"`(python -m [^`]*)`")
LINK = re.compile(r"\]\(([^)\s]+)\)")


def commands() -> list[tuple[str, str, str]]:
    """(page:line, command, module) of every `python -m bench.NAME ...`: in code spans, and on the lines of
    fenced blocks (a line ending in a backslash continued by the next)."""
    found = []
    for page in PAGES:
        fenced, pending = False, ""
        for number, line in enumerate(page.read_text().splitlines(), 1):
            if line.startswith("```"):
                fenced, pending = not fenced, ""
            elif fenced:
                pending += line.rstrip("\\")
                if not line.endswith("\\"):
                    if block := FENCED_COMMAND.match(pending.strip()):
                        found.append((f"{page.name}:{number}", block[1], block[2]))
                    pending = ""
            else:
                found += [(f"{page.name}:{number}", m[1], m[2]) for m in COMMAND.finditer(line)]
    return found


@cache
def options_of(module_name: str) -> frozenset[str]:
    """Every option the benchmark's parser (and its subcommands' parsers) print in `--help`."""
    module = importlib.import_module(f"bench.{module_name}")
    text = _help(module, [])
    for sub in re.findall(r"\{([a-z,]+)\}", text)[:1]:
        text += "".join(_help(module, [name]) for name in sub.split(","))
    return frozenset(OPTION.findall(text))


def _help(module: object, prefix: list[str]) -> str:
    main = module.main  # type: ignore[attr-defined]
    out = io.StringIO()
    argv = [*prefix, "--help"]
    saved = sys.argv
    sys.argv = ["bench", *argv]
    try:
        with contextlib.redirect_stdout(out), pytest.raises(SystemExit):
            main(argv) if inspect.signature(main).parameters else main()
    finally:
        sys.argv = saved
    return out.getvalue()


@pytest.mark.parametrize(("where", "command", "module"), commands(), ids=lambda v: str(v)[:60])
def test_a_documented_command_names_a_benchmark_and_options_it_has(
    where: str, command: str, module: str
) -> None:
    assert importlib.util.find_spec(f"bench.{module}") is not None, f"{where}: no module bench.{module}"
    unknown = set(OPTION.findall(command)) - options_of(module)
    assert not unknown, f"{where}: `{command}`: bench.{module} has no {', '.join(sorted(unknown))}"


def summary_table() -> list[str]:
    """The rows of the first table of docs/benchmarks.md."""
    lines = (DOCS / "benchmarks.md").read_text().splitlines()
    start = next(i for i, line in enumerate(lines) if line.startswith("| "))
    end = next((i for i in range(start, len(lines)) if not lines[i].startswith("|")), len(lines))
    return lines[start:end]


def test_the_summary_table_commands_run_as_written_from_the_checkout() -> None:
    """Nothing to fill in (`…`, `OUT`, `<dir>`): the datasets are at ../shared from the checkout."""
    table = summary_table()
    placeholders = [cell for line in table for cell in COMMAND_CELL.findall(line) if PLACEHOLDER.search(cell)]
    assert not placeholders


def test_a_placeholder_is_told_from_an_option_value() -> None:
    assert all(PLACEHOLDER.search(c) for c in ("--data …/nab", "--out OUT", "--data <dir with test/>"))
    assert not any(
        PLACEHOLDER.search(c) for c in ("--data ../shared/nab", "--methods level_step_tail,zscore")
    )


def _anchor(heading: str) -> str:
    """GitHub's id for a heading: links and code marks dropped, lower case, punctuation out, spaces to -."""
    text = re.sub(r"\[([^\]]*)\]\([^)]*\)", r"\1", heading).strip().lower().replace("`", "")
    return re.sub(r"[^\w\- ]", "", text).replace(" ", "-")


@cache
def anchors(page: Path) -> frozenset[str]:
    seen: dict[str, int] = {}
    fenced = False
    for line in page.read_text().splitlines():
        fenced ^= line.startswith("```")
        if not fenced and (heading := re.match(r"#{1,6} (.*)", line)):
            slug = _anchor(heading[1])
            seen[slug] = seen.get(slug, -1) + 1
            if seen[slug]:
                seen[f"{slug}-{seen[slug]}"] = 0
    return frozenset(seen)


def test_links_between_the_benchmark_pages_land_on_headings_that_exist() -> None:
    broken = []
    for page in PAGES:
        for number, line in enumerate(page.read_text().splitlines(), 1):
            for target in LINK.findall(line):
                if target.startswith(("http://", "https://")):
                    continue
                path, _, fragment = target.partition("#")
                dest = (page.parent / path).resolve() if path else page
                if not dest.exists() or (fragment and dest.suffix == ".md" and fragment not in anchors(dest)):
                    broken.append(f"{page.name}:{number}: {target}")
    assert not broken


def test_the_anchor_rule_matches_githubs() -> None:
    assert _anchor("Session 34 (2026-12-05): a calm step, OpenTelemetry's `target_info`") == (
        "session-34-2026-12-05-a-calm-step-opentelemetrys-target_info"
    )
    assert _anchor("Speed (`bench.speed`, `bench.detect`)") == "speed-benchspeed-benchdetect"
