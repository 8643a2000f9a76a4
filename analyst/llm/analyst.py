"""LLMAnalyst: built-in result first, then a budgeted, redacted LLM call; the built-in result as fallback."""

from __future__ import annotations

import asyncio
import contextlib
import os
import time
import traceback
from collections.abc import Callable, Mapping
from dataclasses import dataclass, replace
from typing import Any, Generic, TypeVar

import structlog
from prometheus_client import CollectorRegistry
from pydantic import BaseModel

from analyst.builtin.topology import with_dependency_graph
from analyst.diagnosis import DiagnosisResult
from analyst.evidence import Evidence
from analyst.llm.accounting import LLMMetrics, cost_usd, create_llm_metrics
from analyst.llm.answer import (
    MAX_ALTERNATIVES,
    MAX_TEXT_CHARS,
    display_items,
    display_text,
    parse_answer,
    to_hypothesis,
    to_steps,
)
from analyst.llm.backend import LLMBackend
from analyst.llm.budget import CallBudget
from analyst.llm.cache import DiagnosisCache, evidence_signature
from analyst.llm.confirm import (
    ConfirmAnswer,
    build_confirmation_prompt,
    confirm_json_schema,
    confirmable_precedent,
    confirmed_result,
)
from analyst.llm.deadline import Deadline
from analyst.llm.errors import LLMCallError, LLMConfigError, LLMError, LLMOutputError, retry_after_too_long
from analyst.llm.prompt import Prompt, build_diagnosis_prompt, build_verification_prompt
from analyst.llm.redact import redact_secrets
from analyst.llm.retry import backoff_delay
from analyst.llm.settings import LLM_BACKENDS, Backend, LLMSettings
from analyst.llm.stop import refusal_error, truncation_error
from analyst.llm.verify import VerificationAnswer, apply_verification, verification_json_schema
from analyst.protocol import Analyst
from analyst.schema import LLMAnswer, llm_answer_json_schema

log = structlog.get_logger("analyst.llm")

_KEY_ENV_VARS = ("ANTHROPIC_API_KEY", "ANTHROPIC_AUTH_TOKEN", "OPENAI_API_KEY")

T = TypeVar("T", bound=BaseModel)


@dataclass(frozen=True)
class _Question(Generic[T]):
    """One structured request: the prompts, the answer's JSON schema (by name) and its model."""

    system: str
    user: str
    schema: dict[str, Any]
    name: str
    model: type[T]


@dataclass
class _Spend:
    """Tokens and USD used for one diagnosis, failed attempts included."""

    tokens_in: int = 0
    tokens_out: int = 0
    usd: float = 0.0


