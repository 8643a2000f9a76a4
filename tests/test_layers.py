"""The layout is the architecture: lower floors never import higher ones, and packages import no circle.

Floors, lowest first (README "Layout"): the numeric core `detectors`, the `analyst`, then storage with
the receiver's shared records (`receiver.storage`, `errors`, `models`, `payload`, `times`, ...), then the
features (`evidence`, `scheduled`, `delivery`, `pipeline`), then the wiring that composes them
(`config`, `testing`), then the edges (`receiver.web`, `receiver.cli`) and, outside the service, `demo`
and `bench`.
"""

from __future__ import annotations

import ast
from collections.abc import Iterator
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PACKAGES = ("detectors", "analyst", "receiver", "demo", "bench")
SHARED_RECORDS = ("receiver.errors", "receiver.models", "receiver.payload", "receiver.times")
EDGES = ("receiver.web", "receiver.cli", "receiver.__main__")
FEATURES = ("receiver.evidence", "receiver.scheduled", "receiver.delivery", "receiver.pipeline")
WIRING = ("receiver.config", "receiver.testing")


def module_name(path: Path) -> str:
    parts = list(path.relative_to(ROOT).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def imports_of(path: Path) -> Iterator[str]:
    """Every module imported anywhere in the file (top level, functions, TYPE_CHECKING blocks)."""
    tree = ast.parse(path.read_text(), str(path))
    package = module_name(path) if path.name == "__init__.py" else module_name(path).rpartition(".")[0]
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            yield from (alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = package.split(".")[: len(package.split(".")) - node.level + 1]
                base = ".".join([*anchor, base] if base else anchor)
            yield base
            yield from (f"{base}.{alias.name}" for alias in node.names)


def project_modules() -> dict[str, set[str]]:
    graph: dict[str, set[str]] = {}
    for top in PACKAGES:
        for path in sorted((ROOT / top).rglob("*.py")):
            graph[module_name(path)] = {name for name in imports_of(path) if name.split(".")[0] in PACKAGES}
    return graph


GRAPH = project_modules()


def within(name: str, prefixes: tuple[str, ...]) -> bool:
    return any(name == p or name.startswith(p + ".") for p in prefixes)


def violations(importers: tuple[str, ...], allowed: tuple[str, ...]) -> list[str]:
    return sorted(
        f"{module} imports {target}"
        for module, targets in GRAPH.items()
        if within(module, importers)
        for target in targets
        if not within(target, allowed)
    )


def test_detectors_import_only_detectors() -> None:
    assert violations(("detectors",), ("detectors",)) == []


def test_the_analyst_imports_only_itself_and_detectors() -> None:
    assert violations(("analyst",), ("analyst", "detectors")) == []


def test_storage_imports_no_feature_package() -> None:
    allowed = ("receiver.storage", *SHARED_RECORDS, "analyst", "detectors")
    assert violations(("receiver.storage", *SHARED_RECORDS), allowed) == []


def test_the_service_imports_neither_demo_nor_bench() -> None:
    """Only the CLI reaches the demo (`alert-analyst demo`); bench/ is not shipped at all."""
    service = (
        "analyst",
        "detectors",
        *(m for m in GRAPH if m.startswith("receiver.") and m != "receiver.cli"),
    )
    service = tuple(m for m in service if not within(m, ("receiver.cli",)))
    assert violations(service, ("receiver", "analyst", "detectors")) == []
    assert violations(("receiver.cli",), ("receiver", "analyst", "detectors", "demo")) == []


def test_features_do_not_import_the_http_edge_or_the_cli() -> None:
    features = tuple(m for m in GRAPH if m.startswith("receiver.") and not within(m, EDGES))
    upward = sorted(
        f"{module} imports {target}"
        for module in features
        for target in GRAPH[module]
        if within(target, EDGES)
    )
    assert upward == []


def test_features_do_not_import_the_wiring_that_composes_them() -> None:
    upward = sorted(
        f"{module} imports {target}"
        for module in GRAPH
        if within(module, FEATURES)
        for target in GRAPH[module]
        if within(target, WIRING)
    )
    assert upward == []


def package_of(module: str) -> str:
    """`receiver.delivery.outbox` -> `receiver.delivery`; a top-level receiver module stands alone."""
    parts = module.split(".")
    if parts[0] != "receiver" or len(parts) == 1:
        return parts[0]
    return ".".join(parts[:2])


def package_graph() -> dict[str, set[str]]:
    known = {package_of(m) for m in GRAPH}
    edges: dict[str, set[str]] = {p: set() for p in known}
    for module, targets in GRAPH.items():
        source = package_of(module)
        for target in targets:
            dest = package_of(target)
            while dest not in known and "." in dest:
                dest = dest.rpartition(".")[0]
            if dest in known and dest != source and dest != "receiver":
                edges[source].add(dest)
    return edges


def find_cycle(edges: dict[str, set[str]]) -> list[str] | None:
    state: dict[str, int] = {}
    stack: list[str] = []

    def visit(node: str) -> list[str] | None:
        state[node] = 1
        stack.append(node)
        for nxt in sorted(edges[node]):
            if state.get(nxt) == 1:
                return [*stack[stack.index(nxt) :], nxt]
            if nxt not in state and (found := visit(nxt)):
                return found
        stack.pop()
        state[node] = 2
        return None

    for node in sorted(edges):
        if node not in state and (found := visit(node)):
            return found
    return None


def test_packages_import_no_circle() -> None:
    assert find_cycle(package_graph()) is None


@pytest.mark.parametrize("shim", ["receiver/lazy_exports.py", "receiver/components.py"])
def test_no_lazy_export_shim_or_component_locator_is_back(shim: str) -> None:
    assert not (ROOT / shim).exists()
    for top in PACKAGES:
        for path in (ROOT / top).rglob("__init__.py"):
            assert "__getattr__" not in path.read_text(), path


def readme_layout() -> set[str]:
    """The folders the README's Layout block names (an indented entry is inside the one above it)."""
    text = (ROOT / "README.md").read_text()
    block = text.split("## Layout", 1)[1].split("```", 2)[1]
    folders, parent = set(), ""
    for line in block.splitlines():
        entry = line.split()[0] if line.strip() else ""
        if not entry.endswith("/"):
            continue
        if line.startswith(" "):
            entry = parent + entry
        else:
            parent = entry
        folders.add(entry)
    return folders


def test_readme_layout_names_every_package_and_only_real_ones() -> None:
    named = readme_layout()
    assert sorted(f for f in named if not (ROOT / f).is_dir()) == []
    packages = {
        f"{init.parent.relative_to(ROOT)}/"
        for top in PACKAGES
        for init in (ROOT / top).rglob("__init__.py")
        if len(init.parent.relative_to(ROOT).parts) <= 2
    }
    assert sorted(packages - named - {"receiver/"}) == []
