"""API-key access with three scopes and, for administrators, a named identity and a role.

``client`` keys may score; ``admin`` keys may also administer; ``auditor`` keys may read the
decision log and nothing else. Keys are held only as SHA-256 digests and compared in
constant time. A configured key is the key itself or ``sha256:<hex digest of the key>``, so a
deployment can keep only digests in its environment.

An admin key may name its holder and role as ``<name>:<role>:<key>`` (roles: ``analyst``,
``approver``, ``admin``, ``delegate``); a key without them is an ``admin`` whose identity is
its label (``admin:<first 8 hex of the digest>``). Identities are what the four-eyes rule
compares: the proposer of a change cannot approve it. A ``delegate`` key (the console's)
acts only for a named user it has signed in: it sends ``X-Riskstream-Actor`` and
``X-Riskstream-Actor-Role``, and the call is then that user's, in that role.
"""

from __future__ import annotations

import hashlib
import hmac
import re
from collections.abc import Collection, Mapping
from dataclasses import dataclass
from enum import StrEnum
from typing import Final

from pydantic import SecretStr

from services.common.settings import ServiceSettings, split_key_entry

_DIGEST_PREFIX = "sha256:"
ACTOR_HEADER: Final = "x-riskstream-actor"
ACTOR_ROLE_HEADER: Final = "x-riskstream-actor-role"
USER_NAME: Final = re.compile(r"^[a-z][a-z0-9._-]{0,31}$")
"""A person's name as keys, accounts and the four-eyes rule spell it."""


class Scope(StrEnum):
    CLIENT = "client"
    ADMIN = "admin"
    AUDITOR = "auditor"


class Role(StrEnum):
    """What a named person may do (see :data:`CASE_REVIEWERS` and the sets below)."""

    ANALYST = "analyst"
    APPROVER = "approver"
    ADMIN = "admin"
    DELEGATE = "delegate"


ACTING_ROLES: Final = frozenset({Role.ANALYST, Role.APPROVER, Role.ADMIN})
"""Roles a delegate may act in."""
CASE_REVIEWERS: Final = frozenset({Role.ANALYST, Role.APPROVER})
"""Roles that read and decide review cases and see customers."""
PROPOSERS: Final = frozenset({Role.ANALYST, Role.APPROVER, Role.ADMIN})
"""Roles that may propose a rule or model change."""
APPROVERS: Final = frozenset({Role.APPROVER})
"""Roles that may put another person's proposed change in force."""
EMERGENCY_ROLLBACK: Final = frozenset({Role.ADMIN})
"""Roles that may roll a model back alone, audited as an emergency."""


@dataclass(frozen=True, slots=True)
class Principal:
    """Who called: the scope, a label safe to log and audit (never the key), the person's
    ``identity`` (what the four-eyes rule compares) and ``role`` (None for client keys)."""

    scope: Scope
    label: str
    role: Role | None = None
    identity: str = ""

    def may(self, required: Scope) -> bool:
        """Admin keys may do everything; other keys only what their own scope allows."""
        return self.scope is Scope.ADMIN or required is self.scope

    @property
    def who(self) -> str:
        """The identity, or the label for principals without one."""
        return self.identity or self.label


class AuthenticationError(Exception):
    """No key, or a key that is not configured."""


class AuthorizationError(Exception):
    """A valid key without the scope or role the operation needs."""


def _digest(key: str) -> bytes:
    return hashlib.sha256(key.encode()).digest()


def _configured_digest(key: str) -> bytes:
    if key.startswith(_DIGEST_PREFIX):
        return bytes.fromhex(key.removeprefix(_DIGEST_PREFIX))
    return _digest(key)


def _admin_principal(entry: SecretStr) -> tuple[bytes, Principal]:
    name, role, key = split_key_entry(entry.get_secret_value())
    digest = _configured_digest(key)
    if name is None or role is None:
        label = f"{Scope.ADMIN}:{digest.hex()[:8]}"
        return digest, Principal(Scope.ADMIN, label, Role.ADMIN, label)
    return digest, Principal(Scope.ADMIN, name, Role(role), name)


class KeyRing:
    """The configured keys of one service."""

    def __init__(
        self,
        client_keys: list[SecretStr],
        admin_keys: list[SecretStr],
        auditor_keys: list[SecretStr] | None = None,
    ) -> None:
        self._entries: list[tuple[bytes, Principal]] = [_admin_principal(k) for k in admin_keys]
        for scope, keys in ((Scope.CLIENT, client_keys), (Scope.AUDITOR, auditor_keys or [])):
            for key in keys:
                digest = _configured_digest(key.get_secret_value())
                self._entries.append((digest, Principal(scope, f"{scope}:{digest.hex()[:8]}")))

    @classmethod
    def from_settings(cls, settings: ServiceSettings) -> KeyRing:
        return cls(settings.client_api_keys, settings.admin_api_keys, settings.auditor_api_keys)

    def authenticate(self, authorization: str | None) -> Principal:
        """Resolves an ``Authorization: Bearer <key>`` header value to a principal.

        Every configured digest is compared (constant time each, no early exit), so the
        time taken does not reveal which key, if any, was close.
        """
        if not authorization or not authorization.startswith("Bearer "):
            raise AuthenticationError("missing bearer token")
        presented = _digest(authorization.removeprefix("Bearer ").strip())
        found: Principal | None = None
        for digest, principal in self._entries:
            if hmac.compare_digest(digest, presented) and found is None:
                found = principal
        if found is None:
            raise AuthenticationError("unknown key")
        return found

    def authorize(self, authorization: str | None, required: Scope) -> Principal:
        """The caller of a route that needs ``required`` and no particular role. A
        delegate key may read client routes as itself; it administers only for a named
        user (:meth:`authorize_request`)."""
        principal = self.authenticate(authorization)
        delegating = principal.role is Role.DELEGATE and required is Scope.ADMIN
        if not principal.may(required) or delegating:
            raise AuthorizationError(f"scope {required} required")
        return principal

    def authorize_request(
        self,
        headers: Mapping[str, str],
        required: Scope,
        roles: Collection[Role] | None = None,
    ) -> Principal:
        """The caller of a request (its headers): its key, or the user a delegate key
        acts for. Raises AuthorizationError when the scope, or one of ``roles`` if given,
        is missing, or a delegate names no valid user and role."""
        principal = self.authenticate(headers.get("authorization"))
        if principal.role is Role.DELEGATE:
            principal = _acting_for(principal, headers)
        if not principal.may(required):
            raise AuthorizationError(f"scope {required} required")
        if roles is not None and principal.role not in roles:
            raise AuthorizationError(f"one of the roles {sorted(roles)} required")
        return principal


def _acting_for(delegate: Principal, headers: Mapping[str, str]) -> Principal:
    actor = headers.get(ACTOR_HEADER, "")
    role = headers.get(ACTOR_ROLE_HEADER, "")
    if not USER_NAME.match(actor) or role not in {r.value for r in ACTING_ROLES}:
        raise AuthorizationError("a delegate key acts only for a named user in a role")
    return Principal(Scope.ADMIN, f"{actor} via {delegate.label}", Role(role), actor)
