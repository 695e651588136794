"""Roles and the one policy table deciding which role each API route needs."""

from __future__ import annotations

from dataclasses import dataclass

__all__ = ["AGENT", "AUTHENTICATED", "POLICY", "PUBLIC", "ROLES", "USER_ROLES", "Requirement", "allows",
           "highest", "required"]

USER_ROLES = ("viewer", "editor", "admin")  #: people, from least to most allowed
AGENT = "agent"  #: agents' tokens: the agent protocol only
ROLES = (*USER_ROLES, AGENT)

PUBLIC = "public"
AUTHENTICATED = "authenticated"


@dataclass(frozen=True)
class Requirement:
    """What a route needs: nothing (public), any signed-in identity, a minimum role, or one of some roles."""

    level: str  # public | authenticated | viewer | editor | admin
    agents: bool = False  # the agent protocol: agent tokens are allowed too (besides admin)

    def describe(self) -> str:
        return "agent or admin" if self.agents else self.level


_PUBLIC = Requirement(PUBLIC)
_ANY = Requirement(AUTHENTICATED)
_VIEWER = Requirement("viewer")
_EDITOR = Requirement("editor")
_ADMIN = Requirement("admin")
_AGENT_PROTOCOL = Requirement("admin", agents=True)

#: (method, route path) -> requirement; a route not listed needs viewer to read (GET/HEAD) and editor otherwise.
POLICY: dict[tuple[str, str], Requirement] = {
    ("GET", "/health"): _PUBLIC,
    ("GET", "/ready"): _PUBLIC,  # the readiness probe: ready or not, and the failing part's kind
    ("GET", "/metrics"): _PUBLIC,  # Prometheus scrapes without a token: counts only, no pipeline or agent names
    ("GET", "/"): _PUBLIC,  # the web UI's page: it asks /auth/me and shows the login itself
    ("GET", "/favicon.svg"): _PUBLIC,
    ("GET", "/auth/config"): _PUBLIC,
    ("GET", "/auth/login"): _PUBLIC,
    ("POST", "/auth/login"): _PUBLIC,
    ("GET", "/auth/callback"): _PUBLIC,
    ("POST", "/auth/logout"): _PUBLIC,
    ("GET", "/auth/me"): _ANY,
    ("POST", "/auth/password"): _ANY,  # a local user changing their own password
    ("POST", "/agents/{agent_id}/commands"): _ADMIN,
    ("GET", "/audit"): _ADMIN,  # who changed what  # raw commands bypass the desired state
    # checks that change nothing: viewers see the validation errors and the next fire times too
    ("POST", "/pipelines/{name}/validate"): _VIEWER,
    ("POST", "/schedules/preview"): _VIEWER,
    # the agent protocol
    ("POST", "/agents/register"): _AGENT_PROTOCOL,
    ("POST", "/agents/{agent_id}/heartbeat"): _AGENT_PROTOCOL,
    ("GET", "/agents/{agent_id}/commands"): _AGENT_PROTOCOL,
    ("GET", "/agents/{agent_id}/assignments"): _AGENT_PROTOCOL,
    ("POST", "/commands/{command_id}/ack"): _AGENT_PROTOCOL,
    ("POST", "/runs/{run_id}/report"): _AGENT_PROTOCOL,
    ("POST", "/runs/{run_id}/children"): _AGENT_PROTOCOL,  # a worker's trigger stage asks for child runs
}
#: path prefixes whose every route needs a role (API tokens are the keys to everything: admin only)
PREFIXES: dict[str, Requirement] = {"/auth/tokens": _ADMIN}


def required(method: str, path: str) -> Requirement:
    """The requirement of the route with path template ``path`` (``/pipelines/{name}``) for ``method``."""
    method = "GET" if method == "HEAD" else method.upper()
    if (method, path) in POLICY:
        return POLICY[(method, path)]
    for prefix, requirement in PREFIXES.items():
        if path == prefix or path.startswith(prefix + "/"):
            return requirement
    return _VIEWER if method == "GET" else _EDITOR


def allows(requirement: Requirement, role: str) -> bool:
    """Whether ``role`` meets ``requirement`` (admin meets every one; agent only the agent protocol)."""
    if requirement.level in (PUBLIC, AUTHENTICATED):
        return True
    if role == AGENT:
        return requirement.agents
    if role not in USER_ROLES:
        return False
    return USER_ROLES.index(role) >= USER_ROLES.index(requirement.level)


def highest(roles: set[str]) -> str | None:
    """The most allowed of some user roles, or None."""
    ranked = [r for r in USER_ROLES if r in roles]
    return ranked[-1] if ranked else None
