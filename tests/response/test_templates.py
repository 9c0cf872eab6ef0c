"""Template errors fail loudly at `tingfeng playbook check`, not during an incident."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
from typer.testing import CliRunner

from cli.main import app
from triage.playbook import default_playbook_path, load_playbook
from triage.replies.checks import check_playbook_templates, check_templates
from triage.replies.errors import TemplateError
from triage.replies.templating import bundled_dir

BUNDLED = ["help_response", "holding_line", "rumor_rebuttal", "situation_notice"]


@pytest.fixture
def templates(tmp_path: Path) -> Path:
    """A copy of the bundled templates to break."""
    target = tmp_path / "templates"
    shutil.copytree(
        bundled_dir(), target, ignore=shutil.ignore_patterns("__init__.py", "__pycache__")
    )
    return target


def edit(templates: Path, name: str, old: str, new: str) -> None:
    path = templates / f"{name}.j2"
    text = path.read_text("utf-8")
    assert old in text
    path.write_text(text.replace(old, new, 1), "utf-8")


def test_the_bundled_templates_and_playbook_check_out() -> None:
    assert check_templates() == BUNDLED
    assert check_playbook_templates(load_playbook()) == []
    result = CliRunner().invoke(app, ["playbook", "check", str(default_playbook_path())])
    assert result.exit_code == 0, result.output


def test_a_copy_checks_out(templates: Path) -> None:
    assert check_templates(directory=templates) == BUNDLED


def problems_of(templates: Path, names: list[str] | None = None) -> list[str]:
    with pytest.raises(TemplateError) as caught:
        check_templates(names, directory=templates)
    return caught.value.problems


def test_unknown_variable(templates: Path) -> None:
    edit(templates, "holding_line", "{{ incident.team_name }}", "{{ incident_team }}")
    problems = problems_of(templates)
    assert len(problems) == 1
    assert "holding_line.j2" in problems[0] and "unknown variable 'incident_team'" in problems[0]


def test_unknown_attribute_names_the_line(templates: Path) -> None:
    edit(templates, "help_response", "{{ p.quote }}", "{{ p.qoute }}")
    problems = problems_of(templates, ["help_response"])
    assert problems and all("help_response.j2 line 5" in p and "qoute" in p for p in problems)


def test_missing_template_file_and_unknown_name(templates: Path) -> None:
    (templates / "situation_notice.j2").unlink()
    problems = problems_of(templates, ["situation_notice", "press_release"])
    assert any("situation_notice" in p and "no file" in p for p in problems)
    assert any("unknown reply template 'press_release'" in p for p in problems)


def test_syntax_error_names_the_line(templates: Path) -> None:
    edit(templates, "rumor_rebuttal", "{% endfor %}\n请广大", "{% endfo %}\n请广大")
    problems = problems_of(templates, ["rumor_rebuttal"])
    assert len(problems) == 1 and "rumor_rebuttal.j2 line" in problems[0]


def test_a_sentence_without_a_source_fails_the_check(templates: Path) -> None:
    edit(
        templates,
        "holding_line",
        "核实情况将第一时间",
        "我们已于5月2日完成核查。\n核实情况将第一时间",
    )
    problems = problems_of(templates, ["holding_line"])
    assert problems and all("5月2日" in p and "cites no source" in p for p in problems)
    edit(templates, "holding_line", "我们已于5月2日完成核查。", "我们高度重视。")
    problems = problems_of(templates, ["holding_line"])
    assert problems and all("我们高度重视" in p for p in problems)


def test_playbook_check_reports_the_route(templates: Path) -> None:
    edit(templates, "rumor_rebuttal", "{{ subject_short }}", "{{ subject_shrot }}")
    problems = check_playbook_templates(load_playbook(), directory=templates)
    routes = {p.rule for p in problems}
    assert routes == {"routes[4] 'rumor-severe'", "routes[5] 'rumor'"}
    assert {p.field for p in problems} == {"reply_template"}
    assert all("subject_shrot" in p.message for p in problems)
