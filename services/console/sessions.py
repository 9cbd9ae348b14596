"""Accounts, sign-in and sessions.

Passwords are verified against argon2id hashes (argon2-cffi). A session is a random id in
Redis (``<prefix>:console:session:<id>``: user, role, CSRF token; it expires after
``session_ttl_s``); the browser holds the id signed with itsdangerous in an HttpOnly,
SameSite=Strict cookie. Signing out deletes the session, so a copied cookie stops working
at once. Failed sign-ins are counted per account name and per client address in Redis and
refused with 429 past ``login_attempts`` in ``login_window_s``.

Customers are reached by opaque references (``<prefix>:console:ref:<session>:<token>``),
so a customer id never appears in a URL that access logs keep.
"""

from __future__ import annotations

import hmac
import secrets
from dataclasses import dataclass

import orjson
from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from itsdangerous import BadSignature, URLSafeTimedSerializer
from redis.asyncio import Redis
from redis.exceptions import RedisError

from services.common.auth import USER_NAME, Role
from services.console.errors import (
    CsrfError,
    NotFoundError,
    NotSignedInError,
    StoreUnavailableError,
    TooManyAttemptsError,
)
from services.console.settings import ConsoleSettings

SESSION_COOKIE = "rs_session"
LOGIN_COOKIE = "rs_login"
CONSOLE_ROLES = frozenset({Role.ANALYST, Role.APPROVER, Role.ADMIN})


@dataclass(frozen=True, slots=True)
class Account:
    name: str
    role: Role
    password_hash: str


@dataclass(frozen=True, slots=True)
class Session:
    """A signed-in user."""

    session_id: str
    user: str
    role: Role
    csrf: str

    def check_csrf(self, presented: str | None) -> None:
        """CsrfError unless ``presented`` is this session's token (constant time)."""
        if not presented or not hmac.compare_digest(presented.encode(), self.csrf.encode()):
            raise CsrfError("the form's CSRF token is missing or wrong")


def parse_accounts(settings: ConsoleSettings) -> dict[str, Account]:
    """The configured accounts by name; ValueError for a malformed entry."""
    accounts: dict[str, Account] = {}
    for entry in settings.console_accounts:
        name, _, rest = entry.get_secret_value().partition(":")
        role, _, password_hash = rest.partition(":")
        if not USER_NAME.match(name) or role not in CONSOLE_ROLES or not password_hash:
            raise ValueError(f"console account {name!r}: expected <name>:<role>:<argon2 hash>")
        accounts[name] = Account(name, Role(role), password_hash)
    return accounts


