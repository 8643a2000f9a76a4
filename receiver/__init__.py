"""alert-analyst receiver: Alertmanager webhook intake, storage, pipeline, API and write-back."""

__version__ = "0.1.0"
