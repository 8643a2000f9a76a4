"""Scheduled detection rules: `scheduler` (`DetectionScheduler`), `api` (the `/api/v1/rules` routes),
`rules` (rule records and their storage), `backtest` (a rule over past data), `settings`."""
