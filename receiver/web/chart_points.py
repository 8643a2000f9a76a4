"""What one workbench chart draws of a series: its points, a null where samples are missing so that the
line breaks there, and a note for the values a chart cannot draw (NaN, ±Inf)."""

from __future__ import annotations

import math
import time
from dataclasses import dataclass
from typing import Any

import numpy as np

from receiver.evidence.source import SeriesData

GAP_STEPS = 1.5  # consecutive points further apart than this many steps have missing samples between them
NOT_DRAWN = (("+Inf", math.inf), ("-Inf", -math.inf))


@dataclass(frozen=True)
class ChartPoints:
    """A series as `/ui/series.json` answers it: times, values (None: no line there), notes to show."""

    labels: dict[str, str]
    t: list[float]
    v: list[float | None]
    notes: list[str]

    def to_json(self) -> dict[str, Any]:
        return {"labels": self.labels, "t": self.t, "v": self.v, "notes": self.notes}


def chart_points(series: SeriesData, step: float) -> ChartPoints:
    """`series` with a null point one step after each gap (uPlot then breaks the line instead of joining
    the points either side of the gap), and non-finite values as nulls said in `notes`."""
    t = np.asarray(series.timestamps, dtype=float)
    values = np.asarray(series.values, dtype=float)
    times: list[float] = []
    drawn: list[float | None] = []
    for i, (at, value) in enumerate(zip(t.tolist(), values.tolist(), strict=True)):
        if i and at - times[-1] > GAP_STEPS * step:
            times.append(times[-1] + step)
            drawn.append(None)
        times.append(at)
        drawn.append(value if math.isfinite(value) else None)
    return ChartPoints(dict(series.labels), times, drawn, not_drawn_notes(t, values))


def not_drawn_notes(t: np.ndarray, values: np.ndarray) -> list[str]:
    """`+Inf at 12 points from 05:16:00 UTC, not drawn` for each kind of non-finite value present."""
    kinds = [(name, values == bound) for name, bound in NOT_DRAWN] + [("NaN", np.isnan(values))]
    notes = []
    for name, where in kinds:
        if count := int(where.sum()):
            first = time.strftime("%H:%M:%S", time.gmtime(float(t[where][0])))
            points = "1 point" if count == 1 else f"{count} points"
            notes.append(f"{name} at {points} from {first} UTC, not drawn")
    return notes
