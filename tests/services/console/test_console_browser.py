"""The console in a real browser (Debian's chromium through Playwright) on a real platform:
signing in, a simulated customer reaching manual review and an analyst releasing it while
the order system's consumer applies the reversal, a rule change under four eyes, and every
role refused where it does not belong. Each page is kept as a screenshot under
``.run/test-artifacts/console/``."""

from __future__ import annotations

import re
import sqlite3
import subprocess
import sys
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
from playwright.sync_api import Browser, Page, expect, sync_playwright

from deploy.harness import BackingServices
from deploy.platform.paths import REPO_ROOT
from deploy.platform.system_packages import CHROMIUM_FLAGS, chromium
from tests.services.console.console_platform import (
    PASSWORD,
    ConsolePlatform,
    as_user,
    console_platform,
)
from tests.support.polling import wait_until

pytestmark = pytest.mark.integration
SCREENSHOTS = REPO_ROOT / ".run" / "test-artifacts" / "console"
NOW = datetime.now(UTC)


@pytest.fixture(scope="module")
def platform_up(
    platform_processes: BackingServices, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[ConsolePlatform]:
    platform_processes.start()
    stack = console_platform(platform_processes, tmp_path_factory.mktemp("console"))
    try:
        stack.start()
        yield stack
    finally:
        stack.stop()


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    """Debian's chromium; Playwright starts it with a fresh profile directory of its own
    (``--user-data-dir`` in a new temporary directory) and removes it afterwards."""
    with sync_playwright() as playwright:
        launched = playwright.chromium.launch(
            executable_path=chromium(), args=list(CHROMIUM_FLAGS), headless=True
        )
        try:
            yield launched
        finally:
            launched.close()


def shot(page: Page, name: str) -> Path:
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    path = SCREENSHOTS / f"{name}.png"
    page.screenshot(path=str(path), full_page=True)
    return path


def sign_in(browser: Browser, stack: ConsolePlatform, name: str) -> Page:
    page = browser.new_context(base_url=stack.console).new_page()
    page.goto("/login")
    page.fill("input[name=name]", name)
    page.fill("input[name=password]", PASSWORD)
    page.click("button[type=submit]")
    expect(page.locator("form.who")).to_contain_text(name)
    return page


def post_form(page: Page, path: str, fields: dict[str, str]) -> Any:
    """A form post from the page's session, with its CSRF token (or the given one)."""
    csrf = page.locator("form.who input[name=csrf]").input_value()
    return page.request.post(path, form={"csrf": csrf, **fields}, max_redirects=0)


def test_sign_in_and_each_role_is_refused_where_it_does_not_belong(
    platform_up: ConsolePlatform, browser: Browser
) -> None:
    page = browser.new_context(base_url=platform_up.console).new_page()
    page.goto("/queue")
    expect(page).to_have_url(f"{platform_up.console}/login")
    page.fill("input[name=name]", "analyst")
    page.fill("input[name=password]", "wrong")
    page.click("button[type=submit]")
    expect(page.locator(".problem")).to_contain_text("Wrong name or password")
    shot(page, "login")

    admin = sign_in(browser, platform_up, "admin")
    expect(admin).to_have_url(f"{platform_up.console}/models")
    for path in ("/queue", "/customers", "/portfolio"):
        response = admin.goto(path)
        assert response is not None
        assert response.status == 403, path
        expect(admin.locator("h1")).to_have_text("Not for your role")
    shot(admin, "forbidden")
    admin.goto("/accounts")
    expect(admin.locator("h1")).to_have_text("Accounts")
    shot(admin, "accounts")

    analyst = sign_in(browser, platform_up, "analyst")
    forbidden = analyst.goto("/accounts")
    assert forbidden is not None
    assert forbidden.status == 403
    approve = post_form(analyst, "/changes/warning/0a1b/approve", {"reason": "x"})
    assert approve.status == 403
    emergency = post_form(analyst, "/models/rollback", {"reason": "x", "emergency": "yes"})
    assert emergency.status == 403

    approver = sign_in(browser, platform_up, "approver")
    for path in ("/accounts",):
        response = approver.goto(path)
        assert response is not None
        assert response.status == 403
    approver.goto("/models")
    expect(approver.locator("h1")).to_have_text("Models")
    shot(approver, "models")
    approver.goto(f"/portfolio?start={(NOW - timedelta(days=7)).date()}&end={NOW.date()}")
    expect(approver.locator("h1")).to_have_text("Portfolio")
    shot(approver, "portfolio")

    approver.click("form.who button")
    expect(approver).to_have_url(f"{platform_up.console}/login")
    after = approver.goto("/models")
    assert after is not None
    expect(approver).to_have_url(f"{platform_up.console}/login")


def chargeback_customer(customer_id: str) -> list[dict[str, object]]:
    """Fifteen orders on credit, then two chargebacks: rule ``repeated_chargebacks`` freezes
    credit and sends the customer to manual review; the orders keep the grade above D, so no
    other rule freezes credit too."""
    events: list[dict[str, object]] = []
    for number in range(15):
        events.append(
            {
                "event_id": f"{customer_id}-o{number}",
                "event_type": "order",
                "customer_id": customer_id,
                "occurred_at": (NOW - timedelta(days=40 - number)).isoformat(),
                "order_id": f"{customer_id}-order-{number}",
                "amount": 120.0,
                "currency": "CNY",
                "payment_method": "bnpl",
                "status": "placed",
                "item_count": 1,
                "channel": "app",
            }
        )
    for number in range(2):
        events.append(
            {
                "event_id": f"{customer_id}-c{number}",
                "event_type": "payment",
                "customer_id": customer_id,
                "occurred_at": (NOW - timedelta(days=2 - number)).isoformat(),
                "order_id": f"{customer_id}-order-{number}",
                "payment_id": f"{customer_id}-pay-{number}",
                "amount": 120.0,
                "currency": "CNY",
                "kind": "chargeback",
                "status": "succeeded",
            }
        )
    return events


def open_case_of(stack: ConsolePlatform, customer_id: str, rule_id: str) -> dict[str, Any] | None:
    response = httpx.get(
        f"{stack.url('warning')}/v1/cases", headers=as_user("analyst", "analyst"), timeout=10
    )
    for case in response.json()["cases"]:
        if case["customer_id"] == customer_id and case["rule_id"] == rule_id:
            return dict(case)
    return None


def account(db: Path, customer_id: str) -> dict[str, Any] | None:
    if not db.exists():
        return None
    with sqlite3.connect(db) as connection:
        try:
            cursor = connection.execute(
                "SELECT * FROM accounts WHERE customer_id = ?", (customer_id,)
            )
        except sqlite3.OperationalError:  # the consumer has not created its tables yet
            return None
        row = cursor.fetchone()
        if row is None:
            return None
        return {c[0]: v for c, v in zip(cursor.description, row, strict=True)}


def test_an_analyst_releases_a_customer_in_manual_review_and_the_order_system_sees_it(
    platform_up: ConsolePlatform, browser: Browser, tmp_path: Path
) -> None:
    customer_id = f"cb-{uuid.uuid4().hex[:8]}"
    orders_db = tmp_path / "orders.sqlite"
    order_system = subprocess.Popen(
        [sys.executable, "-m", "examples.order_system_consumer", "--db", str(orders_db)],
        cwd=REPO_ROOT,
        env=platform_up.env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:
        platform_up.send(chargeback_customer(customer_id))
        wait_until(
            lambda: open_case_of(platform_up, customer_id, "repeated_chargebacks") is not None,
            90,
            "the customer's review case",
        )
        wait_until(
            lambda: (account(orders_db, customer_id) or {}).get("credit_frozen") == 1,
            60,
            "the order system applying the freeze",
        )
        case = open_case_of(platform_up, customer_id, "repeated_chargebacks")
        assert case is not None
        case_path = f"/cases/{case['case_id']}"

        analyst = sign_in(browser, platform_up, "analyst")
        row = analyst.locator("#queue tr", has_text=customer_id).filter(
            has_text="repeated_chargebacks"
        )
        expect(row).to_be_visible()
        shot(analyst, "queue")
        row.locator("a.button").click()
        expect(analyst.locator("h1")).to_contain_text("Review case")
        expect(analyst.locator("body")).to_contain_text(
            "Lifted (unfreeze_credit) once chargebacks_90d is 0"
        )
        expect(analyst.locator("body")).to_contain_text("chargeback")
        shot(analyst, "case")

        # A second analyst has the same case open in another browser.
        other = sign_in(browser, platform_up, "analyst2")
        other.goto(case_path)

        analyst.click("text=Claim this case")
        expect(analyst.locator("dl.facts").first).to_contain_text("held by analyst")
        hostile = "<script>alert('x')</script> verified by phone & documents"
        analyst.check("input[value=release]")
        analyst.fill("textarea[name=comment]", hostile)
        analyst.click("form.decide button[type=submit]")
        expect(analyst.locator(".decided")).to_contain_text("release")
        expect(analyst.locator("blockquote.comment")).to_have_text(hostile)
        assert "<script>alert" not in analyst.content()
        shot(analyst, "case-decided")

        other.check("input[value=confirm]")
        other.fill("textarea[name=comment]", "I say confirm")
        with other.expect_response(lambda r: r.url.endswith("/decide")) as answer:
            other.click("form.decide button[type=submit]")
        assert answer.value.status == 409
        expect(other.locator(".problem")).to_contain_text("already decided by analyst")
        shot(other, "case-conflict")

        wait_until(
            lambda: (account(orders_db, customer_id) or {}).get("credit_frozen") == 0,
            60,
            "the order system applying the release",
        )
        analyst.goto(f"/portfolio?start={(NOW - timedelta(days=7)).date()}&end={NOW.date()}")
        expect(analyst.locator(".report")).to_contain_text("customers scored")
        shot(analyst, "portfolio")
    finally:
        order_system.terminate()
        output, _ = order_system.communicate(timeout=15)
    assert f"applied unfreeze_credit (review released) to {customer_id}" in output


RULE_EDIT = ("cooldown_hours: 24", "cooldown_hours: 12")


def test_a_rule_change_proposed_by_one_approver_is_put_in_force_only_by_another(
    platform_up: ConsolePlatform, browser: Browser
) -> None:
    proposer = sign_in(browser, platform_up, "approver")
    proposer.goto("/rules")
    live_version = proposer.locator("h2", has_text="In force").inner_text()
    text = proposer.locator("textarea[name=text]").input_value()

    proposer.fill("textarea[name=text]", text.replace("rules:", "rules:\n  - id: Bad Id", 1))
    proposer.fill("input[name=reason]", "check first")
    proposer.click("button[formaction='/rules/validate']")
    expect(proposer.locator("ul.problem")).to_contain_text("line")
    shot(proposer, "rules-invalid")

    edited = text.replace('version: "2026-12-01.1"', 'version: "console-test.2"').replace(
        *RULE_EDIT
    )
    proposer.fill("textarea[name=text]", edited)
    proposer.fill("input[name=reason]", "sudden drops: review again after 12 hours")
    proposer.click("form.propose button.primary")
    change = proposer.locator("article.change", has_text="console-test.2")
    expect(change).to_contain_text("Proposed by approver")
    expect(change.locator("tr.added", has_text="cooldown_hours")).to_contain_text(
        "cooldown_hours: 12"
    )
    expect(change.locator("tr.removed", has_text="cooldown_hours")).to_contain_text(
        "cooldown_hours: 24"
    )

    change.locator("text=Backtest over recent events").click()
    backtest = proposer.locator(".backtest")
    expect(backtest).to_contain_text("Backtest:")
    shot(proposer, "rules-proposal-backtest")

    change = proposer.locator("article.change", has_text="console-test.2")
    change.locator("input[name=reason]").first.fill("looks right to me")
    with proposer.expect_response(lambda r: r.url.endswith("/approve")) as refused:
        change.locator("text=Approve and put in force").click()
    assert refused.value.status == 403
    expect(proposer.locator(".problem")).to_contain_text("cannot approve it")
    expect(proposer.locator("h2", has_text="In force")).to_have_text(live_version)

    approver = sign_in(browser, platform_up, "approver2")
    approver.goto("/rules")
    change = approver.locator("article.change", has_text="console-test.2")
    change.locator("input[name=reason]").first.fill("second pair of eyes")
    change.locator("text=Approve and put in force").click()
    expect(approver.locator("h2", has_text="In force")).to_contain_text("console-test.2")
    applied = approver.locator("article.change", has_text="console-test.2")
    expect(applied).to_contain_text("Applied by approver2")
    expect(applied).to_contain_text("Proposed by approver")
    shot(approver, "rules")

    changes = httpx.get(
        f"{platform_up.url('warning')}/v1/changes",
        headers=as_user("approver2", "approver"),
        timeout=10,
    ).json()["changes"]
    done = next(c for c in changes if c["target"] == "console-test.2")
    assert (done["proposed_by"], done["decided_by"], done["status"]) == (
        "approver",
        "approver2",
        "applied",
    )


class Client:
    """A console user over plain HTTP (no browser): for forms sent the way no page sends
    them."""

    def __init__(self, stack: ConsolePlatform) -> None:
        self.http = httpx.Client(base_url=stack.console, timeout=30, follow_redirects=False)

    def csrf_of(self, path: str) -> str:
        found = re.search(r'name="csrf" value="([^"]+)"', self.http.get(path).text)
        assert found is not None, path
        return found[1]

    def sign_in(self, name: str, password: str = PASSWORD) -> httpx.Response:
        token = self.csrf_of("/login")
        return self.http.post("/login", data={"csrf": token, "name": name, "password": password})


def test_hostile_and_malformed_forms_get_a_clear_4xx_and_nothing_unescaped(
    platform_up: ConsolePlatform,
) -> None:
    customer_id = f"cb-{uuid.uuid4().hex[:8]}"
    platform_up.send(chargeback_customer(customer_id)[:16])
    wait_until(
        lambda: open_case_of(platform_up, customer_id, "chargeback") is not None,
        90,
        "a review case",
    )
    case = open_case_of(platform_up, customer_id, "chargeback")
    assert case is not None
    decide = f"/cases/{case['case_id']}/decide"

    ana, ben = Client(platform_up), Client(platform_up)
    assert ana.sign_in("analyst").status_code == 303
    assert ben.sign_in("analyst2").status_code == 303
    csrf = ana.csrf_of("/queue")

    forged = ana.http.post(decide, data={"csrf": "forged", "decision": "release", "comment": "x"})
    missing = ana.http.post(decide, data={"decision": "release", "comment": "x"})
    other_session = ana.http.post(
        decide, data={"csrf": ben.csrf_of("/queue"), "decision": "release", "comment": "x"}
    )
    assert [r.status_code for r in (forged, missing, other_session)] == [403, 403, 403]
    too_long = ana.http.post(
        decide, data={"csrf": csrf, "decision": "release", "comment": "x" * 2001}
    )
    no_comment = ana.http.post(decide, data={"csrf": csrf, "decision": "release", "comment": " "})
    bad_choice = ana.http.post(decide, data={"csrf": csrf, "decision": "delete", "comment": "x"})
    assert [r.status_code for r in (too_long, no_comment, bad_choice)] == [422, 422, 422]
    assert "longer than 2000" in too_long.text
    unknown = ana.http.get("/cases/0123abcd")
    malformed = ana.http.get("/cases/..%2F..%2Fetc")
    assert (unknown.status_code, malformed.status_code) == (404, 404)

    claimed = ana.http.post(f"/cases/{case['case_id']}/claim", data={"csrf": csrf})
    assert claimed.status_code == 303
    taken = ben.http.post(
        decide,
        data={"csrf": ben.csrf_of("/queue"), "decision": "release", "comment": "mine now"},
    )
    assert taken.status_code == 409
    assert "claimed by analyst" in taken.text

    hostile = '<img src=x onerror="alert(1)">'
    lookup = ana.http.post("/customers/open", data={"csrf": csrf, "customer_id": hostile})
    assert lookup.status_code == 303
    assert hostile not in lookup.headers["location"]
    shown = ana.http.get(lookup.headers["location"])
    assert shown.status_code == 200
    assert hostile not in shown.text
    assert "&lt;img src=x onerror=" in shown.text
    too_long_id = ana.http.post("/customers/open", data={"csrf": csrf, "customer_id": "c" * 65})
    assert too_long_id.status_code == 422
    foreign_reference = ben.http.get(lookup.headers["location"])
    assert foreign_reference.status_code == 404
    huge = ana.http.post("/rules/validate", data={"csrf": csrf, "text": "x" * 600_000})
    assert huge.status_code == 413

    no_token = httpx.post(
        f"{platform_up.console}/login", data={"name": "analyst", "password": PASSWORD}
    )
    assert no_token.status_code == 403
    intruder = Client(platform_up)
    failures = [intruder.sign_in("approver2", "guess").status_code for _ in range(3)]
    assert failures == [401, 401, 401]
    locked = intruder.sign_in("approver2", PASSWORD)
    assert locked.status_code == 429
    assert locked.headers["retry-after"]

    tampered = Client(platform_up)
    tampered.http.cookies.set("rs_session", ana.http.cookies["rs_session"] + "x")
    assert tampered.http.get("/queue").headers["location"] == "/login"
    stolen = Client(platform_up)
    stolen.http.cookies.set("rs_session", ana.http.cookies["rs_session"])
    assert stolen.http.get("/queue").status_code == 200
    assert ana.http.post("/logout", data={"csrf": csrf}).status_code == 303
    assert stolen.http.get("/queue").headers["location"] == "/login"
