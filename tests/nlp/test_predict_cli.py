"""`tingfeng nlp predict`: JSONL in, JSONL out, bad lines named."""

from __future__ import annotations

import io
import json
import subprocess
import sys

import pytest
from typer.testing import CliRunner

from cli.main import app
from nlp.errors import PredictInputError
from nlp.predict import Predictor, predict_jsonl


def test_predict_cli_round_trip() -> None:
    lines = [
        {"id": "a", "text": "求助！家里老人的降压药吃完了，药店都关门了，谁能帮帮忙"},
        {"id": 7, "text": "今天天气很好，去公园散步"},
    ]
    stdin = "".join(json.dumps(x, ensure_ascii=False) + "\n" for x in lines) + "\n"
    result = CliRunner().invoke(app, ["nlp", "predict", "--task", "help"], input=stdin)
    assert result.exit_code == 0, result.output
    out = [json.loads(line) for line in result.stdout.splitlines() if line.strip()]
    assert [o["id"] for o in out] == ["a", 7]
    assert [o["label"] for o in out] == ["help_request", "none"]
    for o in out:
        assert set(o) == {"id", "label", "score", "scores"}
        assert set(o["scores"]) == {"help_request", "public_demand", "none"}


@pytest.mark.parametrize(
    ("stdin", "message"),
    [
        ('{"id": 1, "text": "好"}\nnot json\n', "line 2: not JSON"),
        ('{"id": 1}\n', "line 1: 'text' must be a string"),
        ('{"text": "好"}\n', "line 1: 'id' is missing"),
        ("[1, 2]\n", "line 1: expected an object"),
    ],
)
def test_bad_input_lines_are_named_and_nothing_is_written(stdin: str, message: str) -> None:
    out = io.StringIO()
    with pytest.raises(PredictInputError, match=message):
        predict_jsonl(Predictor(), "emotion", io.StringIO(stdin), out)
    assert out.getvalue() == ""


def test_cli_prints_one_line_for_a_bad_line() -> None:
    proc = subprocess.run(
        [
            sys.executable,
            "-c",
            "from cli.main import main; main()",
            "nlp",
            "predict",
            "--task",
            "rumor",
        ],
        input='{"id": 1, "text": "好"}\n{oops\n',
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert proc.returncode == 2
    assert "line 2" in proc.stderr
    assert "Traceback" not in proc.stderr
    assert proc.stdout == ""
