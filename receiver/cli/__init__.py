"""The `alert-analyst` command line: `main` dispatches to serve, check-config and one module per command
(`backtest`, `diagnose`; `demo` lives in the top-level `demo` package)."""

from receiver.cli.main import main

__all__ = ["main"]
