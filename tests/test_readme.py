"""The README is true where that can be checked cheaply: every relative link points at a file of the
repository, every `alert-analyst` command in its shell blocks is one the CLI accepts, and every settings
key (with its default), `ALERT_ANALYST_*` variable, metric (with its labels), record, shipped alert rule,
demo timing and `python -m` command it names is what the code has."""

from __future__ import annotations

import ast
import dataclasses
import importlib.util
import re
import shlex
import subprocess
import sys
import typing
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml
from pydantic import BaseModel, SecretStr

import detectors
from demo.report import timeline_lines
from receiver.config import NOT_CONFIG_VARIABLES, Settings, load_settings
from receiver.errors import ConfigError

REPO = Path(__file__).resolve().parents[1]
README = (REPO / "README.md").read_text()
LINKS = sorted(
    {m.group(1) for m in re.finditer(r"\]\(([^)#\s]+)(?:#[^)]*)?\)", README) if "://" not in m.group(1)}
)
SHELL_BLOCKS = re.findall(r"```sh\n(.*?)```", README, flags=re.S)
COMMANDS = sorted(
    {
        line.split("#")[0].strip()
        for block in SHELL_BLOCKS
        for line in block.replace("\\\n", " ").splitlines()
        if line.strip().startswith("alert-analyst ")
    }
)


@pytest.mark.parametrize("target", LINKS)
def test_relative_links_point_at_files_of_the_repository(target: str) -> None:
    path = (REPO / target).resolve()
    assert path.is_relative_to(REPO), f"{target} points outside the repository"
    assert path.exists(), f"{target} does not exist"


