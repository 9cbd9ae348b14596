"""API-key access with three scopes: ``client`` keys may score, ``admin`` keys may also
administer, ``auditor`` keys may read the decision log and nothing else. Keys are held only
as SHA-256 digests and compared in constant time.

A configured key is either the key itself or ``sha256:<hex digest of the key>``, so a
deployment can keep only digests in its environment.
"""

from __future__ import annotations

import hashlib
import hmac
from dataclasses import dataclass
from enum import StrEnum

from pydantic import SecretStr

from services.common.settings import ServiceSettings

_DIGEST_PREFIX = "sha256:"


class Scope(StrEnum):
    CLIENT = "client"
    ADMIN = "admin"
    AUDITOR = "auditor"


@dataclass(frozen=True, slots=True)
class Principal:
    """Who called: the scope and a label safe to log and audit (never the key)."""

    scope: Scope
    label: str

    def may(self, required: Scope) -> bool:
        """Admin keys may do everything; other keys only what their own scope allows."""
        return self.scope is Scope.ADMIN or required is self.scope


class AuthenticationError(Exception):
    """No key, or a key that is not configured."""


class AuthorizationError(Exception):
    """A valid key without the scope the operation needs."""


def _digest(key: str) -> bytes:
    return hashlib.sha256(key.encode()).digest()


def _configured_digest(key: SecretStr) -> bytes:
    text = key.get_secret_value()
    if text.startswith(_DIGEST_PREFIX):
        return bytes.fromhex(text.removeprefix(_DIGEST_PREFIX))
    return _digest(text)


class KeyRing:
    """The configured keys of one service."""

    def __init__(
        self,
        client_keys: list[SecretStr],
        admin_keys: list[SecretStr],
        auditor_keys: list[SecretStr] | None = None,
    ) -> None:
        self._entries: list[tuple[bytes, Principal]] = []
        for scope, keys in (
            (Scope.ADMIN, admin_keys),
            (Scope.CLIENT, client_keys),
            (Scope.AUDITOR, auditor_keys or []),
        ):
            for key in keys:
                digest = _configured_digest(key)
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
        principal = self.authenticate(authorization)
        if not principal.may(required):
            raise AuthorizationError(f"scope {required} required")
        return principal
