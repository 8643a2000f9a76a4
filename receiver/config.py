"""One validated settings model: the defaults file (ALERT_ANALYST_DEFAULTS_FILE, the container image's),
the YAML file, then ALERT_ANALYST_<SECTION>__<KEY> env vars, then CLI flags; each overrides the one before."""

from __future__ import annotations

import difflib
import os
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any, Literal
from urllib.parse import urlsplit

import yaml
from pydantic import BaseModel, Field, SecretStr, ValidationError, field_validator, model_validator

from analyst.llm.settings import LLMSettings
from analyst.settings import AnalystSettings
from receiver.basic_auth import BasicAuthSettings
from receiver.delivery.settings import (
    GrafanaSettings,
    NoiseSettings,
    OutgoingWebhookSettings,
    PagerDutySettings,
    SlackSettings,
)
from receiver.errors import ConfigError
from receiver.evidence.settings import ContextSettings, PrometheusSettings
from receiver.pipeline.settings import PipelineSettings
from receiver.scheduled.settings import DetectionSettings
from receiver.settings_base import Section, read_secret_file

ENV_PREFIX = "ALERT_ANALYST_"


class WebSettings(Section):
    listen_address: str = "127.0.0.1:9099"
    external_url: str | None = Field(default=None, description="Base URL used in links (Slack, Grafana).")
    trusted_origins: list[str] = Field(
        default_factory=list,
        description="Origins (scheme://host:port) of other pages that may POST here (external_url's is).",
    )

    @field_validator("trusted_origins")
    @classmethod
    def _check_origins(cls, origins: list[str]) -> list[str]:
        for origin in origins:
            try:
                parts = urlsplit(origin)
                ok = parts.scheme in ("http", "https") and bool(parts.hostname) and parts.path in ("", "/")
            except ValueError:
                ok = False
            if not ok:
                raise ValueError(
                    f"{origin!r} is no origin: use scheme://host[:port], e.g. https://portal.example"
                )
        return origins

    @field_validator("listen_address")
    @classmethod
    def _check_address(cls, address: str) -> str:
        _, sep, port = address.rpartition(":")
        if not sep or not port.isdigit() or not 0 < int(port) < 65536:
            raise ValueError(f"must be host:port with a port from 1 to 65535, got {address!r}")
        return address

    @property
    def host(self) -> str:
        return self.listen_address.rpartition(":")[0].strip("[]") or "0.0.0.0"

    @property
    def port(self) -> int:
        return int(self.listen_address.rpartition(":")[2])

    @property
    def public_url(self) -> str:
        if self.external_url:
            return self.external_url.rstrip("/")
        host = self.host if self.host not in ("0.0.0.0", "::") else "127.0.0.1"
        return f"http://{host}:{self.port}"


class StorageSettings(Section):
    path: str = "alert-analyst.db"
    synchronous: Literal["NORMAL", "FULL"] = Field(
        default="NORMAL", description="NORMAL survives a process crash; FULL also survives power loss."
    )
    busy_timeout_seconds: float = Field(
        default=5.0, gt=0, le=300, description="How long a write waits for a lock held elsewhere, then 503."
    )
    wal_max_bytes: int = Field(
        default=64 * 1024 * 1024,
        ge=1024 * 1024,
        description="A WAL larger than this (or than half the free disk space) is checkpointed and truncated"
        " at once (writers wait).",
    )
    retention_days: float = Field(
        default=90.0,
        ge=0,
        description="Incidents resolved longer ago than this are pruned hourly with their rows; 0 keeps all.",
    )


class WebhookSettings(Section):
    bearer_token: SecretStr | None = None
    bearer_token_file: str | None = None
    basic_auth: BasicAuthSettings | None = None
    max_body_bytes: int = Field(default=4 * 1024 * 1024, gt=0)

    @model_validator(mode="after")
    def _one_token(self) -> WebhookSettings:
        if self.bearer_token is not None and self.bearer_token_file is not None:
            raise ValueError("set only one of bearer_token or bearer_token_file")
        return self

    @field_validator("bearer_token")
    @classmethod
    def _token_not_empty(cls, token: SecretStr | None) -> SecretStr | None:
        """An empty token would let in any request that sends `Authorization: Bearer` with no value."""
        if token is not None and not token.get_secret_value().strip():
            raise ValueError("is empty: set a token, or remove the key to accept unauthenticated requests")
        return token

    @field_validator("basic_auth")
    @classmethod
    def _password_not_empty(cls, auth: BasicAuthSettings | None) -> BasicAuthSettings | None:
        if auth is not None and auth.password is not None and not auth.password.get_secret_value():
            raise ValueError("password is empty: set one, or remove basic_auth")
        return auth


