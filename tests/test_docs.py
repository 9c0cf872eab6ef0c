"""Documentation stays in step with the code: every command has an example and is listed in
README.md; every index is in the README's index table."""

from __future__ import annotations

from pathlib import Path

import typer.main

from cli.main import app
from store.indices import INDICES

ROOT = Path(__file__).resolve().parent.parent
README = (ROOT / "README.md").read_text("utf-8")


def _commands(group: object, prefix: str = "tingfeng") -> list[tuple[str, str]]:
    out: list[tuple[str, str]] = []
    for name, command in group.commands.items():  # type: ignore[attr-defined]
        path = f"{prefix} {name}"
        if hasattr(command, "commands"):
            out.extend(_commands(command, path))
        else:
            out.append((path, command.help or ""))
    return out


COMMANDS = _commands(typer.main.get_command(app))


def test_there_are_commands() -> None:
    assert len(COMMANDS) >= 8


def test_every_command_has_an_example() -> None:
    missing = [path for path, help_text in COMMANDS if "Example: tingfeng" not in help_text]
    assert missing == []


def test_every_command_is_in_the_readme() -> None:
    missing = [path for path, _ in COMMANDS if f"`{path}" not in README]
    assert missing == []


def test_every_index_is_in_the_readme() -> None:
    missing = [name for name in INDICES if f"`<prefix>-{name}`" not in README]
    assert missing == []


def test_readme_starts_with_exactly_two_setup_commands() -> None:
    head = README.split("\n## ", 1)[0]
    commands = [line for line in head.splitlines() if line.startswith("make ")]
    assert commands == ["make demo", "make test"]
