"""Dependencies: minimums past known advisories, a lock file with hashes that covers every
runtime dependency (the Dockerfile installs from it), and a Python range that newer
interpreters fit."""

from __future__ import annotations

import re
import tomllib
from pathlib import Path

from packaging.requirements import Requirement
from packaging.version import Version

ROOT = Path(__file__).resolve().parent.parent
PYPROJECT = tomllib.loads((ROOT / "pyproject.toml").read_text("utf-8"))
LOCK = (ROOT / "requirements.lock").read_text("utf-8")
ADVISORY_MINIMUMS = {"scrapy": "2.13.4", "weasyprint": "70", "jinja2": "3.1.6"}


def _requirements() -> dict[str, Requirement]:
    reqs = [Requirement(r) for r in PYPROJECT["project"]["dependencies"]]
    return {r.name.lower(): r for r in reqs}


def _pins() -> dict[str, tuple[Version, int]]:
    """name -> (pinned version, number of hashes) from the lock file."""
    pins: dict[str, tuple[Version, int]] = {}
    for block in re.split(r"\n(?=[a-z0-9])", LOCK):
        m = re.match(r"([a-z0-9][a-z0-9._-]*)==([^\s;]+)", block)
        if m:
            pins[m.group(1).lower()] = (Version(m.group(2)), block.count("--hash=sha256:"))
    return pins


def test_minimums_are_past_the_advisories() -> None:
    reqs = _requirements()
    for name, floor in ADVISORY_MINIMUMS.items():
        spec = reqs[name].specifier
        lower = [s for s in spec if s.operator in (">=", ">")]
        assert lower and Version(lower[0].version) >= Version(floor), (name, str(spec))


def test_lock_pins_every_dependency_with_hashes_inside_the_ranges() -> None:
    pins = _pins()
    for name, req in _requirements().items():
        key = name.replace("_", "-")
        assert key in pins, f"{name} is not in requirements.lock (regenerate it, see Dockerfile)"
        version, _ = pins[key]
        assert req.specifier.contains(version), (name, str(version), str(req.specifier))
    assert all(count >= 1 for _, count in pins.values())


def test_python_range_admits_newer_interpreters() -> None:
    spec = PYPROJECT["project"]["requires-python"]
    from packaging.specifiers import SpecifierSet

    allowed = SpecifierSet(spec)
    assert all(allowed.contains(v) for v in ("3.11", "3.12", "3.13", "3.14"))
