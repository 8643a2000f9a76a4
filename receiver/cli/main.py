"""`alert-analyst` command line: serve, check-config, healthcheck, demo, backtest, diagnose (Prometheus-style
flags)."""

from __future__ import annotations

import argparse
import contextlib
import os
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from receiver import __version__
from receiver.errors import ConfigError


def _config_flags(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--config.file", dest="config_file", help="YAML configuration file")
    parser.add_argument("--web.listen-address", dest="listen_address", help="host:port to listen on")
    parser.add_argument(
        "--web.external-url", dest="external_url", help="URL under which alert-analyst is reached (links)"
    )
    parser.add_argument("--storage.path", dest="storage_path", help="SQLite database file")
    parser.add_argument("--log.level", dest="log_level", choices=["debug", "info", "warning", "error"])
    parser.add_argument("--log.format", dest="log_format", choices=["json", "console"])


def _overrides(args: argparse.Namespace) -> dict[str, Any]:
    tree: dict[str, Any] = {}
    pairs = {
        ("web", "listen_address"): args.listen_address,
        ("web", "external_url"): args.external_url,
        ("storage", "path"): args.storage_path,
        ("log", "level"): args.log_level,
        ("log", "format"): args.log_format,
    }
    for (section, key), value in pairs.items():
        if value is not None:
            tree.setdefault(section, {})[key] = value
    return tree


def _serve(args: argparse.Namespace) -> int:
    from receiver.cli.serve import run_serve

    return run_serve(args.config_file, _overrides(args))


def _check_config(args: argparse.Namespace) -> int:
    from receiver.config import load_settings
    from receiver.logs import configure_logging
    from receiver.web.reload import check_analyst

    settings = load_settings(args.config_file, overrides=_overrides(args))
    configure_logging(settings.log.level, settings.log.format)  # warnings on stderr, the verdict on stdout
    check_analyst(settings)
    print(f"{args.config_file or '(defaults)'}: OK")
    return 0


def serving_flags(pid: int) -> list[str]:
    """The flags after `serve` in the command line of process `pid` (the container's PID 1), or []."""
    try:
        words = Path(f"/proc/{pid}/cmdline").read_bytes().decode(errors="replace").split("\0")
    except OSError:
        return []
    return words[words.index("serve") + 1 :] if "serve" in words else []


def enter_serving_directory(pid: int) -> None:
    """Work in the working directory of process `pid`, so that the relative paths of its flags and
    configuration (`--config.file=aa.yml`, a token file) resolve as they did for it; else stay."""
    with contextlib.suppress(OSError):  # gone, or another user's: a relative path then names the error
        os.chdir(f"/proc/{pid}/cwd")


def _healthcheck(args: argparse.Namespace) -> int:
    import urllib.error
    import urllib.request

    from receiver.config import load_settings

    if args.config_file is None and not _overrides(args):
        flags = [word for word in serving_flags(args.pid) if word]
        args = build_parser().parse_args(["healthcheck", *flags, f"--pid={args.pid}"])
        enter_serving_directory(args.pid)
    settings = load_settings(args.config_file, overrides=_overrides(args))
    host = settings.web.host if settings.web.host not in ("", "0.0.0.0", "::") else "127.0.0.1"
    url = f"http://{host}:{settings.web.port}/-/healthy"
    try:
        with urllib.request.urlopen(url, timeout=args.timeout) as answer:
            status = answer.status
    except (OSError, urllib.error.URLError) as exc:
        print(f"{url}: {exc}", file=sys.stderr)
        return 1
    print(f"{url}: {status}")
    return 0 if status == 200 else 1


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="alert-analyst", description="Explains Prometheus alerts.")
    parser.add_argument("--version", action="version", version=f"alert-analyst {__version__}")
    sub = parser.add_subparsers(dest="command", required=True)
    serve = sub.add_parser("serve", help="run the webhook receiver, pipeline, API and UI")
    _config_flags(serve)
    serve.set_defaults(func=_serve)
    check = sub.add_parser("check-config", help="validate a configuration file and exit")
    _config_flags(check)
    check.set_defaults(func=_check_config)
    health = sub.add_parser(
        "healthcheck",
        help="exit 0 if the server answers /-/healthy (address from the flags, or from the running `serve`)",
    )
    _config_flags(health)
    health.add_argument(
        "--pid", type=int, default=1, help="read the flags of this `serve` process (default 1)"
    )
    health.add_argument("--timeout", type=float, default=2.0, help="seconds")
    health.set_defaults(func=_healthcheck)
    for name, help_text in (
        ("demo", "run the live demo: Prometheus, Alertmanager, a trading exporter and the receiver"),
        ("backtest", "replay detection rules over history and print what would have fired"),
        ("diagnose", "diagnose one alert (JSON file) on demand and print the diagnosis"),
    ):
        passthrough = sub.add_parser(name, help=help_text, add_help=False)
        passthrough.set_defaults(func=None)
    return parser


PASSTHROUGH = ("demo", "backtest", "diagnose")


def _passthrough(command: str, argv: list[str]) -> int:
    if command == "demo":
        try:
            from demo.runner import run_demo

            return run_demo(argv)
        except KeyboardInterrupt:  # Ctrl-C before the demo took over SIGINT: nothing is running yet
            return 130
    if command == "backtest":
        from receiver.cli.backtest import run_backtest

        return run_backtest(argv)
    from receiver.cli.diagnose import run_diagnose

    return run_diagnose(argv)


def main(argv: Sequence[str] | None = None) -> int:
    args_list = list(sys.argv[1:] if argv is None else argv)
    if args_list and args_list[0] in PASSTHROUGH:
        return _passthrough(args_list[0], args_list[1:])
    args = build_parser().parse_args(args_list)
    try:
        return int(args.func(args))
    except ConfigError as exc:
        print(f"configuration error:\n{exc}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    raise SystemExit(main())
