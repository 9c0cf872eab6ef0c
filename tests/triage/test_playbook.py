"""Playbooks: the default one is valid; malformed ones fail with file, rule and field named,
through the library, `tingfeng playbook check` and the API check endpoint."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml
from typer.testing import CliRunner

from cli.main import app
from triage.errors import PlaybookError
from triage.playbook import default_playbook_path, load_playbook, parse_playbook

DEFAULT = default_playbook_path().read_text("utf-8")


def mutated(change: str, old: str, new: str) -> str:
    assert DEFAULT.count(old) >= 1, change
    return DEFAULT.replace(old, new, 1)


def test_default_playbook_is_valid_and_routes_everything() -> None:
    book = load_playbook()
    assert book.routes[-1].id == "default"
    categories = {s.category for s in book.signals}
    assert categories == {
        "rumor",
        "help_request",
        "public_demand",
        "supplies_logistics",
        "public_order",
        "other",
    }
    assert book.route("help_request", "420102003", 3, []).team == "jiangan-district"
    assert book.route("help_request", "420103", 3, []).team == "hotline"
    assert book.route("rumor", None, 1, []).id == "rumor-severe"
    assert book.route("rumor", None, 3, []).id == "rumor"
    assert book.route("other", None, 3, ["coverage-gap"]).team == "ops"
    assert book.route("other", None, 4, []).id == "default"


BROKEN = [
    (
        "unknown field",
        ("claim_confirmed_min: 1", "claim_confirmd_min: 1"),
        ("signals[0] 'rumor-confirmed-match'", "when.claim_confirmd_min", "unknown field"),
    ),
    (
        "bad duration",
        ("acknowledge: 10m, first_response: 30m", "acknowledge: 10x, first_response: 30m"),
        ("routes[0] 'help-jiangan'", "sla.acknowledge", "not a positive duration"),
    ),
    (
        "clocks out of order",
        ("acknowledge: 10m, first_response: 30m", "acknowledge: 2h, first_response: 30m"),
        ("routes[0] 'help-jiangan'", "sla", "acknowledge <= first_response"),
    ),
    (
        "unknown team",
        ("    team: hotline\n", "    team: hotlne\n"),
        ("routes[3] 'help-citywide'", "team", "unknown team 'hotlne'"),
    ),
    (
        "unknown escalation team",
        ("escalation: [duty-supervisor, leadership]", "escalation: [duty-supervisr]"),
        ("routes[3] 'help-citywide'", "escalation.0", "unknown team"),
    ),
    (
        "unknown template",
        ("reply_template: rumor_rebuttal", "reply_template: rumour_rebuttal"),
        ("routes[4] 'rumor-severe'", "reply_template", "unknown template"),
    ),
    (
        "unknown category",
        ("category: public_order\n", "category: riot\n"),
        ("signals[5] 'public-order'", "category", "Input should be"),
    ),
    (
        "signal without conditions",
        ("when: {help_min: 3}", "when: {}"),
        ("signals[1] 'help-cluster'", "when", "at least one condition"),
    ),
    (
        "unknown severity component",
        ("region: 0.1}\n  weights_by_category", "regoin: 0.1}\n  weights_by_category"),
        ("severity", "weights", "unknown components"),
    ),
    (
        "no catch-all",
        (
            "  - id: default\n    team: press-office",
            "  - id: default\n    match: {severities: [4]}\n    team: press-office",
        ),
        ("routes[10] 'default'", "match", "must match everything"),
    ),
    (
        "duplicate id",
        ("  - id: help-wuchang\n", "  - id: help-jiangan\n"),
        ("routes[1] 'help-jiangan'", "id", "duplicate id"),
    ),
    (
        "unknown rule in match",
        ("match: {rules: [coverage-gap]}", "match: {rules: [coverage-gaps]}"),
        ("routes[8] 'coverage-gap'", "match.rules", "unknown signal or alert rule"),
    ),
]


@pytest.mark.parametrize(("name", "edit", "expected"), BROKEN, ids=[b[0] for b in BROKEN])
def test_malformed_playbooks_name_file_rule_and_field(
    name: str, edit: tuple[str, str], expected: tuple[str, str, str]
) -> None:
    text = mutated(name, *edit)
    with pytest.raises(PlaybookError) as exc:
        parse_playbook(text, file="city.yaml")
    rule, field, message = expected
    matching = [
        p
        for p in exc.value.problems
        if p.file == "city.yaml" and p.rule == rule and p.field == field and message in p.message
    ]
    assert matching, [str(p) for p in exc.value.problems]
    assert str(exc.value).startswith("city.yaml: ")


def test_invalid_yaml_names_the_line() -> None:
    with pytest.raises(PlaybookError) as exc:
        parse_playbook("version: 1\nsignals: [\n", file="bad.yaml")
    assert exc.value.problems[0].rule == "line 3"
    with pytest.raises(PlaybookError, match="must be a mapping"):
        parse_playbook("- a\n- b\n", file="list.yaml")


def test_templates_can_be_checked_against_a_given_set() -> None:
    with pytest.raises(PlaybookError, match="unknown template 'help_response'"):
        parse_playbook(
            DEFAULT, templates=frozenset({"rumor_rebuttal", "holding_line", "situation_notice"})
        )


def test_cli_check_lists_every_problem_and_fails(tmp_path: Path) -> None:
    bad = tmp_path / "city.yaml"
    text = mutated("two problems", "    team: hotline\n", "    team: hotlne\n")
    text = text.replace("reply_template: rumor_rebuttal", "reply_template: nope", 1)
    bad.write_text(text, "utf-8")
    result = CliRunner().invoke(app, ["playbook", "check", str(bad)])
    assert result.exit_code == 1
    assert (
        f"{bad}: routes[3] 'help-citywide': field 'team': unknown team 'hotlne'"
        in " ".join(result.output.split())
        or "unknown team 'hotlne'" in result.output
    )
    assert "2 problem(s)" in result.output

    good = tmp_path / "good.yaml"
    good.write_text(DEFAULT, "utf-8")
    result = CliRunner().invoke(app, ["playbook", "check", str(good)])
    assert result.exit_code == 0, result.output
    assert "11 routes" in result.output


def test_cli_show_prints_routes(tmp_path: Path) -> None:
    good = tmp_path / "good.yaml"
    good.write_text(DEFAULT, "utf-8")
    result = CliRunner().invoke(app, ["playbook", "show", str(good)], env={"COLUMNS": "200"})
    assert result.exit_code == 0, result.output
    assert "jiangan-district" in result.output and "10m" in result.output


def test_changed_file_is_reloaded(tmp_path: Path) -> None:
    from triage.playbook import current_playbook

    path = tmp_path / "live.yaml"
    path.write_text(DEFAULT, "utf-8")
    assert current_playbook(path).name == "default"
    data = yaml.safe_load(DEFAULT)
    data["name"] = "edited"
    path.write_text(yaml.safe_dump(data, allow_unicode=True), "utf-8")
    import os

    os.utime(path, ns=(path.stat().st_atime_ns, path.stat().st_mtime_ns + 1_000_000))
    assert current_playbook(path).name == "edited"