class LogSettings(Section):
    level: Literal["debug", "info", "warning", "error"] = "info"
    format: Literal["json", "console"] = "json"


class Settings(Section):
    web: WebSettings = Field(default_factory=WebSettings)
    storage: StorageSettings = Field(default_factory=StorageSettings)
    webhook: WebhookSettings = Field(default_factory=WebhookSettings)
    pipeline: PipelineSettings = Field(default_factory=PipelineSettings)
    log: LogSettings = Field(default_factory=LogSettings)
    prometheus: PrometheusSettings = Field(default_factory=PrometheusSettings)
    context: ContextSettings = Field(default_factory=ContextSettings)
    detection: DetectionSettings = Field(default_factory=DetectionSettings)
    analyst: AnalystSettings = Field(default_factory=AnalystSettings)
    llm: LLMSettings = Field(default_factory=LLMSettings)
    grafana: GrafanaSettings = Field(default_factory=GrafanaSettings)
    slack: SlackSettings = Field(default_factory=SlackSettings)
    pagerduty: PagerDutySettings = Field(default_factory=PagerDutySettings)
    outgoing_webhook: OutgoingWebhookSettings = Field(default_factory=OutgoingWebhookSettings)
    noise: NoiseSettings = Field(default_factory=NoiseSettings)

    @model_validator(mode="after")
    def _llm_within_the_stage(self) -> Settings:
        """The LLM's time limit must leave the diagnose stage time to deliver the built-in fallback: a
        stage timeout cancels the stage, fallback and all."""
        llm, stage = self.llm.total_timeout_seconds, self.pipeline.stage_timeout_seconds
        if self.analyst.backend != "builtin" and llm >= stage:
            raise ValueError(
                f"llm.total_timeout_seconds ({llm:g}) must be below pipeline.stage_timeout_seconds"
                f" ({stage:g}): the stage timeout would cancel the diagnosis, built-in fallback included"
            )
        return self


def _env_value(name: str, raw: str) -> Any:
    """Env values are strings (pydantic coerces numbers and booleans); YAML flow lists and maps are parsed."""
    stripped = raw.strip()
    if stripped[:1] in ("[", "{"):
        try:
            return yaml.safe_load(stripped)
        except yaml.YAMLError as exc:
            raise ConfigError(
                f"environment variable {name}: not a YAML flow list or map: {_yaml_problem(exc)}"
            ) from exc
    return raw


# A YAML file of defaults below the configuration file: the image's listen address and database path, which
# a mounted file overrides (as environment variables they would override the file).
DEFAULTS_FILE_VARIABLE = "ALERT_ANALYST_DEFAULTS_FILE"

# Variables with the prefix that are not configuration keys.
NOT_CONFIG_VARIABLES = frozenset({"ALERT_ANALYST_REVISION", "ALERT_ANALYST_SHARED", DEFAULTS_FILE_VARIABLE})


def env_overrides(environ: Mapping[str, str]) -> dict[str, Any]:
    """Nested dict from ALERT_ANALYST_<SECTION>__<KEY>[__<SUBKEY>] variables; a variable with the prefix
    but without a `__` (say ALERT_ANALYST_PROMETHEUS_URL) is an error that names the intended spelling."""
    tree: dict[str, Any] = {}
    for name, value in environ.items():
        if not name.startswith(ENV_PREFIX) or name in NOT_CONFIG_VARIABLES:
            continue
        path = [part.lower() for part in name[len(ENV_PREFIX) :].split("__") if part]
        if len(path) < 2:
            hint = _env_spelling(name)
            raise ConfigError(
                f"environment variable {name}: not a configuration key: sections and keys are separated by "
                f"two underscores, ALERT_ANALYST_<SECTION>__<KEY>"
                + (f"; did you mean {hint}?" if hint else "")
            )
        node = tree
        for part in path[:-1]:
            node = node.setdefault(part, {})
        node[path[-1]] = _env_value(name, value)
    return tree


