"""Settings of the LLM backends (llm.*): model, endpoint, limits, retries, cache, prices."""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, SecretStr, model_validator

from analyst.llm.errors import LLMConfigError

Backend = Literal["anthropic", "openai", "openai_compatible"]
LLM_BACKENDS: tuple[Backend, ...] = ("anthropic", "openai", "openai_compatible")
ResponseFormatMode = Literal["json_schema", "json_object", "none"]
RESPONSE_FORMATS: tuple[ResponseFormatMode, ...] = ("json_schema", "json_object", "none")  # strongest first

DEFAULT_MODELS: dict[Backend, str] = {
    "anthropic": "claude-sonnet-5-5",
    "openai": "gpt-5.4-mini",
    "openai_compatible": "llama3.1",
}
DEFAULT_BASE_URLS: dict[Backend, str | None] = {
    "anthropic": None,
    "openai": None,
    "openai_compatible": "http://localhost:11434/v1",
}
LOCAL_SERVER_API_KEY = "not-needed"


class ModelPrice(BaseModel):
    """USD per 1M tokens."""

    model_config = ConfigDict(extra="forbid")

    input: float = Field(ge=0)
    output: float = Field(ge=0)


def default_prices() -> dict[str, ModelPrice]:
    """List prices seen 2026-11 (Haiku at its <=100k-token prompt tier). Override them with llm.prices."""
    table = {
        "claude-opus-5-5": (4.00, 20.00),
        "claude-opus-5": (5.00, 25.00),
        "claude-sonnet-5-5": (2.00, 10.00),
        "claude-haiku-5-5": (0.10, 0.50),
        "gpt-5.5": (5.00, 30.00),
        "gpt-5.4": (2.50, 15.00),
        "gpt-5.4-mini": (0.75, 4.50),
        "gpt-5.4-nano": (0.20, 1.25),
    }
    return {model: ModelPrice(input=i, output=o) for model, (i, o) in table.items()}


class LLMSettings(BaseModel):
    """How the LLM analyst calls its backend; the backend itself is chosen by `analyst.backend`."""

    model_config = ConfigDict(extra="forbid")

    model: str = Field("", description="Model name; empty means the backend's default (DEFAULT_MODELS).")
    base_url: str | None = Field(None, description="API base URL; empty means the SDK's (or Ollama's).")
    api_key: SecretStr | None = None
    api_key_file: Path | None = None
    temperature: float | None = Field(None, ge=0, le=2, description="Sent to OpenAI-style APIs only.")
    max_tokens: int = Field(2000, ge=64)
    max_tokens_param: Literal["max_tokens", "max_completion_tokens"] | None = Field(
        None, description="OpenAI-style name of the limit; default max_completion_tokens for openai."
    )
    response_format: ResponseFormatMode = Field(
        "json_schema",
        description="OpenAI-style structured output mode: json_object for older servers, none (no"
        " response_format sent) for servers that reject it.",
    )
    timeout_seconds: float = Field(60.0, gt=0, description="Limit of each attempt.")
    total_timeout_seconds: float = Field(
        90.0,
        gt=0,
        le=3600,
        description="Limit of one diagnosis's LLM work (attempts, waits, confirm and verify calls, waiting"
        " for an identical incident's call); then the built-in result. Keep it below"
        " pipeline.stage_timeout_seconds.",
    )
    attempts: int = Field(3, ge=1, le=10)
    backoff_seconds: float = Field(1.0, ge=0)
    backoff_max_seconds: float = Field(8.0, ge=0)
    max_retry_after_seconds: float = Field(60.0, ge=0)
    prompt_token_budget: int = Field(1500, ge=600)
    untrusted_text_max_chars: int = Field(160, ge=16)
    cache_ttl_seconds: float = Field(900.0, ge=0, description="0 disables the diagnosis cache.")
    cache_max_entries: int = Field(512, ge=1)
    verify: bool = False
    max_calls_per_hour: int = Field(
        120,
        ge=0,
        description="LLM diagnoses started in the last hour (sliding window), however many calls each makes;"
        " past it the built-in analyst answers until the oldest leaves the window. 0: no bound. 120 (one"
        " distinct incident every 30 s for an hour, repeats being cached or reused) is far above ordinary"
        " use, while a storm of thousands of incidents costs at most 120 diagnoses an hour. In memory:"
        " a restart starts it again (a reload keeps it, with the new bound).",
    )
    prices: dict[str, ModelPrice] = Field(default_factory=default_prices)

    @model_validator(mode="after")
    def _one_key_source(self) -> LLMSettings:
        if self.api_key is not None and self.api_key_file is not None:
            raise ValueError("set llm.api_key or llm.api_key_file, not both")
        return self

    def timeout_beyond_total(self) -> str | None:
        """Why `timeout_seconds` cannot take effect, when it cannot: all of one diagnosis's LLM work ends at
        `total_timeout_seconds`, so no attempt waits longer (warned at start-up and by check-config)."""
        if self.timeout_seconds <= self.total_timeout_seconds:
            return None
        return (
            f"llm.timeout_seconds ({self.timeout_seconds:g}) is above llm.total_timeout_seconds"
            f" ({self.total_timeout_seconds:g}): an attempt is cut at {self.total_timeout_seconds:g} s, with"
            " no time left to retry; raise llm.total_timeout_seconds (and pipeline.stage_timeout_seconds"
            " above it) or lower llm.timeout_seconds"
        )

    def model_for(self, backend: Backend) -> str:
        return self.model or DEFAULT_MODELS[backend]

    def base_url_for(self, backend: Backend) -> str | None:
        return self.base_url or DEFAULT_BASE_URLS[backend]

    def resolve_api_key(self, backend: Backend) -> str | None:
        """The key from settings or its file; None lets the SDK read its environment variable."""
        if self.api_key is not None:
            return self.api_key.get_secret_value()
        if self.api_key_file is not None:
            try:
                return self.api_key_file.read_text(encoding="utf-8").strip()
            except OSError as exc:
                raise LLMConfigError(f"llm.api_key_file: cannot read {self.api_key_file}: {exc}") from exc
        return LOCAL_SERVER_API_KEY if backend == "openai_compatible" else None
