"""The image that runs `alert-analyst serve`: the Dockerfile copies everything `pip install --no-deps .`
reads (pyproject's readme and license files, every package it lists), and .dockerignore keeps none of it
out; its own defaults rank below a mounted configuration file. No Docker here: the Dockerfile is read, as
`docker build` would read it."""

from __future__ import annotations

import fnmatch
import re
import tomllib
from pathlib import Path

import yaml

from receiver.config import DEFAULTS_FILE_VARIABLE, env_overrides, load_settings
from receiver.pipeline.settings import PipelineSettings

ROOT = Path(__file__).resolve().parents[2]


def copied_paths() -> set[str]:
    """The build-context sources of the Dockerfile's COPY instructions."""
    sources: set[str] = set()
    for line in (ROOT / "Dockerfile").read_text().splitlines():
        words = line.split()
        if words[:1] == ["COPY"] and not any(word.startswith("--from") for word in words):
            sources.update(word.removeprefix("./").rstrip("/") for word in words[1:-1])
    return sources


def instructions() -> list[list[str]]:
    """The Dockerfile's instructions as words, continuation lines joined and comments left out."""
    text = (ROOT / "Dockerfile").read_text().replace("\\\n", " ")
    return [line.split() for line in text.splitlines() if line.strip() and not line.startswith("#")]


def image_environment() -> dict[str, str]:
    return dict(
        word.split("=", 1)
        for words in instructions()
        if words[0] == "ENV"
        for word in words[1:]
        if "=" in word
    )


def ignored(path: str) -> bool:
    patterns = [p.strip() for p in (ROOT / ".dockerignore").read_text().splitlines() if p.strip()]
    return any(fnmatch.fnmatch(path, p) or fnmatch.fnmatch(path.split("/")[0], p) for p in patterns)


def test_the_image_gets_every_file_the_package_build_reads() -> None:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())
    needed = {project["project"]["readme"], *project["project"].get("license-files", [])}
    packages = project["tool"]["setuptools"]["packages"]["find"]["include"]
    needed |= {pattern.rstrip("*") for pattern in packages}
    copied = copied_paths()
    assert needed <= copied, f"not copied into the image: {sorted(needed - copied)}"
    assert not [path for path in needed if ignored(path)]
    assert all((ROOT / path).exists() for path in needed)


def test_a_mounted_config_file_overrides_the_images_listen_address_and_database(tmp_path: Path) -> None:
    environ = image_environment()
    assert not env_overrides(environ), "configuration variables in the image override a mounted file"
    [copied] = [
        words[1]
        for words in instructions()
        if words[0] == "COPY" and words[-1] == environ[DEFAULTS_FILE_VARIABLE]
    ]
    defaults = {**environ, DEFAULTS_FILE_VARIABLE: str(ROOT / copied)}
    image = load_settings(None, environ=defaults)
    assert image.web.listen_address == "0.0.0.0:9099"
    volume = next(words[1] for words in instructions() if words[0] == "VOLUME").strip('["]')
    assert Path(image.storage.path).parent == Path(volume)
    mounted = tmp_path / "aa.yml"
    mounted.write_text("web:\n  listen_address: 0.0.0.0:8080\nstorage:\n  path: /data/aa.db\n")
    settings = load_settings(mounted, environ=defaults)
    assert (settings.web.listen_address, settings.storage.path) == ("0.0.0.0:8080", "/data/aa.db")


def test_the_documented_stop_timeouts_leave_time_for_the_shutdown_drain() -> None:
    """`docker stop` kills after 10 s unless told otherwise; the drain on SIGTERM takes up to 20 s."""
    drain = PipelineSettings().shutdown_timeout_seconds
    assert ["STOPSIGNAL", "SIGTERM"] in instructions()
    container = (ROOT / "README.md").read_text().split("### Container")[1].split("\n### ")[0]
    documented = re.findall(r"(?:--stop-timeout|stop -t|stop_grace_period:) (\d+)", container)
    assert len(documented) == 4 and all(int(seconds) > drain for seconds in documented), documented
    deployment = yaml.safe_load((ROOT / "deploy/kubernetes/deployment.yaml").read_text())
    assert deployment["spec"]["template"]["spec"]["terminationGracePeriodSeconds"] > drain
