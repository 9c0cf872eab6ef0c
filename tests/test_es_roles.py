"""Elasticsearch/Kibana roles of the compose stack (deploy/security/roles/*.json), checked by
structure since no Docker engine runs here: the app may only append to the audit log, each
Kibana persona mirrors the API role of the same name, the dashboards importer is not `elastic`,
and the running services only check the indices (the index admin makes them).

The last test runs on the real test node: a store that may not manage indices makes none and
names the missing ones; once they exist it starts."""

from __future__ import annotations

import json
from fnmatch import fnmatch
from pathlib import Path
from typing import Any

import pytest
import yaml

from store.errors import StoreError
from store.es import ElasticsearchStore
from store.indices import INDICES
from store.settings import Settings
from tests.conftest import make_settings
from triage.users import ROLE_PERMISSIONS, Role

ROOT = Path(__file__).resolve().parent.parent
ROLES_DIR = ROOT / "deploy" / "security" / "roles"
PREFIX = "tfprod"
COMPOSE = yaml.safe_load((ROOT / "docker-compose.yml").read_text("utf-8"))
SERVICES: dict[str, Any] = COMPOSE["services"]
# ES index privilege names (Elasticsearch security privileges reference)
INDEX_PRIVILEGES = {
    "all", "auto_configure", "create", "create_doc", "create_index", "delete", "delete_index",
    "index", "maintenance", "manage", "manage_follow_index", "manage_ilm", "manage_leader_index",
    "monitor", "none", "read", "read_cross_cluster", "view_index_metadata", "write",
}  # fmt: skip
READ_ONLY = {"read", "view_index_metadata"}
WRITES = {"all", "write", "index", "create", "delete", "delete_index", "manage", "create_index"}
# what each API permission lets a person read (triage.users.PERMISSIONS), as indices
READABLE_BY_PERMISSION = {
    "read": {"posts", "topics", "incidents", "claims", "source-runs", "alerts"},
    "work": {"drafts", "publications", "effects"},
    "audit": {"audit"},
}
NEVER_FOR_PEOPLE = {"users", "api-tokens", "checkpoints", "notifications"}


def roles() -> dict[str, dict[str, Any]]:
    return {
        p.stem: json.loads(p.read_text("utf-8").replace("__PREFIX__", PREFIX))
        for p in sorted(ROLES_DIR.glob("*.json"))
    }


def granted(role: dict[str, Any], index: str) -> set[str]:
    """Privileges a role grants on a concrete index name (union over matching entries)."""
    out: set[str] = set()
    for entry in role["indices"]:
        if any(fnmatch(index, pattern) for pattern in entry["names"]):
            out |= set(entry["privileges"])
    return out


def index_names(name: str) -> list[str]:
    spec = INDICES[name]
    return [spec.alias(PREFIX), spec.index(PREFIX)]


def test_every_role_is_well_formed() -> None:
    found = roles()
    assert set(found) == {
        "tingfeng_app", "tingfeng_admin", "tingfeng_dashboards_importer",
        "tingfeng_patrol", "tingfeng_press", "tingfeng_supervisor",
    }  # fmt: skip
    for name, role in found.items():
        assert set(role) <= {"description", "cluster", "indices", "applications"}, name
        assert role["description"].strip(), name
        for entry in role["indices"]:
            assert set(entry) == {"names", "privileges"}, name
            assert set(entry["privileges"]) <= INDEX_PRIVILEGES, (name, entry["privileges"])
            assert all(n.startswith(f"{PREFIX}-") for n in entry["names"]), name
        for app in role.get("applications", []):
            assert app["application"] == "kibana-.kibana" and app["resources"] == ["space:default"]
            assert all(p.startswith("feature_") for p in app["privileges"]), name


