"""Authentication and authorization: the local admin, sessions, API tokens, the role policy, the CLI, OIDC.

In-process against a real SQLite database (TestClient), plus the CLI and an agent as real processes. The OIDC
flow runs against a real provider (``oidc-provider`` from npm, tests/ui/oidc), its login form filled by an HTTP
client; the browser tests (tests/ui) sign in through the same provider in Chromium.
"""

from __future__ import annotations

import json
import re
import stat
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from conduix.errors import ConfigError
from conduix_control.api import create_app
from conduix_control.auth import AuthSettings
from conduix_control.auth.local import ensure_admin
from conduix_control.auth.oidc import claim_values, map_role, safe_next
from conduix_control.auth.roles import PUBLIC, required
from conduix_control.auth.settings import parse_role_map
from conduix_control.db import Database
from conduix_control.db.models import User
from conduix_control.settings import ControlSettings
from tests.conftest import conduix
from tests.control.oidc import PUBLIC_URL, Provider, oidc_app, oidc_login

GOOD = """version: 1
name: orders
sources:
  numbers: {type: generate, count: 10}
sinks:
  out: {type: blackhole, inputs: [numbers]}
"""
PASSWORD = "the-admin-password"


def make_app(db_url: str, auth: AuthSettings) -> Any:
    return create_app(db_url, settings=ControlSettings(), run_leader=False, auth=auth)


@pytest.fixture
def db_url(tmp_path: Path) -> str:
    return f"sqlite:///{tmp_path / 'c.db'}"


@pytest.fixture
def client(db_url: str, tmp_path: Path) -> Iterator[TestClient]:
    """Not signed in; the local admin's password is PASSWORD."""
    with TestClient(make_app(db_url, AuthSettings(admin_password=PASSWORD, state_dir=tmp_path))) as c:
        yield c


def login(client: TestClient, password: str = PASSWORD, username: str = "admin") -> Any:
    return client.post("/auth/login", json={"username": username, "password": password})


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def new_token(client: TestClient, role: str, name: str | None = None) -> str:
    """A token made by the admin (the client is signed in as admin while it is made)."""
    response = client.post("/auth/tokens", json={"name": name or f"t-{role}", "role": role})
    assert response.status_code == 201, response.text
    return str(response.json()["token"])


# -- the local admin account --

def test_first_start_generates_the_admin_password_into_a_private_file(db_url: str, tmp_path: Path,
                                                                      caplog: pytest.LogCaptureFixture) -> None:
    settings = AuthSettings(state_dir=tmp_path / "state")
    with caplog.at_level("WARNING"), TestClient(make_app(db_url, settings)) as c:
        path = tmp_path / "state" / "control" / "admin-password"
        password = path.read_text().strip()
        assert stat.S_IMODE(path.stat().st_mode) == 0o600
        assert password not in caplog.text and str(path) in caplog.text  # where it is, never what it is
        assert login(c, password).json() == {"user": "admin", "role": "admin"}
    path.unlink()
    caplog.clear()
    with caplog.at_level("WARNING"), TestClient(make_app(db_url, settings)) as c:  # second start: nothing new
        assert not path.exists() and "password" not in caplog.text
        assert login(c, password).status_code == 200


def test_admin_password_from_the_environment_and_no_file(db_url: str, tmp_path: Path) -> None:
    settings = AuthSettings.from_env({"CONDUIX_CONTROL_ADMIN_PASSWORD": "from-env-123"}, state_dir=tmp_path)
    with TestClient(make_app(db_url, settings)) as c:
        assert login(c, "from-env-123").status_code == 200
    assert not (tmp_path / "control" / "admin-password").exists()


