"""Evidence signatures: what an incident looked like, to recognise it when it comes back (pure).

A signature is the alert's identity plus the set of (entity, metric kind, direction) that moved. Two
incidents with the same signature `key` looked the same; `similarity` grades the near misses.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from dataclasses import dataclass

from analyst.builtin.categories import metric_family
from analyst.builtin.topology import component_of
from analyst.evidence import Evidence

# Labels that name one replica or one scrape rather than what is alerting.
VOLATILE_LABELS = frozenset({"severity", "instance", "pod", "pod_name", "container_id", "endpoint", "uid"})
# Weight of the alert identity against the set of moved series, and the similarity from which a past
# incident counts as similar; chosen on bench.feedback's development stream (trading scenarios, PetShop
# train, Nezha development days) to keep incidents with different true causes apart.
ALERT_WEIGHT = 0.3
SIMILAR = 0.7
# Escapes that keep an alert identity unambiguous (see alert_identity).
_IN_LABELS = str.maketrans({c: "\\" + c for c in "\\,="})
_IN_ALERTNAME = str.maketrans({c: "\\" + c for c in "\\{"})


@dataclass(frozen=True)
class EvidenceSignature:
    """`alert`: alertname{stable labels}; `moved`: sorted `entity|kind|direction` of anomalous series."""

    alertname: str
    alert: str
    moved: tuple[str, ...]

    @property
    def key(self) -> str:
        """Equal for incidents whose alert and moved series are the same."""
        text = self.alert + "\n" + "\n".join(self.moved)
        return hashlib.sha256(text.encode()).hexdigest()[:32]


def alert_identity(alertname: str, labels: Mapping[str, str]) -> str:
    """`alertname{k=v,...}` over the stable labels, escaped so that two label sets never read the same
    (`{a="1,b=2"}` is not `{a="1", b="2"}`); labels without `\\`, `,` or `=` read as they always did."""
    stable = sorted((k, v) for k, v in labels.items() if k != "alertname" and k not in VOLATILE_LABELS)
    pairs = ",".join(f"{k.translate(_IN_LABELS)}={v.translate(_IN_LABELS)}" for k, v in stable)
    return alertname.translate(_IN_ALERTNAME) + "{" + pairs + "}"


def evidence_signature(evidence: Evidence) -> EvidenceSignature:
    moved = {
        f"{component_of(s) or s.metric}|{metric_family(s.metric, s.labels).value}|{s.direction or '?'}"
        for s in evidence.anomalous
    }
    alert = evidence.alert
    return EvidenceSignature(
        alert.alertname, alert_identity(alert.alertname, alert.labels), tuple(sorted(moved))
    )


def similarity(a: EvidenceSignature, b: EvidenceSignature) -> float:
    """In [0, 1]: the alert identity (same alertname counts half) and the Jaccard index of what moved."""
    alert = 1.0 if a.alert == b.alert else 0.5 if a.alertname == b.alertname else 0.0
    union = set(a.moved) | set(b.moved)
    moved = len(set(a.moved) & set(b.moved)) / len(union) if union else alert
    return round(ALERT_WEIGHT * alert + (1 - ALERT_WEIGHT) * moved, 4)
