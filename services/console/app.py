"""The console's pages and forms (FastAPI and Jinja2, rendered on the server).

Every page needs a signed-in user whose role may see it (``services.console.access``); a
page a role may not see answers a 403 page. Every form carries the session's CSRF token
and is refused with 403 without it. Reads and changes go through the services' APIs as the
signed-in user (``services.console.upstream``) or through the topics
(``services.console.records``); the console keeps nothing of its own but sessions.

Status codes of pages: 303 after a form that worked (back to a page), 401 (sign-in page)
without a session for a form, 403 for a role or a CSRF token, 404 for an unknown case or
customer reference, 409 for a case already decided or held by someone else, 422 for a form
with a bad field (the page again with the error), 429 for too many sign-ins, 503 when a
service or Kafka does not answer.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from datetime import UTC, date, datetime, time, timedelta
from pathlib import Path
from typing import Any

from fastapi import FastAPI, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from fastapi.staticfiles import StaticFiles
from fastapi.templating import Jinja2Templates
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from services.common.http import NO_OPENTELEMETRY, Lifecycle, ReadinessCheck, install_common
from services.console.access import ALLOWED, Permission, home, may
from services.console.core import decision_words, origin_label
from services.console.errors import (
    ConsoleError,
    CsrfError,
    ForbiddenError,
    NotFoundError,
    NotSignedInError,
    StoreUnavailableError,
    TooManyAttemptsError,
    UpstreamError,
)
from services.console.pages import Pages
from services.console.sessions import LOGIN_COOKIE, SESSION_COOKIE, Session, Sessions
from services.console.settings import ConsoleSettings

HERE = Path(__file__).resolve().parent
MAX_FIELD = 4096
"""Longest form field but a rule file (comments are bounded lower by the services)."""
MAX_RULES_FIELD = 256 * 1024
CASE_ID = re.compile(r"^[0-9a-f-]{1,64}$")
CHANGE_ID = re.compile(r"^[0-9a-f]{1,64}$")
_TOKEN = re.compile(r"^[A-Za-z0-9_-]{1,64}$")
SECURITY_HEADERS = [
    (
        b"content-security-policy",
        b"default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
        b"connect-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'",
    ),
    (b"x-frame-options", b"DENY"),
    (b"x-content-type-options", b"nosniff"),
    (b"referrer-policy", b"no-referrer"),
    (b"cache-control", b"no-store"),
]


class SecurityHeaders:
    """Adds a strict content security policy (nothing loaded from elsewhere, no inline
    script), no framing, no sniffing, no referrer and no caching to every response."""

    def __init__(self, app: ASGIApp) -> None:
        self._app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self._app(scope, receive, send)
            return

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                message["headers"] = [*message.get("headers", []), *SECURITY_HEADERS]
            await send(message)

        await self._app(scope, receive, send_with_headers)


def _field(form: Mapping[str, Any], name: str, limit: int = MAX_FIELD) -> str:
    value = form.get(name)
    text = value if isinstance(value, str) else ""
    if len(text) > limit:
        raise FormError(name, f"{name} is longer than {limit} characters")
    return text


def waited(now: datetime, since: datetime) -> str:
    """How long since ``since``, in words a queue shows ("3 h 12 min")."""
    minutes = max(int((now - since).total_seconds() // 60), 0)
    if minutes < 60:
        return f"{minutes} min"
    hours, minutes = divmod(minutes, 60)
    if hours < 48:
        return f"{hours} h {minutes} min"
    return f"{hours // 24} days"


class FormError(ConsoleError):
    """A form field that is missing or wrong (the page again, 422)."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(message)
        self.field = field


