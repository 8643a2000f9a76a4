"""Every third-party module the shipped packages import is a declared dependency (or an optional extra's),
not one that arrives only through another package's requirements and may leave with its next release."""

from __future__ import annotations

import ast
import importlib.metadata
import re
import sys
import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PACKAGES = ("receiver", "analyst", "detectors", "demo")


def normalized(name: str) -> str:
    """A distribution name as PEP 503 compares them (`MarkupSafe`, `markupsafe`; `slack_sdk`, `slack-sdk`)."""
    return re.sub(r"[-_.]+", "-", name).lower()


def declared_distributions() -> set[str]:
    """`project.dependencies` and every optional extra but the test tools'."""
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    extras = [reqs for name, reqs in project["optional-dependencies"].items() if name != "test"]
    requirements = [*project["dependencies"], *(req for reqs in extras for req in reqs)]
    return {normalized(re.split(r"[\s\[<>=!~;@]", req, maxsplit=1)[0]) for req in requirements}


def imported_modules() -> dict[str, str]:
    """Top-level module -> a file importing it, over the shipped packages (relative imports left out)."""
    found: dict[str, str] = {}
    for package in PACKAGES:
        for path in sorted((ROOT / package).rglob("*.py")):
            for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
                if isinstance(node, ast.Import):
                    names = [alias.name for alias in node.names]
                elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                    names = [node.module]
                else:
                    continue
                for name in names:
                    found.setdefault(name.partition(".")[0], str(path.relative_to(ROOT)))
    return found


def test_every_third_party_import_is_a_declared_dependency() -> None:
    declared = declared_distributions()
    distributions = importlib.metadata.packages_distributions()
    undeclared = {
        module: (where, distributions.get(module))
        for module, where in imported_modules().items()
        if module not in sys.stdlib_module_names
        and module not in PACKAGES
        and not declared & {normalized(d) for d in distributions.get(module, [])}
    }
    assert undeclared == {}, (
        f"imported but not declared in pyproject.toml (module: file, distribution): {undeclared}"
    )