def test_two_instances_starting_at_once_create_one_admin(db_url: str, tmp_path: Path) -> None:
    db = Database(db_url).open()
    barrier = threading.Barrier(4)
    created: list[bool] = []

    def start(i: int) -> None:
        barrier.wait()
        created.append(ensure_admin(db, AuthSettings(admin_password=f"password-number-{i}", state_dir=tmp_path)))

    threads = [threading.Thread(target=start, args=(i,)) for i in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    with db.session() as s:
        assert s.query(User).filter_by(username="admin").count() == 1
    assert sorted(created) == [False, False, False, True]
    db.close()


# -- sessions --

def test_login_me_logout_and_wrong_password(client: TestClient) -> None:
    assert client.get("/health").status_code == 200
    assert client.get("/auth/config").json() == {"mode": "local", "provider": None}
    assert client.get("/").status_code == 200  # the UI's page is public; it shows the login itself
    denied = client.get("/pipelines")
    assert denied.status_code == 401 and "--token" in denied.json()["detail"]
    assert client.get("/auth/me").status_code == 401

    wrong = login(client, "nope")
    assert wrong.status_code == 401 and wrong.json()["detail"] == "wrong user name or password"
    assert login(client, username="root").status_code == 401
    assert client.get("/auth/me").status_code == 401

    answer = login(client)
    assert answer.status_code == 200
    cookie = answer.headers["set-cookie"].lower()
    assert "httponly" in cookie and "samesite=lax" in cookie
    assert client.get("/auth/me").json() == {"user": "admin", "role": "admin", "via": "session"}
    assert client.get("/pipelines").status_code == 200

    assert client.post("/auth/logout").status_code == 204
    assert client.get("/auth/me").status_code == 401
    assert client.get("/pipelines").status_code == 401


def test_a_password_change_ends_other_sessions(client: TestClient, db_url: str, tmp_path: Path) -> None:
    assert login(client).status_code == 200
    with TestClient(client.app) as other:
        assert login(other).status_code == 200
        wrong = client.post("/auth/password", json={"current": "nope", "new": "new-password-1"})
        assert wrong.status_code == 400
        assert client.post("/auth/password", json={"current": PASSWORD, "new": "short"}).status_code == 422
        assert client.post("/auth/password", json={"current": PASSWORD, "new": "new-password-1"}).status_code == 204
        assert client.get("/auth/me").status_code == 200  # this session goes on
        assert other.get("/auth/me").status_code == 401  # the other one ended
        assert login(other).status_code == 401
        assert login(other, "new-password-1").status_code == 200


# -- tokens and roles --

def test_tokens_create_list_use_and_revoke(client: TestClient) -> None:
    login(client)
    created = client.post("/auth/tokens", json={"name": "ci", "role": "editor"}).json()
    assert created["token"].startswith("cdx_") and created["token"].startswith(created["prefix"])
    assert created["created_by"] == "admin" and created["last_used_at"] is None
    [listed] = client.get("/auth/tokens").json()
    assert "token" not in listed and listed["name"] == "ci" and listed["role"] == "editor"
    assert client.post("/auth/tokens", json={"name": "x", "role": "root"}).status_code == 422
    client.post("/auth/logout")

    me = client.get("/auth/me", headers=bearer(created["token"]))
    assert me.json() == {"user": "token:ci", "role": "editor", "via": "token"}
    login(client)
    assert client.get("/auth/tokens").json()[0]["last_used_at"] is not None
    assert client.delete(f"/auth/tokens/{created['id']}").status_code == 204
    assert client.delete(f"/auth/tokens/{created['id']}").status_code == 404
    assert client.get("/auth/tokens").json() == []
    client.post("/auth/logout")

    revoked = client.get("/pipelines", headers=bearer(created["token"]))
    assert revoked.status_code == 401 and "revoked" in revoked.json()["detail"]
    assert client.get("/pipelines", headers=bearer("cdx_made-up")).status_code == 401


def test_each_role_against_the_policy(client: TestClient) -> None:
    login(client)
    tokens = {role: new_token(client, role, "a1" if role == "agent" else None)
              for role in ("viewer", "editor", "admin", "agent")}
    client.post("/auth/logout")

    def call(role: str, method: str, path: str, body: Any = None) -> Any:
        return client.request(method, path, json=body, headers=bearer(tokens[role]))

    # viewers read, editors change
    viewer_put = call("viewer", "PUT", "/pipelines/orders", {"yaml": GOOD})
    assert viewer_put.status_code == 403
    assert viewer_put.json()["detail"] == "PUT /pipelines/{name} needs role editor; you are viewer"
    assert call("editor", "PUT", "/pipelines/orders", {"yaml": GOOD}).status_code == 201
    assert call("viewer", "GET", "/pipelines/orders").json()["current_version"] == 1
    assert call("viewer", "POST", "/pipelines/orders/start").status_code == 403
    # checks that change nothing are for viewers too
    assert call("viewer", "POST", "/pipelines/orders/validate", {"yaml": GOOD}).json()["valid"] is True
    assert call("viewer", "POST", "/schedules/preview", {"cron": "*/5 * * * *"}).status_code == 200
    assert call("editor", "POST", "/pipelines/orders/stop").status_code in (200, 202)

    # only admins manage tokens and send raw commands
    for role in ("viewer", "editor", "agent"):
        assert call(role, "GET", "/auth/tokens").status_code == 403
        assert call(role, "POST", "/auth/tokens", {"name": "x", "role": "admin"}).status_code == 403
    assert call("admin", "GET", "/auth/tokens").status_code == 200

    # the agent protocol: agent tokens (and admins), nothing else
    register = {"id": "a1", "host": "h", "labels": {}, "capacity": 1, "mode": "rest"}
    assert call("editor", "POST", "/agents/register", register).json()["detail"] == \
        "POST /agents/register needs role agent or admin; you are editor"
    assert call("agent", "POST", "/agents/register", register).status_code == 200
    assert call("agent", "POST", "/agents/a1/heartbeat", {"mode": "rest"}).status_code == 200
    assert call("agent", "GET", "/agents/a1/commands").status_code == 200
    assert call("agent", "PUT", "/pipelines/orders", {"yaml": GOOD}).status_code == 403
    assert call("agent", "GET", "/pipelines").status_code == 403
    assert call("admin", "POST", "/agents/a1/heartbeat", {"mode": "rest"}).status_code == 200
    assert call("editor", "POST", "/agents/a1/commands", {"kind": "stop"}).status_code == 403
    assert call("agent", "GET", "/auth/me").json()["role"] == "agent"


def test_every_api_route_is_behind_the_policy(client: TestClient) -> None:
    """Routes added later are covered by the method default: none answers without a login unless public."""
    paths = client.get("/openapi.json").json()["paths"]  # the API's description is public (see the docs)
    operations = [(method.upper(), path) for path, item in paths.items() for method in item]
    assert len(operations) > 20
    public = set()
    for method, path in operations:
        if required(method, path).level == PUBLIC:
            public.add((method, path))
            continue
        concrete = re.sub(r"\{[^}]+\}", "1", path)
        response = client.request(method, concrete, json={})
        assert response.status_code == 401, (method, path, response.status_code)
    assert public == {("GET", "/health"), ("GET", "/ready"), ("GET", "/metrics"), ("GET", "/auth/config"),
                      ("GET", "/auth/login"), ("POST", "/auth/login"), ("GET", "/auth/callback"),
                      ("POST", "/auth/logout")}
    # Prometheus text: public (counts only, no names)
    metrics = client.get("/metrics")
    assert metrics.status_code == 200 and 'conduix_control_agents{status="online"}' in metrics.text
    assert required("GET", "/metrics").level == PUBLIC


# -- the CLI, straight on the database --

def test_cli_tokens_and_admin_password(db_url: str, tmp_path: Path) -> None:
    made = conduix("control", "tokens", "create", "agent-eu-1", "--role", "agent", "--db", db_url)
    assert made.returncode == 0, made.stderr
    token = made.stdout.strip()
    assert token.startswith("cdx_") and "shown once" in made.stderr
    listed = json.loads(conduix("control", "tokens", "list", "--json", "--db", db_url).stdout)
    assert [(t["name"], t["role"]) for t in listed] == [("agent-eu-1", "agent")]
    assert token not in json.dumps(listed)

    reset = conduix("control", "admin-password", "--password-stdin", "--db", db_url, stdin="reset-password\n")
    assert reset.returncode == 0, reset.stderr
    with TestClient(make_app(db_url, AuthSettings(state_dir=tmp_path))) as c:
        register = {"id": "agent-eu-1", "host": "h", "labels": {}, "capacity": 1, "mode": "rest"}
        assert c.post("/agents/register", json=register, headers=bearer(token)).status_code == 200
        assert login(c, "reset-password").status_code == 200
    assert conduix("control", "tokens", "revoke", str(listed[0]["id"]), "--db", db_url).returncode == 0
    with TestClient(make_app(db_url, AuthSettings(state_dir=tmp_path))) as c:
        assert c.post("/agents/register", json=register, headers=bearer(token)).status_code == 401
    assert conduix("control", "tokens", "revoke", "99", "--db", db_url).returncode == 2


def test_agent_and_cli_without_the_right_token_say_how_to_pass_one(stack: Any) -> None:
    cp = stack.control()
    url = ["--control-url", cp.url]
    env = {"CONDUIX_CONTROL_TOKEN": ""}
    anonymous = conduix("pipelines", "list", *url, env=env)
    assert anonymous.returncode == 2
    assert "--token" in anonymous.stderr and "CONDUIX_CONTROL_TOKEN" in anonymous.stderr
    viewer = conduix("start", "orders", *url, env={"CONDUIX_CONTROL_TOKEN": cp.token("viewer")})
    assert viewer.returncode == 2 and "needs role editor; you are viewer" in viewer.stderr, viewer.stderr
    assert conduix("pipelines", "list", *url, "--token", cp.token("viewer")).returncode == 0

    agent = conduix("agent", "start", *url, "--agent-id", "a1", "--token", cp.token("editor"), timeout=60)
    assert agent.returncode == 2
    assert "needs role agent or admin; you are editor" in agent.stderr and "--token" in agent.stderr


# -- OIDC --

def test_role_mapping_from_the_claim() -> None:
    assert claim_values({"roles": "editor"}, "roles") == ["editor"]
    assert claim_values({"groups": ["a", "b"]}, "groups") == ["a", "b"]
    assert claim_values({"realm_access": {"roles": ["admin"]}}, "realm_access.roles") == ["admin"]
    assert claim_values({"https://example.com/roles": ["x"]}, "https://example.com/roles") == ["x"]
    assert claim_values({"sub": "u"}, "roles") is None

    assert map_role(["viewer", "admin", "editor"], {}) == "admin"  # highest wins
    assert map_role(["staff"], {}) is None
    assert map_role(["staff"], {}, default="viewer") == "viewer"
    role_map = parse_role_map("ops=admin, devs=editor,all=viewer")
    assert map_role(["all", "devs"], role_map) == "editor"
    assert map_role(["admin"], role_map) is None  # with a map, only the map counts
    assert map_role(None, role_map) is None
    with pytest.raises(ConfigError, match="use one of viewer, editor, admin"):
        parse_role_map("ops=root")
    with pytest.raises(ConfigError, match="CLAIM_VALUE=ROLE"):
        parse_role_map("ops")

    assert safe_next("/#/pipelines/orders") == "/#/pipelines/orders"
    for evil in ("https://evil.example", "//evil.example", "/\\evil.example", None):
        assert safe_next(evil) == "/"


def test_oidc_settings_must_be_complete() -> None:
    with pytest.raises(ConfigError, match="CONDUIX_CONTROL_OIDC_CLIENT_SECRET"):
        AuthSettings.from_env({"CONDUIX_CONTROL_OIDC_DISCOVERY_URL": "https://id.example/.well-known/x",
                               "CONDUIX_CONTROL_OIDC_CLIENT_ID": "conduix"})
    settings = AuthSettings.from_env({"CONDUIX_CONTROL_OIDC_DISCOVERY_URL": "https://id.example/.well-known/x",
                                      "CONDUIX_CONTROL_OIDC_CLIENT_ID": "conduix",
                                      "CONDUIX_CONTROL_OIDC_CLIENT_SECRET": "s",
                                      "CONDUIX_CONTROL_OIDC_ROLE_MAP": "g=admin"})
    assert (settings.mode, settings.provider_name, settings.oidc_role_map) == ("oidc", "id.example", {"g": "admin"})


def test_oidc_sign_in_maps_the_role_claim(db_url: str, tmp_path: Path, provider: Provider) -> None:
    provider.users = {"ada": {"groups": ["staff", "conduix-devs"]}}
    provider.save()
    app = oidc_app(db_url, provider, tmp_path, CONDUIX_CONTROL_OIDC_ROLE_CLAIM="groups",
                   CONDUIX_CONTROL_OIDC_ROLE_MAP="conduix-devs=editor,conduix-ops=admin")
    with TestClient(app, base_url=PUBLIC_URL) as c:
        assert c.get("/auth/config").json() == {"mode": "oidc", "provider": "127.0.0.1"}
        assert login(c).status_code == 400  # no local sign-in with a provider
        done = oidc_login(c, provider, "ada")
        assert done.status_code == 302 and done.headers["location"] == "/#/pipelines"
        assert c.get("/auth/me").json() == {"user": "ada", "role": "editor", "via": "session"}
        assert c.put("/pipelines/orders", json={"yaml": GOOD}).status_code == 201
        assert c.get("/auth/tokens").status_code == 403

        provider.users["ada"]["groups"] = ["conduix-ops"]  # roles follow the provider at each sign-in
        provider.save()
        c.post("/auth/logout")
        assert oidc_login(c, provider, "ada", "https://evil.example").headers["location"] == "/"
        assert c.get("/auth/me").json()["role"] == "admin"
    db = Database(db_url).open()
    with db.session() as s:
        [user] = s.query(User).all()
        assert (user.username, user.source, user.role) == ("ada", "oidc", "admin")
    db.close()


def test_oidc_roles_from_userinfo_and_a_clear_refusal(db_url: str, tmp_path: Path) -> None:
    provider = Provider(tmp_path, conform=True)  # the spec's default: profile claims and roles only in userinfo
    try:
        provider.users = {"bob": {"roles": ["viewer"]}, "carol": {"roles": ["staff"]}}
        provider.save()
        with TestClient(oidc_app(db_url, provider, tmp_path), base_url=PUBLIC_URL) as c:
            assert oidc_login(c, provider, "bob").status_code == 302
            assert c.get("/auth/me").json() == {"user": "bob", "role": "viewer", "via": "session"}
            c.post("/auth/logout")

            refused = oidc_login(c, provider, "carol")
            assert refused.status_code == 403 and "text/html" in refused.headers["content-type"]
            assert "&#x27;roles&#x27; had [&#x27;staff&#x27;]" in refused.text
            assert "CONDUIX_CONTROL_OIDC_ROLE_MAP" in refused.text
            assert c.get("/auth/me").status_code == 401
    finally:
        provider.close()


def test_an_unreachable_provider_is_named(db_url: str, tmp_path: Path) -> None:
    from tests.control.conftest import free_port

    env = {"CONDUIX_CONTROL_OIDC_DISCOVERY_URL": f"http://127.0.0.1:{free_port()}/.well-known/openid-configuration",
           "CONDUIX_CONTROL_OIDC_CLIENT_ID": "conduix", "CONDUIX_CONTROL_OIDC_CLIENT_SECRET": "secret"}
    with TestClient(make_app(db_url, AuthSettings.from_env(env, state_dir=tmp_path))) as c:
        answer = c.get("/auth/login", follow_redirects=False)
        assert answer.status_code == 502
        assert "sign-in provider is unavailable" in answer.json()["detail"]
        assert env["CONDUIX_CONTROL_OIDC_DISCOVERY_URL"] in answer.json()["detail"]