def create_app(
    settings: ConsoleSettings,
    sessions: Sessions,
    pages: Pages,
    readiness: ReadinessCheck,
    lifecycle: Lifecycle,
) -> FastAPI:
    app = FastAPI(
        telemetry=NO_OPENTELEMETRY,
        title="riskstream console",
        version="1",
        lifespan=lifecycle.lifespan,
        docs_url=None,
        redoc_url=None,
        openapi_url=None,
    )
    install_common(app, readiness, settings.max_body_bytes)
    templates = Jinja2Templates(directory=str(HERE / "templates"))
    templates.env.globals["may"] = may
    templates.env.globals["Permission"] = Permission
    templates.env.globals["ago"] = waited
    templates.env.globals["origin_label"] = origin_label
    templates.env.globals["decision_words"] = decision_words
    app.mount("/static", StaticFiles(directory=str(HERE / "static")), name="static")

    def render(
        request: Request,
        template: str,
        session: Session | None,
        status_code: int = 200,
        **context: Any,
    ) -> HTMLResponse:
        return templates.TemplateResponse(
            request, template, {"session": session, **context}, status_code=status_code
        )

    def error_page(request: Request, status: int, title: str, detail: str) -> HTMLResponse:
        session = request.state.session if hasattr(request.state, "session") else None
        return render(request, "error.html", session, status, title=title, detail=detail)

    @app.exception_handler(NotSignedInError)
    async def on_not_signed_in(request: Request, _: NotSignedInError) -> Response:
        if request.method == "GET":
            return RedirectResponse("/login", status_code=303)
        return error_page(request, 401, "Not signed in", "Sign in again to do that.")

    def page_for(status: int, title: str) -> Any:
        async def handler(request: Request, exc: Exception) -> Response:
            return error_page(request, status, title, str(exc))

        return handler

    for error_type, status, title in (
        (ForbiddenError, 403, "Not for your role"),
        (CsrfError, 403, "Form refused"),
        (FormError, 422, "Form refused"),
        (NotFoundError, 404, "Not found"),
    ):
        app.add_exception_handler(error_type, page_for(status, title))

    @app.exception_handler(StoreUnavailableError)
    async def on_store_down(request: Request, _: StoreUnavailableError) -> Response:
        return error_page(request, 503, "Unavailable", "Sessions cannot be read; try again.")

    @app.exception_handler(TooManyAttemptsError)
    async def on_too_many(request: Request, exc: TooManyAttemptsError) -> Response:
        response = render(
            request,
            "login.html",
            None,
            429,
            error=f"Too many failed sign-ins. Try again in {exc.retry_after_s // 60 or 1} minutes.",
            token=request.cookies.get(LOGIN_COOKIE, ""),
        )
        response.headers["Retry-After"] = str(exc.retry_after_s)
        return response

    @app.exception_handler(UpstreamError)
    async def on_upstream(request: Request, exc: UpstreamError) -> Response:
        status = exc.status if exc.status in (403, 404, 409, 422, 503) else 502
        detail = exc.detail if isinstance(exc.detail, str) else str(exc.detail)
        return error_page(request, status, exc.code.replace("_", " "), detail)

    @app.exception_handler(StarletteHTTPException)
    async def on_http_error(request: Request, exc: StarletteHTTPException) -> Response:
        return error_page(request, exc.status_code, "Not available", str(exc.detail))

    def check(session: Session, permission: Permission | None) -> None:
        if permission is not None and not may(session.role, permission):
            allowed = " or ".join(sorted(ALLOWED[permission]))
            raise ForbiddenError(f"This needs the role {allowed}; you are {session.role}.")

    async def signed_in(request: Request, permission: Permission | None = None) -> Session:
        session = await sessions.resume(request.cookies.get(SESSION_COOKIE))
        request.state.session = session
        check(session, permission)
        return session

    async def form_of(request: Request, permission: Permission | None) -> tuple[Session, Any]:
        """The session and form of a POST, CSRF token checked before anything else."""
        session = await signed_in(request)
        form = await request.form()
        session.check_csrf(_field(form, "csrf"))
        check(session, permission)
        return session, form

    def back(path: str) -> RedirectResponse:
        return RedirectResponse(path, status_code=303)

    # ------------------------------------------------------------------ sign-in

    @app.get("/login", response_class=HTMLResponse)
    async def login_page(request: Request) -> Response:
        token = pages.new_token()
        response = render(request, "login.html", None, token=token)
        response.set_cookie(
            LOGIN_COOKIE,
            token,
            httponly=True,
            samesite="strict",
            secure=settings.cookie_secure,
            max_age=900,
        )
        return response

    @app.post("/login", response_class=HTMLResponse)
    async def login(request: Request) -> Response:
        form = await request.form()
        expected = request.cookies.get(LOGIN_COOKIE, "")
        presented = _field(form, "csrf")
        if not expected or not pages.same_token(expected, presented):
            raise CsrfError("the sign-in form expired or was not sent by this console")
        name, password = _field(form, "name", 64), _field(form, "password", 256)
        address = request.client.host if request.client else "unknown"
        try:
            session = await sessions.sign_in(name, password, address)
        except NotSignedInError:
            return render(
                request, "login.html", None, 401, error="Wrong name or password.", token=expected
            )
        response = back(home(session.role))
        response.set_cookie(
            SESSION_COOKIE,
            sessions.cookie_value(session),
            httponly=True,
            samesite="strict",
            secure=settings.cookie_secure,
            max_age=settings.session_ttl_s,
        )
        response.delete_cookie(LOGIN_COOKIE)
        return response

    @app.post("/logout")
    async def logout(request: Request) -> Response:
        session, _ = await form_of(request, None)
        await sessions.sign_out(session)
        response = back("/login")
        response.delete_cookie(SESSION_COOKIE)
        return response

    @app.get("/")
    async def index(request: Request) -> Response:
        session = await signed_in(request)
        return back(home(session.role))

    # ------------------------------------------------------------------ review

    @app.get("/queue", response_class=HTMLResponse)
    async def queue(request: Request) -> Response:
        session = await signed_in(request, Permission.REVIEW)
        cases = await pages.queue(session)
        return render(request, "queue.html", session, cases=cases, now=datetime.now(UTC))

    @app.get("/queue/rows", response_class=HTMLResponse)
    async def queue_rows(request: Request) -> Response:
        """The queue's rows alone, for the page's live refresh."""
        session = await signed_in(request, Permission.REVIEW)
        cases = await pages.queue(session)
        return render(request, "queue_rows.html", session, cases=cases, now=datetime.now(UTC))

    def case_id_of(text: str) -> str:
        if not CASE_ID.match(text):
            raise NotFoundError("no such case")
        return text

    async def case_page(
        request: Request, session: Session, case_id: str, status: int = 200, **extra: Any
    ) -> HTMLResponse:
        case = await pages.case(session, case_id)
        customer = await pages.customer(session, case["customer_id"])
        return render(
            request,
            "case.html",
            session,
            status,
            case=case,
            customer=customer,
            now=datetime.now(UTC),
            **extra,
        )

    @app.get("/cases/{case_id}", response_class=HTMLResponse)
    async def show_case(request: Request, case_id: str) -> Response:
        session = await signed_in(request, Permission.REVIEW)
        return await case_page(request, session, case_id_of(case_id))

    @app.post("/cases/{case_id}/claim")
    async def claim(request: Request, case_id: str) -> Response:
        session, _ = await form_of(request, Permission.REVIEW)
        case_id = case_id_of(case_id)
        try:
            await pages.warning.call(session, "POST", f"/v1/cases/{case_id}:claim")
        except UpstreamError as error:
            if error.status != 409:
                raise
            return await case_page(request, session, case_id, 409, problem=str(error.detail))
        return back(f"/cases/{case_id}")

    @app.post("/cases/{case_id}/decide")
    async def decide(request: Request, case_id: str) -> Response:
        session, form = await form_of(request, Permission.REVIEW)
        case_id = case_id_of(case_id)
        decision = _field(form, "decision")
        try:
            comment = _field(form, "comment", 2000)
        except FormError as error:
            return await case_page(request, session, case_id, 422, problem=str(error))
        if decision not in ("confirm", "release", "escalate"):
            return await case_page(
                request, session, case_id, 422, problem="Choose confirm, release or escalate."
            )
        if not comment.strip():
            return await case_page(
                request, session, case_id, 422, problem="A decision needs a comment."
            )
        try:
            await pages.warning.call(
                session,
                "POST",
                f"/v1/cases/{case_id}:decide",
                {"decision": decision, "comment": comment},
            )
        except UpstreamError as error:
            if error.status not in (403, 409, 422):
                raise
            return await case_page(
                request, session, case_id, error.status, problem=str(error.detail)
            )
        return back(f"/cases/{case_id}")

    @app.get("/customers", response_class=HTMLResponse)
    async def customer_search(request: Request) -> Response:
        session = await signed_in(request, Permission.REVIEW)
        return render(request, "customer_search.html", session)

    @app.post("/customers/open")
    async def open_customer(request: Request) -> Response:
        session, form = await form_of(request, Permission.REVIEW)
        customer_id = _field(form, "customer_id", 64).strip()
        if not customer_id:
            return render(
                request, "customer_search.html", session, 422, error="Give a customer id."
            )
        return back(f"/customers/{await sessions.reference(session, customer_id)}")

    @app.get("/customers/{reference}", response_class=HTMLResponse)
    async def customer_page(request: Request, reference: str) -> Response:
        session = await signed_in(request, Permission.REVIEW)
        if not _TOKEN.match(reference):
            raise NotFoundError("no such customer reference")
        customer_id = await sessions.customer_of(session, reference)
        customer = await pages.customer(session, customer_id)
        return render(request, "customer.html", session, customer=customer)

    # ------------------------------------------------------------------ rules

    async def rules_page(
        request: Request, session: Session, status: int = 200, **extra: Any
    ) -> HTMLResponse:
        view = await pages.rules(session)
        return render(request, "rules.html", session, status, rules=view, **extra)

    @app.get("/rules", response_class=HTMLResponse)
    async def rules(request: Request) -> Response:
        session = await signed_in(request, Permission.RULES)
        return await rules_page(request, session)

    @app.post("/rules/propose", response_class=HTMLResponse)
    async def propose_rules(request: Request) -> Response:
        session, form = await form_of(request, Permission.PROPOSE)
        try:
            text = _field(form, "text", MAX_RULES_FIELD)
            reason = _field(form, "reason", 500).strip()
        except FormError as error:
            return await rules_page(request, session, 422, problem=str(error))
        problems = pages.validate_rules(text)
        if problems or not reason:
            return await rules_page(
                request,
                session,
                422,
                draft=text,
                draft_reason=reason,
                draft_problems=problems or [(None, "Say why you propose the change.")],
            )
        await pages.warning.call(
            session, "POST", "/v1/rules/proposals", {"text": text, "reason": reason}
        )
        return back("/rules")

    @app.post("/rules/validate", response_class=HTMLResponse)
    async def validate_rules(request: Request) -> Response:
        session, form = await form_of(request, Permission.RULES)
        try:
            text = _field(form, "text", MAX_RULES_FIELD)
        except FormError as error:
            return await rules_page(request, session, 422, problem=str(error))
        problems = pages.validate_rules(text)
        return await rules_page(
            request,
            session,
            422 if problems else 200,
            draft=text,
            draft_reason=_field(form, "reason", 500),
            draft_problems=problems,
            draft_valid=not problems,
        )

    @app.post("/rules/changes/{change_id}/backtest", response_class=HTMLResponse)
    async def backtest(request: Request, change_id: str) -> Response:
        session, _ = await form_of(request, Permission.RULES)
        if not CHANGE_ID.match(change_id):
            raise NotFoundError("no such change")
        result = await pages.backtest(session, change_id)
        return await rules_page(request, session, backtest=result)

    @app.post("/changes/{service}/{change_id}/{verdict}")
    async def decide_change(
        request: Request, service: str, change_id: str, verdict: str
    ) -> Response:
        needed = Permission.APPROVE if verdict == "approve" else Permission.PROPOSE
        session, form = await form_of(request, needed)
        upstream = pages.upstream_of(service)
        if (
            upstream is None
            or not CHANGE_ID.match(change_id)
            or verdict not in ("approve", "reject")
        ):
            raise NotFoundError("no such change")
        reason = _field(form, "reason", 500).strip() or f"{verdict}d in the console"
        page = "/rules" if service == "warning" else "/models"
        try:
            await upstream.call(
                session, "POST", f"/v1/changes/{change_id}:{verdict}", {"reason": reason}
            )
        except UpstreamError as error:
            if error.status not in (403, 409):
                raise
            render_page = rules_page if service == "warning" else models_page
            return await render_page(request, session, error.status, problem=str(error.detail))
        return back(page)

    # ------------------------------------------------------------------ models

    async def models_page(
        request: Request, session: Session, status: int = 200, **extra: Any
    ) -> HTMLResponse:
        view = await pages.models(session)
        return render(request, "models.html", session, status, models=view, **extra)

    @app.get("/models", response_class=HTMLResponse)
    async def models(request: Request) -> Response:
        session = await signed_in(request, Permission.MODELS)
        return await models_page(request, session)

    @app.post("/models/activate")
    async def propose_activation(request: Request) -> Response:
        session, form = await form_of(request, Permission.PROPOSE)
        version = _field(form, "version", 64)
        reason = _field(form, "reason", 500).strip()
        if not re.match(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$", version) or not reason:
            return await models_page(request, session, 422, problem="Choose a version and say why.")
        await pages.scorer.call(
            session, "POST", f"/v1/models/{version}:activate", {"reason": reason}
        )
        return back("/models")

    @app.post("/models/rollback")
    async def rollback(request: Request) -> Response:
        session, form = await form_of(request, Permission.PROPOSE)
        reason = _field(form, "reason", 500).strip()
        emergency = _field(form, "emergency") == "yes"
        if emergency and not may(session.role, Permission.EMERGENCY_ROLLBACK):
            raise ForbiddenError("An emergency rollback needs the admin role.")
        if not reason:
            return await models_page(request, session, 422, problem="Say why you roll back.")
        await pages.scorer.call(
            session, "POST", "/v1/models:rollback", {"reason": reason, "emergency": emergency}
        )
        return back("/models")

    # ------------------------------------------------------------------ portfolio, accounts

    @app.get("/portfolio", response_class=HTMLResponse)
    async def portfolio(request: Request) -> Response:
        session = await signed_in(request, Permission.PORTFOLIO)
        today = datetime.now(UTC).date()
        try:
            start = date.fromisoformat(request.query_params.get("start", "")[:10])
            end = date.fromisoformat(request.query_params.get("end", "")[:10])
        except ValueError:
            start, end = today - timedelta(days=90), today
        if end < start or (end - start).days > 400:
            return render(
                request,
                "portfolio.html",
                session,
                422,
                start=start,
                end=end,
                error="The period must end after it starts and span at most 400 days.",
            )
        body = await pages.portfolio(
            datetime.combine(start, time(), UTC),
            datetime.combine(end + timedelta(days=1), time(), UTC),
        )
        return render(request, "portfolio.html", session, start=start, end=end, report=body)

    @app.get("/accounts", response_class=HTMLResponse)
    async def accounts(request: Request) -> Response:
        session = await signed_in(request, Permission.ACCOUNTS)
        active = await sessions.active_sessions()
        return render(
            request,
            "accounts.html",
            session,
            accounts=sessions.accounts,
            active=active,
            allowed=ALLOWED,
        )

    app.add_middleware(SecurityHeaders)
    return app
