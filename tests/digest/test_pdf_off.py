"""Without the system packages (CJK font, pango) only the PDF turns off: `scripts/system-deps`
says so in one line and exits 0 without root, and the digest still saves HTML, Markdown and
text (and e-mails without the attachment)."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from digest.deliver import FILES, build_email, save_digest
from digest.render import render_digest
from store.sqlite import SqliteStore
from tests.conftest import TEST_KEYS, make_settings
from tests.digest import fixture_day as fx
from tests.digest.conftest import Built

ROOT = Path(__file__).resolve().parents[2]
NOBODY = 65534


@pytest.fixture
def bare_path() -> Iterator[Path]:
    """A PATH directory holding only a shell and the basic tools: no fc-list, ldconfig,
    pdftotext, sudo or apt-get (readable by an unprivileged user)."""
    folder = Path(tempfile.mkdtemp(prefix="tf-bin-", dir="/tmp"))
    folder.chmod(0o755)
    for tool in ("bash", "grep", "id"):
        found = shutil.which(tool)
        assert found, tool
        (folder / tool).symlink_to(found)
    yield folder
    shutil.rmtree(folder)


def _system_deps(bare: Path, *prefix: str) -> subprocess.CompletedProcess[str]:
    script = (ROOT / "scripts" / "system-deps").read_text()
    return subprocess.run(
        [*prefix, str(bare / "bash"), "-s"],
        input=script, env={"PATH": str(bare)}, capture_output=True, text=True, timeout=60,
    )  # fmt: skip


def test_system_deps_without_root_turns_the_pdf_off(bare_path: Path) -> None:
    setpriv = shutil.which("setpriv")
    assert setpriv, "util-linux setpriv"
    proc = _system_deps(
        bare_path, setpriv, f"--reuid={NOBODY}", f"--regid={NOBODY}", "--clear-groups"
    )
    assert proc.returncode == 0, proc.stderr
    [line] = proc.stderr.splitlines()
    assert line.startswith("system-deps: missing fonts-wqy-microhei libpango-1.0-0")
    assert "digest PDF off, everything else runs" in line and "apt-get install" in line


def test_system_deps_as_root_without_apt_turns_the_pdf_off(bare_path: Path) -> None:
    if os.geteuid() != 0:
        pytest.fail("this test runs as root (CI does); the other one covers non-root")
    proc = _system_deps(bare_path)
    assert proc.returncode == 0 and len(proc.stderr.splitlines()) == 1, proc.stderr


def test_rendering_without_a_cjk_font_keeps_every_other_format(
    built: Built, tmp_path: Path
) -> None:
    rendered = render_digest(built.digest, {}, None)
    assert rendered.pdf is None and rendered.pdf_off and "fonts-wqy-microhei" in rendered.pdf_off
    target = save_digest(built.digest, rendered, tmp_path)
    assert {p.name for p in target.iterdir()} >= {FILES[k] for k in ("html", "md", "txt", "json")}
    assert not (target / FILES["pdf"]).exists()
    message = build_email(built.digest, rendered, sender="a@b.c", recipients=["x@y.z"])
    assert [p.get_content_type() for p in message.iter_attachments()] == []
    assert message.get_body(preferencelist=("html",)) is not None


CLI_WITHOUT_PACKAGES = """
import sys
import matplotlib.font_manager as fm
if sys.argv[1] == "no-font":
    fm.findSystemFonts = lambda *a, **k: []  # no CJK font installed
sys.modules["weasyprint"] = None  # and WeasyPrint cannot load (no pango)
from cli.main import main
sys.argv = ["tingfeng", "digest", "--date", sys.argv[2], "--no-send"]
main()
"""


@pytest.mark.parametrize(
    ("missing", "says"),
    [("no-font", "no CJK font installed"), ("no-pango", "WeasyPrint cannot load pango")],
)
def test_digest_command_without_system_packages(tmp_path: Path, missing: str, says: str) -> None:
    settings = make_settings(tmp_path)
    store = SqliteStore(settings.sqlite_path)
    store.init()
    fx.load(store, settings)
    store.close()
    env = {k: v for k, v in os.environ.items() if not k.startswith("TINGFENG_")} | {
        "TINGFENG_PSEUDONYM_KEY": TEST_KEYS["pseudonym_key"],
        "TINGFENG_SECRET_KEY": TEST_KEYS["secret_key"],
        "TINGFENG_DATA_DIR": str(settings.data_dir),
        "COLUMNS": "300",
    }
    proc = subprocess.run(
        [sys.executable, "-c", CLI_WITHOUT_PACKAGES, missing, fx.DAY.isoformat()],
        cwd=tmp_path, env=env, capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr[-2000:]
    off = [line for line in proc.stdout.splitlines() if "PDF off" in line]
    assert len(off) == 1 and says in off[0] and "apt-get install" in off[0], proc.stdout
    target = settings.data_dir / "digests" / "daily" / fx.DAY.isoformat()
    assert (target / "digest.html").is_file() and not (target / "digest.pdf").exists()
    charts = list((target / "charts").glob("*.png"))
    assert (charts == []) == (missing == "no-font")  # charts need the font, not pango
    assert "Traceback" not in proc.stderr