class LLMAnalyst:
    """Implements `Analyst` with an LLM backend, a diagnosis cache, accounting and a safe fallback."""

    def __init__(
        self,
        settings: LLMSettings,
        backend: str,
        fallback: Analyst,
        registry: CollectorRegistry | None = None,
        *,
        llm_backend: LLMBackend | None = None,
        clock: Callable[[], float] = time.monotonic,
        dependency_graph: Mapping[str, tuple[str, ...]] | None = None,
        budget: CallBudget | None = None,
    ) -> None:
        """`clock` times the cache and the budget window; `budget` may be shared with the analyst this
        one replaces (its limit becomes `settings.max_calls_per_hour`), so a reload keeps the window."""
        known = _check_backend(backend)
        self.name: str = known
        self._settings = settings
        self._fallback = fallback
        self._dependency_graph = dict(dependency_graph or {})
        self._backend = llm_backend if llm_backend is not None else create_backend(settings, known)
        self._model = settings.model_for(known)
        self._metrics: LLMMetrics = create_llm_metrics(registry)
        self._cache = DiagnosisCache(settings.cache_ttl_seconds, settings.cache_max_entries, clock)
        self._budget = budget if budget is not None else CallBudget(settings.max_calls_per_hour, clock)
        self._budget.limit = settings.max_calls_per_hour
        self._secrets = known_secrets(settings)
        self._answer_schema = llm_answer_json_schema()
        self._verify_schema = verification_json_schema()
        self._confirm_schema = confirm_json_schema()
        if settings.temperature is not None and self.name == "anthropic":
            log.warning("llm_temperature_ignored", backend=self.name, reason="the Anthropic API rejects it")
        if (unreachable := settings.timeout_beyond_total()) is not None:
            log.warning("llm_timeout_beyond_total", problem=unreachable)
        if self._model not in settings.prices:
            log.warning(
                "llm_price_unknown", model=self._model, hint="add it to llm.prices for cost accounting"
            )

    async def diagnose(self, evidence: Evidence) -> DiagnosisResult:
        started = time.perf_counter()
        evidence = with_dependency_graph(evidence, self._dependency_graph)  # as the built-in analyst sees it
        builtin = await self._fallback.diagnose(evidence)
        signature = evidence_signature(evidence)
        deadline = Deadline.after(self._settings.total_timeout_seconds)
        try:  # identical incidents arriving together: one call, the wait for it within the deadline
            async with self._cache.exclusive(signature, max_wait=deadline.remaining()):
                return await self._diagnose_uncached_once(evidence, builtin, signature, started, deadline)
        except TimeoutError:
            return self._fall_back(builtin, deadline.expired_error(0), _Spend(), started)

    async def _diagnose_uncached_once(
        self, evidence: Evidence, builtin: DiagnosisResult, signature: str, started: float, deadline: Deadline
    ) -> DiagnosisResult:
        hit = self._cache.get(signature)
        if hit is not None:
            self._metrics.diagnoses.labels(backend=self.name, model=self._model, source="cached").inc()
            return replace(
                hit,
                incident_id=evidence.incident_id,
                timestamp=time.time(),
                analysis_duration=time.perf_counter() - started,
                tokens_in=0,
                tokens_out=0,
                cost_usd=0.0,
                cached=True,
            )
        if not self._admit():
            return self._over_budget(builtin, started)
        spend = _Spend()
        confirmed = await self._confirm(evidence, builtin, spend, started, deadline)
        if confirmed is not None:
            return confirmed
        prompt = build_diagnosis_prompt(
            evidence,
            builtin,
            budget=self._settings.prompt_token_budget,
            text_limit=self._settings.untrusted_text_max_chars,
            extra_secrets=self._secrets,
        )
        try:
            question = _Question(prompt.system, prompt.user, self._answer_schema, "diagnosis", LLMAnswer)
            answer = await self._ask(question, spend, deadline)
        except LLMError as exc:
            return self._fall_back(builtin, exc, spend, started)
        result = self._to_result(evidence, answer, prompt)
        if self._settings.verify:
            result = await self._verify(prompt, result, spend, deadline)
        result = replace(
            result,
            tokens_in=spend.tokens_in,
            tokens_out=spend.tokens_out,
            cost_usd=spend.usd,
            timestamp=time.time(),
            analysis_duration=time.perf_counter() - started,
        )
        self._cache.put(signature, result)
        self._metrics.diagnoses.labels(backend=self.name, model=self._model, source="llm").inc()
        return result

    def _admit(self) -> bool:
        """Whether the budget lets this diagnosis call the LLM; logs when the bound is reached and when
        calls resume, once each (a storm must not log a warning per incident)."""
        refused_before = self._budget.refused
        if self._budget.try_start():
            if refused_before:
                log.warning(
                    "llm_budget_resumed", backend=self.name, model=self._model, refused=refused_before
                )
            return True
        if not refused_before:
            log.warning(
                "llm_budget_spent",
                backend=self.name,
                model=self._model,
                reason=self._budget.reason(),
                hint="the built-in analyst answers until the oldest diagnosis leaves the hour",
            )
        return False

    def _over_budget(self, builtin: DiagnosisResult, started: float) -> DiagnosisResult:
        """The built-in result, counted as a fallback and logged only by `_admit`'s transitions."""
        reason = self._budget.reason()
        self._metrics.diagnoses.labels(backend=self.name, model=self._model, source="fallback").inc()
        return replace(
            builtin,
            backend="builtin",
            fallback_reason=reason,
            analysis_duration=time.perf_counter() - started,
            notes=(*builtin.notes, f"LLM {self.name}/{self._model} not used: {reason}"),
        )

    async def _confirm(
        self, evidence: Evidence, builtin: DiagnosisResult, spend: _Spend, started: float, deadline: Deadline
    ) -> DiagnosisResult | None:
        """A short confirm-or-reject call when a confirmed precedent leads again; None: analyse in full."""
        precedent = confirmable_precedent(evidence, builtin)
        if precedent is None:
            return None
        system, user = build_confirmation_prompt(evidence, builtin, precedent, self._secrets)
        try:
            question = _Question(system, user, self._confirm_schema, "confirmation", ConfirmAnswer)
            answer = await self._ask(question, spend, deadline)
        except LLMError as exc:
            log.warning("llm_confirmation_failed", backend=self.name, error=self._error_text(exc))
            return None
        if not answer.same_cause:
            return None
        self._metrics.diagnoses.labels(backend=self.name, model=self._model, source="confirmed").inc()
        return replace(
            confirmed_result(builtin, answer, precedent, self._secrets),
            backend=self.name,
            llm_model_used=self._model,
            tokens_in=spend.tokens_in,
            tokens_out=spend.tokens_out,
            cost_usd=spend.usd,
            timestamp=time.time(),
            analysis_duration=time.perf_counter() - started,
        )

    async def aclose(self) -> None:
        await self._backend.aclose()

    async def _ask(self, question: _Question[T], spend: _Spend, deadline: Deadline) -> T:
        """Up to `attempts` calls within `deadline`; backoff honours Retry-After up to the configured cap."""
        attempts = self._settings.attempts
        for attempt in range(1, attempts + 1):
            if deadline.remaining() <= 0:
                raise deadline.expired_error(attempt - 1)
            outcome = await self._attempt(question, spend, deadline)
            if not isinstance(outcome, LLMError):
                self._metrics.record_request(self.name, self._model, "ok")
                return outcome
            error = outcome
            self._metrics.record_request(self.name, self._model, error.outcome)
            log.warning(
                "llm_attempt_failed",
                backend=self.name,
                attempt=attempt,
                outcome=error.outcome,
                error=self._error_text(error),
            )
            if not error.retryable or attempt == attempts:
                error.attempts = attempt
                raise error
            delay = error.retry_after
            if delay is None:
                delay = backoff_delay(
                    attempt, self._settings.backoff_seconds, self._settings.backoff_max_seconds
                )
            elif delay > self._settings.max_retry_after_seconds:
                stopped = retry_after_too_long(error, delay, self._settings.max_retry_after_seconds)
                stopped.attempts = attempt
                raise stopped
            if delay >= deadline.remaining():  # waiting would pass the deadline: fall back now
                raise deadline.expired_error(attempt, error)
            await asyncio.sleep(delay)
        raise AssertionError("unreachable: attempts >= 1")

    async def _attempt(self, question: _Question[T], spend: _Spend, deadline: Deadline) -> T | LLMError:
        limit = min(self._settings.timeout_seconds, deadline.remaining())
        try:
            async with asyncio.timeout(limit):
                completion = await self._backend.complete(
                    question.system, question.user, question.schema, question.name
                )
        except TimeoutError:
            if limit < self._settings.timeout_seconds:
                return deadline.expired_error(0)  # attempts are set by _ask
            return LLMCallError(f"no answer within {self._settings.timeout_seconds:g} s", outcome="timeout")
        except LLMError as exc:
            return exc
        except Exception as exc:  # an SDK surprise must not cost the diagnosis: count it, fall back
            crash = LLMCallError(f"{type(exc).__name__}: {exc}", retryable=False)
            trace = "".join(traceback.format_exception(exc))
            log.error(  # the traceback redacted here: the log's own redaction knows no configured key
                "llm_backend_crashed",
                backend=self.name,
                error=self._error_text(crash),
                traceback=redact_secrets(trace, self._secrets),
            )
            return crash
        self._account(completion.tokens_in, completion.tokens_out, spend)
        refused = refusal_error(completion)
        if refused is not None:
            return refused
        try:
            if not completion.text.strip() and completion.empty_because:
                raise LLMOutputError(f"the model returned no text: {completion.empty_because}")
            return parse_answer(completion.text, question.model)
        except LLMError as exc:  # a complete answer is used whatever the stop reason; a cut one is not
            return truncation_error(completion.stop_reason, self._settings.max_tokens) or exc

    def _account(self, tokens_in: int, tokens_out: int, spend: _Spend) -> None:
        usd = cost_usd(self._settings.prices, self._model, tokens_in, tokens_out) or 0.0
        spend.tokens_in += tokens_in
        spend.tokens_out += tokens_out
        spend.usd += usd
        self._metrics.record_usage(self.name, self._model, tokens_in, tokens_out, usd)

    async def _verify(
        self, prompt: Prompt, result: DiagnosisResult, spend: _Spend, deadline: Deadline
    ) -> DiagnosisResult:
        hypotheses = [result.primary_hypothesis, *result.alternative_hypotheses]
        system, user = build_verification_prompt(prompt, hypotheses)
        try:
            question = _Question(system, user, self._verify_schema, "verification", VerificationAnswer)
            verdict = await self._ask(question, spend, deadline)
        except LLMError as exc:
            skipped = display_text(f"verification skipped: {self._error_text(exc)}", 300)
            return replace(result, notes=(*result.notes, skipped))
        verdict = verdict.model_copy(update={"comment": display_text(verdict.comment, 300, self._secrets)})
        return apply_verification(result, verdict)

    def _to_result(self, evidence: Evidence, answer: LLMAnswer, prompt: Prompt) -> DiagnosisResult:
        """The answer as a diagnosis, its text redacted like everything else leaving the process."""
        secrets = self._secrets
        notes: tuple[str, ...] = ()
        if prompt.series_omitted:
            notes = (f"{prompt.series_omitted} lowest-ranked series left out of the prompt (token budget)",)
        return DiagnosisResult(
            incident_id=evidence.incident_id,
            timestamp=time.time(),
            primary_hypothesis=to_hypothesis(answer.primary_hypothesis, secrets),
            alternative_hypotheses=tuple(
                to_hypothesis(h, secrets) for h in answer.alternative_hypotheses[:MAX_ALTERNATIVES]
            ),
            executive_summary=display_text(answer.executive_summary, MAX_TEXT_CHARS, secrets),
            detailed_analysis=to_steps(answer, secrets),
            immediate_actions=display_items(answer.immediate_actions, secrets),
            preventive_measures=display_items(answer.preventive_measures, secrets),
            monitoring_recommendations=display_items(answer.monitoring_recommendations, secrets),
            analysis_duration=0.0,
            llm_model_used=self._model,
            confidence_score=answer.confidence_score,
            backend=self.name,
            notes=notes,
        )

    def _fall_back(
        self, builtin: DiagnosisResult, error: LLMError, spend: _Spend, started: float
    ) -> DiagnosisResult:
        reason = display_text(self._error_text(error, with_attempts=True), 300)
        log.warning("llm_fallback", backend=self.name, model=self._model, reason=reason)
        self._metrics.diagnoses.labels(backend=self.name, model=self._model, source="fallback").inc()
        return replace(
            builtin,
            backend="builtin",
            fallback_reason=reason,
            tokens_in=spend.tokens_in,
            tokens_out=spend.tokens_out,
            cost_usd=spend.usd,
            analysis_duration=time.perf_counter() - started,
            notes=(*builtin.notes, f"LLM {self.name}/{self._model} not used: {reason}"),
        )

    def _error_text(self, error: LLMError, *, with_attempts: bool = False) -> str:
        """The one way an LLM error becomes text (log fields, notes, the fallback reason), redacted with the
        configured keys too: an error body may echo the key it was sent. `with_attempts` adds the outcome
        and how many attempts it took, as a fallback reason says it."""
        text = str(error)
        if with_attempts and error.attempts >= 1:
            text = f"{error.outcome} after {error.attempts} attempt(s): {text}"
        return redact_secrets(text, self._secrets)