class Sessions:
    def __init__(self, settings: ConsoleSettings, redis: Redis) -> None:
        self._settings = settings
        self._redis = redis
        self._accounts = parse_accounts(settings)
        self._hasher = PasswordHasher()
        self._signer = URLSafeTimedSerializer(
            settings.session_secret.get_secret_value(), salt="riskstream-console-session"
        )
        prefix = f"{settings.redis_key_prefix}:console"
        self._session_key = f"{prefix}:session:"
        self._attempts_key = f"{prefix}:login:"
        self._ref_key = f"{prefix}:ref:"
        # Verifying an unknown name against a real hash costs what a known one costs.
        self._decoy = self._hasher.hash(secrets.token_urlsafe(16))

    @property
    def accounts(self) -> list[Account]:
        return sorted(self._accounts.values(), key=lambda account: account.name)

    async def _attempts(self, keys: list[str]) -> list[int]:
        try:
            values = await self._redis.mget(keys)
        except (RedisError, OSError) as error:
            raise StoreUnavailableError(str(error)) from error
        return [int(value or 0) for value in values]

    async def sign_in(self, name: str, password: str, address: str) -> Session:
        """A new session for ``name``; NotSignedInError for a wrong name or password,
        TooManyAttemptsError once the account or the address has failed too often."""
        name = name.strip().lower()[:64]
        keys = [f"{self._attempts_key}user:{name}", f"{self._attempts_key}addr:{address}"]
        per_user, per_address = await self._attempts(keys)
        limit = self._settings.login_attempts
        if per_user >= limit or per_address >= 10 * limit:
            raise TooManyAttemptsError(self._settings.login_window_s)
        account = self._accounts.get(name)
        try:
            self._hasher.verify(account.password_hash if account else self._decoy, password)
            if account is None:
                raise VerificationError("unknown account")
        except (VerificationError, InvalidHashError) as error:
            try:
                async with self._redis.pipeline(transaction=True) as pipe:
                    for key in keys:
                        pipe.incr(key)
                        pipe.expire(key, self._settings.login_window_s)
                    await pipe.execute()
            except (RedisError, OSError) as store_error:
                raise StoreUnavailableError(str(store_error)) from store_error
            raise NotSignedInError("wrong name or password") from error
        session = Session(
            secrets.token_urlsafe(24), account.name, account.role, secrets.token_urlsafe(24)
        )
        record = orjson.dumps({"user": session.user, "role": session.role, "csrf": session.csrf})
        try:
            async with self._redis.pipeline(transaction=True) as pipe:
                pipe.set(
                    self._session_key + session.session_id, record, ex=self._settings.session_ttl_s
                )
                pipe.delete(keys[0])
                await pipe.execute()
        except (RedisError, OSError) as error:
            raise StoreUnavailableError(str(error)) from error
        return session

    def cookie_value(self, session: Session) -> str:
        return self._signer.dumps(session.session_id)

    async def resume(self, cookie: str | None) -> Session:
        """The session a cookie names; NotSignedInError when it is missing, forged,
        expired or signed out."""
        if not cookie:
            raise NotSignedInError("no session")
        try:
            session_id = self._signer.loads(cookie, max_age=self._settings.session_ttl_s)
        except BadSignature as error:
            raise NotSignedInError("invalid session cookie") from error
        try:
            stored = await self._redis.get(self._session_key + str(session_id))
        except (RedisError, OSError) as error:
            raise StoreUnavailableError(str(error)) from error
        if stored is None:
            raise NotSignedInError("session ended")
        record = orjson.loads(stored)
        account = self._accounts.get(record["user"])
        if account is None or account.role != record["role"]:
            raise NotSignedInError("the account changed since signing in")
        return Session(str(session_id), account.name, account.role, str(record["csrf"]))

    async def sign_out(self, session: Session) -> None:
        try:
            await self._redis.delete(self._session_key + session.session_id)
        except (RedisError, OSError) as error:
            raise StoreUnavailableError(str(error)) from error

    async def reference(self, session: Session, customer_id: str) -> str:
        """An opaque token for ``customer_id`` valid in this session only."""
        token = secrets.token_urlsafe(12)
        try:
            await self._redis.set(
                f"{self._ref_key}{session.session_id}:{token}",
                customer_id.encode(),
                ex=self._settings.session_ttl_s,
            )
        except (RedisError, OSError) as error:
            raise StoreUnavailableError(str(error)) from error
        return token

    async def customer_of(self, session: Session, token: str) -> str:
        """The customer a reference of this session names; NotFoundError otherwise."""
        try:
            stored = await self._redis.get(f"{self._ref_key}{session.session_id}:{token[:64]}")
        except (RedisError, OSError) as error:
            raise StoreUnavailableError(str(error)) from error
        if stored is None:
            raise NotFoundError("no such customer reference in this session")
        return stored.decode() if isinstance(stored, bytes) else str(stored)

    async def active_sessions(self) -> int:
        """How many sessions exist now (for the admin page)."""
        count = 0
        try:
            async for _ in self._redis.scan_iter(match=self._session_key + "*", count=500):
                count += 1
        except (RedisError, OSError) as error:
            raise StoreUnavailableError(str(error)) from error
        return count
