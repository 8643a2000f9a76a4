"""Evidence from PromQL backends: `source` (the `MetricSource` protocol), `prometheus` (`PrometheusSource`),
`context` (`collect_alert_context`), `analysis` (correlation, lead/lag), `promql`, `settings`."""
