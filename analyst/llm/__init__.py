"""LLM analyst: Anthropic, OpenAI and OpenAI-compatible local servers behind the Analyst protocol."""

from analyst.llm.accounting import LLMMetrics, cost_usd, create_llm_metrics
from analyst.llm.analyst import LLMAnalyst, build_analyst, create_backend
from analyst.llm.backend import Completion, LLMBackend
from analyst.llm.cache import DiagnosisCache, evidence_signature
from analyst.llm.errors import LLMCallError, LLMConfigError, LLMError, LLMOutputError
from analyst.llm.prompt import Prompt, build_diagnosis_prompt, estimate_tokens
from analyst.llm.redact import redact_secrets
from analyst.llm.settings import LLM_BACKENDS, LLMSettings, ModelPrice, default_prices

__all__ = [
    "LLM_BACKENDS",
    "Completion",
    "DiagnosisCache",
    "LLMAnalyst",
    "LLMBackend",
    "LLMCallError",
    "LLMConfigError",
    "LLMError",
    "LLMMetrics",
    "LLMOutputError",
    "LLMSettings",
    "ModelPrice",
    "Prompt",
    "build_analyst",
    "build_diagnosis_prompt",
    "cost_usd",
    "create_backend",
    "create_llm_metrics",
    "default_prices",
    "estimate_tokens",
    "evidence_signature",
    "redact_secrets",
]
