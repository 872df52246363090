"""The layer contracts of ``docs/design.md``, checked on every import in ``src/carelens``.

Each package may import only the packages its layer allows (:data:`MAY_IMPORT`); anything else is an
upward or sideways import and fails here, naming the file and line. Imports made inside functions count:
a deferred import is still a dependency. The few known exceptions are listed in :data:`EXCEPTIONS`, each
with why, and the list can only shrink: an exception no longer used fails too.
"""

from __future__ import annotations

import ast
import re
from pathlib import Path

import pytest

import carelens

SOURCE = Path(carelens.__file__).resolve().parent
DESIGN = Path(__file__).resolve().parents[1] / "docs" / "design.md"

FOUNDATION = {"errors", "config", "packaged", "tables"}
"""Modules every layer may use: errors, settings, the packaged data's location, the shared table checks."""
DOMAIN_BASE = FOUNDATION | {"stats", "model", "store"}

MAY_IMPORT: dict[str, set[str]] = {
    "stats": set(),
    "errors": set(),
    "packaged": set(),
    "config": {"errors"},
    "tables": {"errors"},
    "model": {"errors", "config"},
    "store": {"errors", "config", "model", "tables"},
    "ingest": DOMAIN_BASE,
    "monitor": DOMAIN_BASE,
    "assess": DOMAIN_BASE,
    "fund": DOMAIN_BASE | {"monitor"},
    "plan": DOMAIN_BASE | {"monitor", "assess"},
    "systems": DOMAIN_BASE | {"monitor"},
    "services": DOMAIN_BASE | {"ingest", "monitor", "assess", "fund", "plan", "systems"},
    "http": FOUNDATION | {"model", "services"},
    "api": FOUNDATION | {"model", "services", "http"},
    "web": FOUNDATION | {"model", "services", "http"},
    "app": FOUNDATION | {"model", "store", "services", "http", "api", "web"},
    "cli": FOUNDATION | {"model", "services", "app"},
    "demo": None,  # the demo may use anything; nothing may use the demo
}
"""For each top-level package or module of ``carelens``: what else of ours it may import (``None``: anything).
The package itself and the top-level ``carelens`` (its version) are always allowed."""

DEMO_COMMAND = "carelens.cli.demo"
"""The one module that may import the demo: the ``carelens demo`` command."""

EXCEPTIONS: dict[tuple[str, str], str] = {
    (
        "carelens.fund.practices",
        "ingest",
    ): "reads a practice file with the gp-weighted-population importer's own reader (one way to read that file)",
    ("carelens.store.testing", "ingest"): "test support: seeds stores with the synthetic data generator",
}
"""(importing module, imported package) pairs allowed despite :data:`MAY_IMPORT`, each with its reason."""


def _module_name(path: Path, root: Path) -> str:
    parts = path.relative_to(root).with_suffix("").parts
    return ".".join(("carelens", *parts)).removesuffix(".__init__")


def imports(root: Path, files: list[Path] | None = None) -> list[tuple[str, str, int]]:
    """Every (importing module, imported carelens module, line) in ``files`` (default: every module under
    ``root``, the ``carelens`` package folder or a copy of part of it)."""
    found = []
    for path in sorted(files if files is not None else root.rglob("*.py")):
        if "migrations" in path.parts:
            continue
        importer = _module_name(path, root)
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"), str(path))):
            if isinstance(node, ast.ImportFrom) and node.level:
                package = importer.split(".")[: -node.level + (path.name == "__init__.py") or None]
                found.append(
                    (importer, ".".join([*package, *([node.module] if node.module else [])]), node.lineno)
                )
            elif isinstance(node, ast.ImportFrom) and node.module and node.module.split(".")[0] == "carelens":
                found.append((importer, node.module, node.lineno))
            elif isinstance(node, ast.Import):
                found += [
                    (importer, a.name, node.lineno) for a in node.names if a.name.split(".")[0] == "carelens"
                ]
    return found


