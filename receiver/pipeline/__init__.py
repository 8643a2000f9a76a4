"""Incident processing: `workers` (the Pipeline and its typed StageState), `stages` (the stage functions
and on-demand `diagnose_now`), `materializer` (notifications to incidents), `intake` (webhook activity)."""
