"""Settings of the incident pipeline and the materializer (pipeline.*).

The pipeline and the materializer hold the running `PipelineSettings` and read most fields each time they
use them, so a configuration reload updates that object in place (`apply_live`). The fields in
`RESTART_ONLY` size or start something once and keep their value until a restart.
"""

from __future__ import annotations

from pydantic import Field

from receiver.settings_base import Section


class PipelineSettings(Section):
    workers: int = Field(
        default=16,
        ge=1,
        le=256,
        description="Incidents in the pipeline at once (announcing, reusing an analysis, delivering).",
    )
    max_concurrent_analyses: int = Field(
        default=4,
        ge=1,
        le=256,
        description="Of those, how many query Prometheus, detect or diagnose at once.",
    )
    queue_size: int = Field(default=1000, ge=1)
    stage_timeout_seconds: float = Field(default=120.0, gt=0)
    shutdown_timeout_seconds: float = Field(default=20.0, ge=0)
    sweep_interval_seconds: float = Field(default=5.0, gt=0)
    defer_to_intake_seconds: float = Field(
        default=0.25,
        ge=0,
        description="An incident's stages wait, in all, up to this long while webhooks are in flight.",
    )
    reuse_analysis_seconds: float = Field(
        default=300.0,
        ge=0,
        description=(
            "An alert that fires again (same labels) within this long of its last full analysis reuses"
            " that evidence and diagnosis instead of querying and diagnosing again; 0 turns this off."
        ),
    )
    recovery_check: bool = Field(
        default=True,
        description=(
            "At resolution, fetch the evidence again and say whether the diagnosis' suspect is back at its"
            " baseline (the closing messages' recovery line); false: nothing is fetched and no line is said."
        ),
    )
    materialize_batch: int = Field(
        default=16, ge=1, le=10_000, description="Stored notifications turned into incidents per transaction."
    )
    max_materialize_delay_seconds: float = Field(
        default=2.0,
        ge=0,
        description="A notification waits at most this long for a quiet intake before it is materialised.",
    )
    max_deferred_notifications: int = Field(
        default=20_000,
        ge=0,
        description="While more notifications than this wait, materialise them without deferring to intake.",
    )


# Sized or started once: the worker tasks, the analysis slots, the queue, the server's and the workers'
# shutdown wait (`serve` hands it to aiohttp at start).
RESTART_ONLY = frozenset({"workers", "max_concurrent_analyses", "queue_size", "shutdown_timeout_seconds"})


def apply_live(running: PipelineSettings, new: PipelineSettings) -> None:
    """Give `running` (the object the pipeline and the materializer read) `new`'s values, except for the
    fields in RESTART_ONLY, which keep theirs."""
    for name in PipelineSettings.model_fields:
        if name not in RESTART_ONLY:
            setattr(running, name, getattr(new, name))
