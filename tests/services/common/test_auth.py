import hashlib

import pytest
from pydantic import SecretStr

from services.common.auth import AuthenticationError, AuthorizationError, KeyRing, Role, Scope


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


def named_ring() -> KeyRing:
    return KeyRing(
        [SecretStr("client-key")],
        [
            SecretStr("legacy-key"),
            SecretStr("lee:approver:lee-key"),
            SecretStr("console:delegate:console-key"),
        ],
    )


def test_a_named_key_carries_its_holder_and_role_and_a_plain_one_is_an_admin() -> None:
    lee = named_ring().authorize("Bearer lee-key", Scope.ADMIN)
    legacy = named_ring().authorize("Bearer legacy-key", Scope.ADMIN)
    assert (lee.identity, lee.role, lee.label) == ("lee", Role.APPROVER, "lee")
    assert legacy.role is Role.ADMIN
    assert legacy.identity == legacy.label
    assert legacy.label.startswith("admin:")


def test_a_delegate_acts_only_for_a_named_user_in_an_acting_role() -> None:
    ring = named_ring()
    console = {"authorization": "Bearer console-key"}
    with pytest.raises(AuthorizationError):
        ring.authorize("Bearer console-key", Scope.ADMIN)
    assert ring.authorize("Bearer console-key", Scope.CLIENT).role is Role.DELEGATE
    with pytest.raises(AuthorizationError):
        ring.authorize_request(console, Scope.ADMIN)
    for actor, role in (("ana", "delegate"), ("ana", "root"), ("Ana Smith", "analyst"), ("", "")):
        headers = {**console, "x-riskstream-actor": actor, "x-riskstream-actor-role": role}
        with pytest.raises(AuthorizationError):
            ring.authorize_request(headers, Scope.ADMIN)
    acting = ring.authorize_request(
        {**console, "x-riskstream-actor": "ana", "x-riskstream-actor-role": "analyst"},
        Scope.ADMIN,
        {Role.ANALYST},
    )
    assert (acting.identity, acting.role, acting.label) == ("ana", Role.ANALYST, "ana via console")
    with pytest.raises(AuthorizationError):
        ring.authorize_request({"authorization": "Bearer lee-key"}, Scope.ADMIN, {Role.ANALYST})
