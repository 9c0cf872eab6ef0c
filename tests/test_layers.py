"""Dependencies run one way, downward: each top-level package imports only the packages below
it. Read from the source (every `import`, including the ones inside functions and under
TYPE_CHECKING), so a lazy import cannot hide an upward dependency.

    cli            the `tingfeng` command: wires everything
    bench          benchmarks of every stage
    api            FastAPI /api/v1
    digest         daily/weekly digests
    triage         incidents, routing, replies
    nlp  crawlers  dashboards    the stages (they do not import each other)
    ingest         validate, pseudonymize, normalize
    store          settings, records, storage (SQLite | Elasticsearch), building both at the edge
    analysis       the text analyzer: normalize + segment, with its version
"""

from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent

ALLOWED: dict[str, set[str]] = {
    "analysis": set(),
    "store": {"analysis"},
    "ingest": {"analysis", "store"},
    "nlp": {"analysis", "store"},
    "crawlers": {"analysis", "store", "ingest"},
    "dashboards": {"store"},
    "triage": {"analysis", "store", "nlp"},
    "digest": {"store", "triage"},
    "api": {"analysis", "store", "ingest", "nlp", "crawlers", "triage", "digest"},
    "bench": {"analysis", "store", "ingest", "nlp", "crawlers", "triage", "digest", "api"},
    "cli": {
        "analysis",
        "store",
        "ingest",
        "nlp",
        "crawlers",
        "dashboards",
        "triage",
        "digest",
        "api",
        "bench",
    },
}


def imported_packages(path: Path) -> set[str]:
    """Top-level names of everything a module imports (absolute imports; relative imports stay
    inside the package)."""
    names: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text("utf-8"), filename=str(path))):
        if isinstance(node, ast.Import):
            names.update(alias.name.split(".")[0] for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            names.add(node.module.split(".")[0])
    return names


def upward_imports() -> list[str]:
    ours = set(ALLOWED)
    problems = []
    for package, allowed in ALLOWED.items():
        for path in sorted((ROOT / package).rglob("*.py")):
            for name in sorted(imported_packages(path) & ours - {package} - allowed):
                problems.append(f"{path.relative_to(ROOT)} imports {name}")
    return problems


def test_every_package_of_ours_has_a_layer() -> None:
    packages = {p.parent.name for p in ROOT.glob("*/__init__.py")} - {"tests"}
    assert packages == set(ALLOWED)


def test_dependencies_run_downward() -> None:
    assert upward_imports() == []


def test_store_imports_nothing_from_nlp_or_ingest() -> None:
    found = {
        str(path.relative_to(ROOT))
        for path in (ROOT / "store").rglob("*.py")
        if imported_packages(path) & {"nlp", "ingest", "cli"}
    }
    assert found == set()


def test_the_check_sees_lazy_imports(tmp_path: Path) -> None:
    module = tmp_path / "lazy.py"
    module.write_text(
        "from typing import TYPE_CHECKING\n"
        "if TYPE_CHECKING:\n    import nlp.predict\n"
        "def f():\n    from cli.context import x\n    return x\n",
        "utf-8",
    )
    assert imported_packages(module) == {"typing", "nlp", "cli"}
