"""Guards on the desk's routes (no browser): every state-changing route checks the CSRF token,
every page but sign-in needs a session, and none of them is in the API's OpenAPI schema."""

from __future__ import annotations

from pathlib import Path

from fastapi.routing import APIRoute
from fastapi.testclient import TestClient

from api.app import create_app
from api.desk import drafts, incidents, pages
from api.desk.session import check_csrf, desk_principal
from tests.conftest import make_settings, open_backend

ROUTES = [r for m in (pages, incidents, drafts) for r in m.router.routes if isinstance(r, APIRoute)]
PUBLIC = {
    ("GET", "/desk/login"),
    ("POST", "/desk/login"),
    ("POST", "/desk/logout"),
    ("GET", "/desk"),
}


def _calls(route: APIRoute) -> set[object]:
    seen: set[object] = set()
    todo = list(route.dependant.dependencies)
    while todo:
        dep = todo.pop()
        seen.add(dep.call)
        todo.extend(dep.dependencies)
    return seen


def test_every_post_checks_csrf_and_every_page_needs_a_session() -> None:
    assert len(ROUTES) >= 20
    for route in ROUTES:
        for method in route.methods:
            calls = _calls(route)
            if method == "POST":
                assert check_csrf in calls, f"{method} {route.path} lacks the CSRF check"
            if (method, route.path) not in PUBLIC:
                assert desk_principal in calls, f"{method} {route.path} needs no session"


def test_desk_is_not_in_the_openapi_schema_and_refuses_anonymous_posts(tmp_path: Path) -> None:
    settings = make_settings(tmp_path)
    store = open_backend("sqlite", settings, None)
    try:
        with TestClient(create_app(settings, store=store), base_url="http://127.0.0.1") as client:
            paths = client.get("/openapi.json").json()["paths"]
            assert not [p for p in paths if p.startswith("/desk")]
            page = client.get("/desk/queue", follow_redirects=False)
            assert page.status_code == 303 and page.headers["location"].startswith("/desk/login")
            # a forged cross-site post: no nonce cookie, no token -> refused before anything
            client.cookies.clear()
            resp = client.post("/desk/drafts/x/approve", data={"version": "1"})
            assert resp.status_code == 403 and "CSRF" in resp.text
            client.cookies.clear()
            login = client.get("/desk/login")
            cookie = login.headers["set-cookie"]
            assert "HttpOnly" in cookie and "SameSite=strict" in cookie.replace("Strict", "strict")
    finally:
        store.close()


def test_desk_errors_are_pages_and_the_api_keeps_its_error_shape(tmp_path: Path) -> None:
    settings = make_settings(tmp_path)
    store = open_backend("sqlite", settings, None)
    try:
        with TestClient(create_app(settings, store=store), base_url="http://127.0.0.1") as client:
            missing = client.get("/desk/no-such-page")
            assert missing.status_code == 404 and "没有这个页面" in missing.text
            api = client.get("/api/v1/no-such-route")
            assert api.status_code == 404 and api.json()["error"]["code"] == "not_found"
            login = client.get("/desk/login")
            token = login.text.split('name="csrf" value="', 1)[1].split('"', 1)[0]
            bad = client.post("/desk/login", data={"csrf": token})  # no user name, no password
            assert bad.status_code == 422 and "表单不完整" in bad.text
            api_bad = client.post("/api/v1/auth/login", json={})
            assert api_bad.status_code == 422 and api_bad.json()["error"]["code"] == "invalid_input"
    finally:
        store.close()


def test_the_demo_prints_desk_logins_that_work(tmp_path: Path) -> None:
    import re

    from rich.console import Console

    from cli.demo import show_desk_logins

    settings = make_settings(tmp_path)
    store = open_backend("sqlite", settings, None)
    try:
        console = Console(record=True, width=200)
        for _ in range(2):  # a second run gives fresh passwords to the same users
            show_desk_logins(settings, store, console, "http://127.0.0.1:8000")
        lines = console.export_text().splitlines()
        assert lines[0].endswith("http://127.0.0.1:8000/desk")
        logins = dict(re.findall(r"login: (demo-\w+) / (\S+)", "\n".join(lines[-2:])))
        assert set(logins) == {"demo-press", "demo-supervisor"}
        with TestClient(create_app(settings, store=store), base_url="http://127.0.0.1") as client:
            for username, password in logins.items():
                client.cookies.clear()
                form = client.get("/desk/login").text
                token = form.split('name="csrf" value="', 1)[1].split('"', 1)[0]
                resp = client.post(
                    "/desk/login",
                    data={"csrf": token, "username": username, "password": password},
                )
                assert resp.status_code == 200 and username in resp.text
                assert str(resp.url).endswith("/desk/queue")
    finally:
        store.close()


def test_disabling_a_user_ends_their_desk_session(tmp_path: Path) -> None:
    from tests.auth import bearer, make_tokens
    from tests.desk.conftest import PASSWORD, make_office

    settings = make_settings(tmp_path)
    store = open_backend("sqlite", settings, None)
    try:
        make_office(store)
        tokens = make_tokens(store, settings)
        with TestClient(create_app(settings, store=store), base_url="http://127.0.0.1") as client:
            form = client.get("/desk/login").text
            token = form.split('name="csrf" value="', 1)[1].split('"', 1)[0]
            client.post(
                "/desk/login", data={"csrf": token, "username": "wang.wei", "password": PASSWORD}
            )
            assert client.get("/desk/queue", follow_redirects=False).status_code == 200
            resp = client.post("/api/v1/users/wang.wei/disable", headers=bearer(tokens["admin"]))
            assert resp.status_code == 200, resp.text
            page = client.get("/desk/queue", follow_redirects=False)
            assert page.status_code == 303
            assert page.headers["location"].endswith("why=expired")
            assert "登录已失效" in client.get(page.headers["location"]).text
    finally:
        store.close()