def test_the_app_only_appends_to_the_audit_log() -> None:
    app = roles()["tingfeng_app"]
    for index in index_names("audit"):
        assert granted(app, index) == {"create_doc", "read", "view_index_metadata"}, index
    for name in INDICES:
        if name != "audit":
            for index in index_names(name):
                assert "write" in granted(app, index), index  # its own data: read and write
    assert "manage_index_templates" not in app["cluster"]
    assert not any("manage" in granted(app, i) or "all" in granted(app, i) for i in
                   (n for name in INDICES for n in index_names(name)))  # fmt: skip


def test_index_admin_manages_every_index() -> None:
    admin = roles()["tingfeng_admin"]
    assert "manage_index_templates" in admin["cluster"]
    assert all("all" in granted(admin, i) for name in INDICES for i in index_names(name))


@pytest.mark.parametrize("persona", [Role.patrol, Role.press, Role.supervisor])
def test_kibana_personas_mirror_the_api_roles(persona: Role) -> None:
    role = roles()[f"tingfeng_{persona.value}"]
    expected = set().union(
        *(READABLE_BY_PERMISSION.get(p, set()) for p in ROLE_PERMISSIONS[persona])
    )
    readable = {name for name in INDICES if all(granted(role, i) for i in index_names(name))}
    assert readable == expected
    assert not readable & NEVER_FOR_PEOPLE
    for name in INDICES:
        for index in index_names(name):
            assert granted(role, index) <= READ_ONLY, (persona, index)  # Kibana is for reading
    [kibana] = role["applications"]
    assert all(p.endswith(".read") for p in kibana["privileges"])
    assert role["cluster"] == []


def test_importer_is_a_dedicated_user_without_document_access() -> None:
    importer = roles()["tingfeng_dashboards_importer"]
    for name in INDICES:
        for index in index_names(name):
            assert granted(importer, index) == {"view_index_metadata"}
    [kibana] = importer["applications"]
    assert {"feature_indexPatterns.all", "feature_savedObjectsManagement.all"} <= set(
        kibana["privileges"]
    )
    env = SERVICES["dashboards-import"]["environment"]
    assert env["TINGFENG_KIBANA_USERNAME"] == "tingfeng_importer"
    assert "ELASTIC_PASSWORD" not in str(env["TINGFENG_KIBANA_PASSWORD"])


def test_compose_setup_puts_every_role_and_the_services_only_check_indices() -> None:
    setup = SERVICES["setup"]
    script = "\n".join(setup["command"])
    assert "./deploy/security:/security:ro" in setup["volumes"]
    assert "/security/roles/*.json" in script and "_security/role/" in script
    for user, role in (("tingfeng_admin", "tingfeng_admin"),
                       ("tingfeng_importer", "tingfeng_dashboards_importer")):  # fmt: skip
        assert f"user {user} " in script and script.split(f"user {user} ", 1)[1].split("\n")[
            0
        ].endswith(role)
    assert "tingfeng_app" in script and '"all"' not in script
    init = SERVICES["store-init"]
    assert init["command"] == ["store", "init"]
    assert init["environment"]["TINGFENG_ES_USERNAME"] == "tingfeng_admin"
    for service in ("api", "scheduler", "crawler"):
        env = SERVICES[service]["environment"]
        assert env["TINGFENG_ES_MANAGE_INDICES"] == "false", service
        assert "store-init" in SERVICES[service]["depends_on"], service


def test_a_store_that_may_not_manage_indices_only_checks_them(tmp_path: Path, es_url: str) -> None:
    settings: Settings = make_settings(tmp_path, es_url=es_url, es_manage_indices=False)
    checker = ElasticsearchStore.from_settings(settings)
    admin = ElasticsearchStore.from_settings(
        settings.model_copy(update={"es_manage_indices": True})
    )
    try:
        with pytest.raises(StoreError, match=r"indices missing: .*-alerts.*tingfeng store init"):
            checker.init()
        assert not checker.es.indices.exists_alias(
            name=INDICES["posts"].alias(settings.index_prefix)
        )
        admin.init()
        checker.init()  # now every alias exists
    finally:
        admin.drop_all()
        admin.close()
        checker.close()