@pytest.mark.parametrize("command", COMMANDS)
def test_cli_examples_parse(command: str) -> None:
    """Each example's subcommand and flags are accepted (`--help` after them stops before running it)."""
    words = [w for w in shlex.split(command)[1:] if not w.startswith("[")]
    words = [w for w in words if not re.fullmatch(r"[\]|a-z]*\]", w)]
    result = subprocess.run(
        [sys.executable, "-m", "receiver", *words, "--help"],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 0, f"{command}: {result.stderr}"


def test_the_readme_has_examples_to_check() -> None:
    assert len(LINKS) >= 5 and len(COMMANDS) >= 5


# --- What the README names must exist: settings keys and their defaults, variables, metrics, records, rules.

_LOG_EVENTS = {"grafana.unknown_dashboard_uid", "grafana.dashboard_uid_unchecked"}  # dotted, but no keys
# The README's own examples of mistakes, and the key the error message must suggest for each.
_MISTAKES = {"prometheus.timeout": "prometheus.timeout_seconds"}
_ENV_MISTAKES = {"ALERT_ANALYST_PROMETHEUS_URL": "ALERT_ANALYST_PROMETHEUS__URL"}


def _submodel(annotation: Any) -> type[BaseModel] | None:
    """The settings model inside an annotation (`X | None`, `list[X]`, `dict[str, X]`), if any."""
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return annotation
    return next((m for arg in typing.get_args(annotation) if (m := _submodel(arg)) is not None), None)


def _is_key(path: list[str], model: type[BaseModel] = Settings) -> bool:
    field = model.model_fields.get(path[0])
    if field is None:
        return False
    if len(path) == 1:
        return True
    sub = _submodel(field.annotation)
    return sub is not None and _is_key(path[1:], sub)


def _expand(key: str) -> list[str]:
    """`webhook.basic_auth.{username,password}` -> both keys."""
    head, brace, rest = key.partition("{")
    return [head + alt for alt in rest.rstrip("}").split(",")] if brace else [key]


SECTIONS = set(Settings.model_fields)
CONFIG_KEYS = sorted(
    {
        key
        for m in re.finditer(r"`([a-z_]+(?:\.[a-z_{},]+)+)(?::[^`]*)?`", README)
        if m.group(1).split(".")[0] in SECTIONS and m.group(1) not in _LOG_EVENTS | set(_MISTAKES)
        for key in _expand(m.group(1))
    }
)
ENV_VARS = sorted(set(re.findall(r"\bALERT_ANALYST_[A-Z0-9_]*[A-Z0-9]", README)) - set(_ENV_MISTAKES))


@pytest.mark.parametrize("key", CONFIG_KEYS)
def test_configuration_keys_the_readme_names_exist(key: str) -> None:
    assert _is_key(key.split(".")), f"README names `{key}`, which is no key of the settings model"


@pytest.mark.parametrize("name", ENV_VARS)
def test_environment_variables_the_readme_names_are_keys(name: str) -> None:
    if name in NOT_CONFIG_VARIABLES:
        return
    path = name.removeprefix("ALERT_ANALYST_").lower().split("__")
    assert len(path) > 1 and _is_key(path), f"README names {name}, which sets no configuration key"


def test_the_readmes_examples_of_mistakes_are_refused_as_it_says() -> None:
    for key, hint in _MISTAKES.items():
        assert f"`{key}: ... did you mean {hint}?" in README
        section, name = key.split(".")
        with pytest.raises(ConfigError, match=f"did you mean {re.escape(hint)}"):
            load_settings(None, environ={}, overrides={section: {name: 1}})
    for name, hint in _ENV_MISTAKES.items():
        assert f"`{name}`" in README and f"`{hint}`" in README
        with pytest.raises(ConfigError, match=f"did you mean {hint}"):
            load_settings(None, environ={name: "x"})


def test_configuration_examples_in_the_readme_load() -> None:
    """Every YAML block whose top-level keys are settings sections validates against the settings model."""
    examples = [yaml.safe_load(block) for block in re.findall(r"```ya?ml\n(.*?)```", README, flags=re.S)]
    configs = [e for e in examples if isinstance(e, dict) and set(e) <= SECTIONS]
    assert len(configs) >= 10
    for config in configs:
        Settings.model_validate(config)


def _table_rows() -> Iterator[tuple[list[str], str]]:
    """(full keys, default cell) of every settings table: the first column names keys, dotted or bare
    ones of the one section that has them all."""
    for table in re.findall(r"(?:^\|.*\n)+", README, flags=re.M):
        rows = [[cell.strip() for cell in line.strip("|").split(" | ")] for line in table.splitlines()[2:]]
        keyed = [(re.findall(r"`([a-z_.{},]+)`", row[0]), row[1]) for row in rows if len(row) > 2]
        bare = {k for keys, _ in keyed for k in keys if "." not in k}
        sections = [s for s in SECTIONS if bare and all(_is_key([s, k]) for k in bare)]
        for keys, default in keyed:
            if keys and (all("." in k for k in keys) or len(sections) == 1):
                full = [k if "." in k else f"{sections[0]}.{k}" for k in keys]
                yield [expanded for k in full for expanded in _expand(k)], default


def _default_of(key: str) -> Any:
    value: Any = Settings()
    for part in key.split("."):
        value = getattr(value, part) if value is not None else None
    return value.get_secret_value() if isinstance(value, SecretStr) else value


def _literal(cell: str, count: int) -> list[Any] | None:
    """The default cell as `count` values, or None when it is prose (`SDK default`, `per backend`)."""
    if cell in ("unset", "none", "—") or cell.startswith("unset ("):
        return [None] * count
    pieces = re.split(r"\s*[/,]\s*", cell)
    if len(pieces) != count or not all(re.fullmatch(r"`[^`<]*`|[\d.]+|true|false", p) for p in pieces):
        return None
    return [yaml.safe_load(p.strip("`")) for p in pieces]


SETTING_ROWS = [(keys, default) for keys, default in _table_rows() if _literal(default, len(keys))]


@pytest.mark.parametrize(("keys", "default"), SETTING_ROWS, ids=[" ".join(k) for k, _ in SETTING_ROWS])
def test_settings_tables_give_the_models_defaults(keys: list[str], default: str) -> None:
    assert [_default_of(k) for k in keys] == _literal(default, len(keys)), f"{keys}: README says {default}"


PROSE_DEFAULTS = sorted(
    {
        (m.group(1), m.group(2))
        for m in re.finditer(r"`([a-z_]+\.[a-z_.]+)`,? \((?:default )?(\d[\d.]*)(?: s)?\)", README)
        if m.group(1).split(".")[0] in SECTIONS
    }
)


@pytest.mark.parametrize(("key", "default"), PROSE_DEFAULTS)
def test_defaults_given_in_the_prose_are_the_models(key: str, default: str) -> None:
    """`pipeline.workers` (16) in a sentence is the default too."""
    assert _default_of(key) == float(default), f"README says `{key}` ({default})"


def test_the_settings_tables_are_found() -> None:
    sections = {keys[0].split(".")[0] for keys, _ in SETTING_ROWS}
    assert {"web", "storage", "pipeline", "analyst", "llm", "grafana", "slack"} <= sections


def _defined_metrics() -> dict[str, tuple[str, ...] | None]:
    """Every alert_analyst_* family the code constructs, as exposed (`_total`, `_info`), with its labels
    (None for an Info: its labels are the keys it is given at run time)."""
    suffixes = {
        "Counter": ("_total",),
        "CounterMetricFamily": ("_total",),  # a custom collector's
        "Info": ("_info",),
        "Histogram": ("", "_bucket", "_sum", "_count"),
    }
    found: dict[str, tuple[str, ...] | None] = {}
    for path in [*REPO.glob("receiver/**/*.py"), *REPO.glob("analyst/**/*.py")]:
        for node in ast.walk(ast.parse(path.read_text())):
            if not (isinstance(node, ast.Call) and node.args and isinstance(node.args[0], ast.Constant)):
                continue
            kind = getattr(node.func, "id", getattr(node.func, "attr", ""))
            name = str(node.args[0].value)
            kinds = ("Counter", "Gauge", "Histogram", "Info", "CounterMetricFamily", "GaugeMetricFamily")
            if kind not in kinds or not name.startswith("alert_analyst_"):
                continue
            labels = node.args[2] if len(node.args) > 2 else None
            keywords = ("labelnames", "labels")
            labels = labels or next((k.value for k in node.keywords if k.arg in keywords), None)
            names = tuple(ast.literal_eval(labels)) if labels is not None else ()
            for suffix in suffixes.get(kind, ("",)):
                found[f"{name}{suffix}"] = None if kind == "Info" else names
    return found


METRIC_MENTIONS = sorted(set(re.findall(r"\b(alert_analyst_[a-z0-9_]+)(\*|\{[^}]*\})?", README)))


@pytest.mark.parametrize(("name", "labels"), METRIC_MENTIONS)
def test_metrics_the_readme_names_are_defined_with_those_labels(name: str, labels: str) -> None:
    defined = _defined_metrics()
    if labels == "*":
        assert any(m.startswith(name) for m in defined), f"no metric matches {name}*"
        return
    assert name in defined, f"README names {name}, which the receiver does not export"
    named = {part.split("=")[0].strip() for part in labels.strip("{}").split(",") if part.strip()}
    code = defined[name]
    if code is not None:
        exact = labels and "=" not in labels  # `{a,b}` lists them all; `{a="x"}` picks one
        assert named == set(code) if exact else named <= set(code), f"{name}{labels}: the code's are {code}"


@pytest.mark.parametrize(
    ("record", "fields"), re.findall(r"`([A-Z]\w+)\(([a-z_,\s]+)\)`", README), ids=lambda value: value[:40]
)
def test_records_the_readme_spells_out_have_those_fields(record: str, fields: str) -> None:
    cls = getattr(detectors, record)
    assert dataclasses.is_dataclass(cls)
    assert re.split(r",\s*", fields.strip()) == [f.name for f in dataclasses.fields(cls)]


def test_the_shipped_alert_rules_are_the_ones_the_readme_lists() -> None:
    rows = re.findall(r"^\| \[`(alertmanager/rules/[\w.-]+)`\]\([^)]*\) \| (.*) \|$", README, flags=re.M)
    assert len(rows) == 3
    for path, cell in rows:
        groups = yaml.safe_load((REPO / path).read_text())["groups"]
        shipped = {rule["alert"] for group in groups for rule in group["rules"] if "alert" in rule}
        assert set(re.findall(r"`([A-Z][A-Za-z0-9]+)`", cell)) == shipped, path


def test_the_demos_timings_are_the_ones_its_banner_prints() -> None:
    banner = " ".join(timeline_lines(0.0))
    said = re.search(
        r"volatility spike (?:comes )?about (\d+) s after start.*?alert fires about (\d+) s.*?every (\d+) s",
        README,
        re.S,
    )
    printed = re.search(r"spike about (\d+) s.*?PnLDrawdownHigh fires about (\d+) s", banner)
    assert said and printed
    assert said.groups() == (*printed.groups(), re.findall(r"every (\d+) s", banner)[0])


@pytest.mark.parametrize(
    "command", sorted(set(re.findall(r"python -m ((?:bench|analyst)\.\w+[^`;)|>]*)", README)))
)
def test_python_modules_the_readme_runs_exist_with_those_flags(command: str) -> None:
    module, *args = command.split()
    spec = importlib.util.find_spec(module)
    assert spec is not None and spec.origin is not None, f"no module {module}"
    source = Path(spec.origin).read_text()
    for flag in (a for a in args if a.startswith("--")):
        assert f'"{flag}"' in source, f"{module} has no {flag}"
