import hashlib

import pytest
from pydantic import SecretStr

from services.common.auth import AuthenticationError, AuthorizationError, KeyRing, Scope


def ring() -> KeyRing:
    digest = hashlib.sha256(b"hashed-admin").hexdigest()
    return KeyRing(
        [SecretStr("client-key")], [SecretStr("admin-key"), SecretStr(f"sha256:{digest}")]
    )


def test_a_client_key_may_score_but_not_administer() -> None:
    principal = ring().authorize("Bearer client-key", Scope.CLIENT)
    assert principal.scope is Scope.CLIENT
    with pytest.raises(AuthorizationError):
        ring().authorize("Bearer client-key", Scope.ADMIN)


def test_an_admin_key_may_do_both() -> None:
    assert ring().authorize("Bearer admin-key", Scope.CLIENT).scope is Scope.ADMIN
    assert ring().authorize("Bearer admin-key", Scope.ADMIN).scope is Scope.ADMIN


def test_a_key_configured_only_as_its_digest_is_accepted() -> None:
    assert ring().authorize("Bearer hashed-admin", Scope.ADMIN).scope is Scope.ADMIN


@pytest.mark.parametrize(
    "header", [None, "", "Bearer", "Basic abc", "Bearer wrong", "bearer client-key"]
)
def test_missing_or_unknown_keys_are_refused(header: str | None) -> None:
    with pytest.raises(AuthenticationError):
        ring().authenticate(header)


def test_the_label_never_contains_the_key() -> None:
    principal = ring().authenticate("Bearer admin-key")
    assert "admin-key" not in principal.label
    assert principal.label.startswith("admin:")