def _top(module: str) -> str:
    parts = module.split(".")
    return parts[1] if len(parts) > 1 else ""


def violations(root: Path, files: list[Path] | None = None) -> list[str]:
    """Imports in ``files`` under ``root`` (default: all) that break :data:`MAY_IMPORT` and are not in
    :data:`EXCEPTIONS`, as ``module:line: imports what: why it is not allowed``."""
    exceptions = EXCEPTIONS
    problems = []
    for importer, imported, line in imports(root, files):
        source, target = _top(importer), _top(imported)
        if target in ("", source) or (importer, target) in exceptions:
            continue
        if source not in MAY_IMPORT:
            problems.append(
                f"{importer}:{line}: {source!r} is in no layer: add it to MAY_IMPORT and docs/design.md"
            )
            continue
        if target == "demo":
            if importer != DEMO_COMMAND:
                problems.append(
                    f"{importer}:{line}: imports {imported}: nothing but `carelens demo` may use the demo"
                )
            continue
        allowed = MAY_IMPORT[source]
        if allowed is not None and target not in allowed:
            problems.append(
                f"{importer}:{line}: imports {imported}: {source} may import only {sorted(allowed)}"
            )
    return problems


def test_every_import_keeps_to_its_layer():
    assert violations(SOURCE) == []


def test_every_exception_is_still_needed():
    used = {(importer, _top(imported)) for importer, imported, _ in imports(SOURCE)}
    assert sorted(set(EXCEPTIONS) - used) == []


def test_every_package_is_in_a_layer():
    tops = {
        p.stem if p.suffix else p.name
        for p in SOURCE.iterdir()
        if p.suffix == ".py" or (p / "__init__.py").exists()
    }
    assert sorted(tops - set(MAY_IMPORT) - {"__init__", "__main__"}) == []


@pytest.mark.parametrize(
    ("module", "line", "expected"),
    [
        ("stats/funnel.py", "from carelens.monitor import kernel", "stats may import only []"),
        ("monitor/kernel.py", "from carelens.services import judgements", "monitor may import only"),
        ("store/schema.py", "import carelens.web.pages", "store may import only"),
        (
            "web/pages/monitoring.py",
            "from carelens.monitor.funnels import funnel_table",
            "web may import only",
        ),
        (
            "plan/programme.py",
            "from carelens.demo.store import load_demo_store",
            "nothing but `carelens demo`",
        ),
        ("services/reach.py", "from ..api import security", "services may import only"),
        ("cli/planning.py", "from carelens.plan.regime import open_case", "cli may import only"),
        ("cli/_common.py", "from carelens.store.engine import create_engine", "cli may import only"),
    ],
)
def test_an_upward_import_fails(tmp_path, module, line, expected):
    """Add an upward import to a copy of a module and the contract names it, with module and line."""
    target = tmp_path / "carelens" / module
    target.parent.mkdir(parents=True)
    added = f"\n\ndef _added():\n    {line}\n"
    target.write_text((SOURCE / module).read_text(encoding="utf-8") + added, encoding="utf-8")
    before = violations(SOURCE, [SOURCE / module])
    [problem] = set(violations(tmp_path / "carelens", [target])) - set(before)
    importer = "carelens." + module.removesuffix(".py").replace("/", ".")
    assert problem.startswith(f"{importer}:") and expected in problem


def test_the_design_page_states_the_same_layers():
    """``docs/design.md`` has the contract table, row for row as :data:`MAY_IMPORT` says."""
    text = DESIGN.read_text(encoding="utf-8")
    for package, allowed in MAY_IMPORT.items():
        shown = (
            "anything"
            if allowed is None
            else ", ".join(f"`{a}`" for a in sorted(allowed)) or "nothing of ours"
        )
        assert re.search(rf"^\| `{package}` \| {re.escape(shown)} \|", text, re.M), (package, shown)