def _env_spelling(name: str) -> str | None:
    """ALERT_ANALYST_PROMETHEUS_URL -> ALERT_ANALYST_PROMETHEUS__URL, when that names a real key."""
    rest = name[len(ENV_PREFIX) :].lower()
    for section, field in Settings.model_fields.items():
        model = field.annotation
        if rest.startswith(section + "_") and isinstance(model, type) and issubclass(model, BaseModel):
            key = rest[len(section) + 1 :]
            if (closest := _closest(key, list(model.model_fields))) is not None:
                return f"{ENV_PREFIX}{section.upper()}__{closest.upper()}"
    return None


def _env_sources(environ: Mapping[str, str]) -> dict[tuple[str, ...], str]:
    """Key path -> the environment variable that set it."""
    return {
        tuple(part.lower() for part in name[len(ENV_PREFIX) :].split("__") if part): name
        for name in environ
        if name.startswith(ENV_PREFIX) and name not in NOT_CONFIG_VARIABLES
    }


def _merge(base: dict[str, Any], extra: Mapping[str, Any]) -> dict[str, Any]:
    merged = dict(base)
    for key, value in extra.items():
        if isinstance(value, Mapping) and isinstance(merged.get(key), dict):
            merged[key] = _merge(merged[key], value)
        else:
            merged[key] = value
    return merged


def format_validation_error(
    exc: ValidationError, sources: Mapping[tuple[str, ...], str] | None = None, file: str | Path | None = None
) -> str:
    """One line per problem: `key.path: reason`, with a "did you mean" for an unknown key and where the
    value came from (the environment variable, or the file)."""
    sources = sources or {}
    lines = []
    for err in exc.errors():
        loc = tuple(str(p) for p in err["loc"])
        line = f"{'.'.join(loc) or '(root)'}: {err['msg']}"
        if err["type"] == "extra_forbidden" and (hint := _closest_key(loc)):
            line += f"; did you mean {'.'.join((*loc[:-1], hint))}?"
        source = next((sources[loc[:n]] for n in range(len(loc), 0, -1) if loc[:n] in sources), None)
        # a variable below the key (ALERT_ANALYST_PROMETHEUS__URL__X made prometheus.url a map)
        source = source or next((name for path, name in sources.items() if path[: len(loc)] == loc), None)
        if source is not None:
            line += f" (from environment variable {source})"
        elif file is not None:
            line += f" (in {file})"
        lines.append(line)
    return "\n".join(lines)


def validation_summary(exc: ValidationError, prefix: str = "") -> str:
    """A pydantic error as one line, `field: reason; field: reason`, without pydantic's input dump and
    documentation links; `prefix` names the object validated (`rule` gives `rule.method: ...`)."""
    problems = []
    for err in exc.errors():
        key = ".".join([prefix, *(str(part) for part in err["loc"])] if prefix else map(str, err["loc"]))
        problems.append(f"{key or '(top level)'}: {err['msg']}")
    return "; ".join(problems)


def _closest_key(loc: tuple[str, ...]) -> str | None:
    """The field name closest to an unknown key, looked up in the model at the key's parent."""
    model: type[BaseModel] = Settings
    for part in loc[:-1]:
        field = model.model_fields.get(part)
        annotation = field.annotation if field is not None else None
        if not (isinstance(annotation, type) and issubclass(annotation, BaseModel)):
            return None
        model = annotation
    return _closest(loc[-1], list(model.model_fields))


def _closest(key: str, names: list[str]) -> str | None:
    """A name that extends `key` (timeout -> timeout_seconds), else the most similar one."""
    extended = [name for name in names if name.startswith(f"{key}_")]
    matches = extended or difflib.get_close_matches(key, names, n=1, cutoff=0.6)
    return matches[0] if matches else None