def create_backend(settings: LLMSettings, backend: Backend) -> LLMBackend:
    """The SDK-backed implementation for `backend` (one line per backend); the SDKs are the `llm` extra."""
    try:
        if backend == "anthropic":
            from analyst.llm.anthropic_backend import AnthropicBackend

            return AnthropicBackend(settings)
        from analyst.llm.openai_backend import OpenAIBackend

        return OpenAIBackend(settings, backend)
    except ImportError as exc:
        raise LLMConfigError(
            f"analyst.backend {backend!r} needs the {exc.name or 'SDK'} package: "
            "pip install 'alert-analyst[llm]' (the built-in analyst needs no SDK)"
        ) from exc


def build_analyst(
    backend: str,
    llm_settings: LLMSettings,
    fallback: Analyst,
    registry: CollectorRegistry | None = None,
    dependency_graph: Mapping[str, tuple[str, ...]] | None = None,
    budget: CallBudget | None = None,
) -> Analyst:
    """`fallback` itself for backend "builtin", otherwise an LLMAnalyst that falls back to it (and adds
    `dependency_graph`, `analyst.dependency_graph_file`'s edges, to the evidence it prompts with; `budget`
    is the llm.max_calls_per_hour window to share with the analyst it replaces)."""
    if backend == "builtin":
        return fallback
    return LLMAnalyst(
        llm_settings, backend, fallback, registry, dependency_graph=dependency_graph, budget=budget
    )


def _check_backend(backend: str) -> Backend:
    for known in LLM_BACKENDS:
        if backend == known:
            return known
    raise LLMConfigError(
        f"unknown LLM backend {backend!r}: use one of {', '.join(LLM_BACKENDS)} (or builtin)"
    )


def known_secrets(settings: LLMSettings) -> tuple[str, ...]:
    """Credential values this process knows; redacted verbatim from prompts as a last line of defence."""
    values = [os.environ.get(name, "") for name in _KEY_ENV_VARS]
    with contextlib.suppress(LLMConfigError):  # an unreadable key file is reported by create_backend
        values.append(settings.resolve_api_key("anthropic") or "")
    return tuple(v for v in values if len(v) >= 8)
