"""Authentication and authorization of the control plane.

Two modes: OIDC when a provider is configured (:class:`AuthSettings`), else a local ``admin`` account whose
password is set at first start. API tokens (``Authorization: Bearer cdx_...``) serve automation and agents.
One policy table (:mod:`conduix_control.auth.roles`) decides per route and method which role is needed;
:func:`install` wires it all into the app.
"""

from __future__ import annotations

from conduix_control.auth._install import Auth, install
from conduix_control.auth.identity import Identity, authorize
from conduix_control.auth.roles import AGENT, ROLES, USER_ROLES, allows, required
from conduix_control.auth.settings import AuthSettings

__all__ = ["AGENT", "ROLES", "USER_ROLES", "Auth", "AuthSettings", "Identity", "allows", "authorize", "install",
           "required"]