def load_settings(
    path: str | Path | None = None,
    *,
    environ: Mapping[str, str] | None = None,
    overrides: Mapping[str, Any] | None = None,
) -> Settings:
    """Read, merge and validate the configuration; raise ConfigError naming the key path and the reason."""
    environ = os.environ if environ is None else environ
    defaults = environ.get(DEFAULTS_FILE_VARIABLE)
    data = read_config_file(defaults) if defaults else {}
    if path is not None:
        data = _merge(data, read_config_file(path))
    data = _merge(data, env_overrides(environ))
    data = _merge(data, overrides or {})
    try:
        settings = Settings.model_validate(data)
    except ValidationError as exc:
        raise ConfigError(format_validation_error(exc, _env_sources(environ), path or defaults)) from exc
    check_secret_files(settings)
    for destination in (settings.grafana, settings.slack, settings.pagerduty, settings.outgoing_webhook):
        destination.note_secret_files()  # a reload compares them: a token rotated in its file is a change
    return settings


def read_config_file(path: str | Path) -> dict[str, Any]:
    """The file's sections; a file that cannot be read, is not UTF-8 YAML or is not a mapping is a
    ConfigError of one line."""
    try:
        loaded = yaml.safe_load(Path(path).read_text(encoding="utf-8"))
    except OSError as exc:
        raise ConfigError(f"cannot read config file {path}: {exc.strerror}") from exc
    except UnicodeDecodeError as exc:
        raise ConfigError(f"{path}: not UTF-8 text (byte {exc.start}): a YAML file is expected") from exc
    except yaml.YAMLError as exc:
        raise ConfigError(f"{path}: invalid YAML: {_yaml_problem(exc)}") from exc
    if loaded is not None and not isinstance(loaded, dict):
        raise ConfigError(
            f"{path}: the top level must be a mapping of sections (web:, prometheus:, ...),"
            f" not a {type(loaded).__name__}"
        )
    return loaded or {}


def _yaml_problem(exc: yaml.YAMLError) -> str:
    """PyYAML's several-line message as one line: the problem and where (line and column from 1)."""
    if isinstance(exc, yaml.MarkedYAMLError):
        mark = exc.problem_mark or exc.context_mark
        where = f"line {mark.line + 1}, column {mark.column + 1}: " if mark is not None else ""
        what = "; ".join(part for part in (exc.context, exc.problem) if part)
        return f"{where}{what}"
    return " ".join(str(exc).split())


def _file_keys(model: BaseModel, prefix: str = "") -> Iterator[tuple[str, str, bool]]:
    """(key path, file, is a secret) for every `*_file` key that is set; a secret file is one standing in
    for a sibling key (`token_file` for `token`), rather than a CA bundle or a playbook."""
    for name, value in model:
        path = f"{prefix}{name}"
        if isinstance(value, BaseModel):
            yield from _file_keys(value, f"{path}.")
        elif isinstance(value, list):
            for index, item in enumerate(value):
                if isinstance(item, BaseModel):
                    yield from _file_keys(item, f"{path}[{index}].")
        elif name.endswith("_file") and value is not None:
            yield path, str(value), name.removesuffix("_file") in type(model).model_fields


def check_secret_files(settings: Settings) -> None:
    """Every `*_file` key (tokens, passwords, CA bundles, playbooks) must name a readable file at load
    time; a secret file must hold UTF-8 text that is not empty (an empty webhook token would let in
    any request sending `Authorization: Bearer` with no value)."""
    for key, file, secret in _file_keys(settings):
        if os.path.isdir(file):
            raise ConfigError(f"{key}: {file!r} is a directory, not a file")
        if not os.access(file, os.R_OK):
            raise ConfigError(f"{key}: file {file!r} is not readable")
        if not secret:
            continue
        try:
            text = read_secret_file(file)
        except OSError as exc:
            raise ConfigError(f"{key}: cannot read {file!r}: {exc.strerror}") from exc
        except UnicodeDecodeError as exc:
            raise ConfigError(f"{key}: {file!r} is not UTF-8 text") from exc
        if not text:
            raise ConfigError(f"{key}: {file!r} is empty (or only whitespace): write the secret into it")
