"""Errors of the console; each becomes a page with its status code at the edge."""

from __future__ import annotations


class ConsoleError(Exception):
    """Base of every error the console raises on purpose."""


class NotSignedInError(ConsoleError):
    """No valid session: a page redirects to the sign-in, an action answers 401."""


class ForbiddenError(ConsoleError):
    """The signed-in user's role may not see this page or do this (403)."""


class CsrfError(ConsoleError):
    """A form without the session's CSRF token, or with another one (403)."""


class TooManyAttemptsError(ConsoleError):
    """Too many failed sign-ins for an account or an address (429)."""

    def __init__(self, retry_after_s: int) -> None:
        super().__init__("too many failed sign-ins")
        self.retry_after_s = retry_after_s


class NotFoundError(ConsoleError):
    """No such page, case or customer reference (404)."""


class UpstreamError(ConsoleError):
    """A service refused or failed a call: its status, error code and detail."""

    def __init__(self, status: int, code: str, detail: object) -> None:
        super().__init__(f"{status} {code}: {detail}")
        self.status = status
        self.code = code
        self.detail = detail


class StoreUnavailableError(ConsoleError):
    """Redis (sessions) did not answer: nobody is signed in meanwhile (503)."""
