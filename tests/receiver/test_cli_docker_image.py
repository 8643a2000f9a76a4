"""The image that runs `alert-analyst serve`: the Dockerfile copies everything `pip install --no-deps .`
reads (pyproject's readme and license files, every package it lists), and .dockerignore keeps none of it
out. No Docker here: the Dockerfile is read, as `docker build` would read it."""

from __future__ import annotations

import fnmatch
import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def copied_paths() -> set[str]:
    """The build-context sources of the Dockerfile's COPY instructions."""
    sources: set[str] = set()
    for line in (ROOT / "Dockerfile").read_text().splitlines():
        words = line.split()
        if words[:1] == ["COPY"] and not any(word.startswith("--from") for word in words):
            sources.update(word.removeprefix("./").rstrip("/") for word in words[1:-1])
    return sources


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
