import asyncio
from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest

from services.common.changes import ChangeDesk
from services.common.http import readiness_from
from services.warning.api import create_app
from services.warning.core import DEFAULT_RULES_PATH
from services.warning.rulebook import LiveRules, Rulebook
from services.warning.settings import WarningSettings
from services.warning.usecase import WarningDesk
from services.warning.wiring import rules_applier
from tests.services.warning.warning_fakes import (
    BAD_RULES,
    SMALL_RULES,
    FakeKafka,
    FakeScores,
    FakeStore,
    RecordingObserver,
    score,
)
from tests.support.changes import FakeChangeStore
from tests.support.clock import SettableClock

DEFAULT_TEXT = DEFAULT_RULES_PATH.read_bytes()
CLIENT = {"Authorization": "Bearer dev-client-key"}
ADMIN = {"Authorization": "Bearer dev-admin-key"}
APPROVER = {"Authorization": "Bearer dev-approver-key"}


class Stack:
    def __init__(self, rules_path: Path) -> None:
        self.clock = SettableClock()
        self.store = FakeStore()
        self.kafka = FakeKafka()
        observer = RecordingObserver()
        initial = LiveRules.parse(rules_path.read_bytes(), f"file:{rules_path}", self.clock.now())
        self.rulebook = Rulebook(initial, self.kafka, self.clock, observer)
        self.desk = WarningDesk(
            self.rulebook,
            self.store,
            self.kafka,
            self.kafka,
            self.kafka,
            self.clock,
            observer,
            scores=FakeScores(),
        )
        self.changes = FakeChangeStore()


async def _ready() -> bool:
    return True


def _client(stack: Stack, rules_path: Path) -> httpx.AsyncClient:
    settings = WarningSettings(rules_path=rules_path)
    changes = ChangeDesk(
        "warning", stack.changes, stack.clock, {"rules": rules_applier(settings, stack.rulebook)}
    )
    app = create_app(
        settings,
        stack.desk,
        stack.rulebook,
        changes,
        readiness_from([("kafka_consumer", _ready)]),
    )
    return httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://warning")


@pytest.fixture
def rules_path(tmp_path: Path) -> Path:
    path = tmp_path / "rules.yaml"
    path.write_bytes(DEFAULT_RULES_PATH.read_bytes())
    return path


@pytest.fixture
def stack(rules_path: Path) -> Stack:
    return Stack(rules_path)


@pytest.fixture
async def client(stack: Stack, rules_path: Path) -> AsyncIterator[httpx.AsyncClient]:
    async with _client(stack, rules_path) as http:
        yield http


async def test_an_unseen_customer_answers_the_default_active_state(
    client: httpx.AsyncClient,
) -> None:
    response = await client.get("/v1/customers/never-seen/risk", headers=CLIENT)
    assert response.status_code == 200
    body = response.json()
    assert (body["status"], body["credit_limit"], body["active_actions"]) == ("active", None, [])


async def test_risk_state_needs_a_key(client: httpx.AsyncClient) -> None:
    response = await client.get("/v1/customers/c-1/risk")
    assert response.status_code == 401


async def test_risk_state_shows_actions_in_effect_with_reasons(
    client: httpx.AsyncClient, stack: Stack
) -> None:
    await stack.desk.judge([score("c-1", stack.clock.now(), "D")])
    body = (await client.get("/v1/customers/c-1/risk", headers=CLIENT)).json()
    assert body["status"] == "frozen"
    actions = {a["action"]: a for a in body["active_actions"]}
    assert actions["freeze_credit"]["severity"] == "red"
    assert actions["freeze_credit"]["reason"].startswith("Grade D")


async def test_an_override_with_the_admin_key_is_published_and_audited(
    client: httpx.AsyncClient, stack: Stack
) -> None:
    await stack.desk.judge([score("c-1", stack.clock.now(), "D")])
    response = await client.post(
        "/v1/customers/c-1/overrides",
        json={"action": "unfreeze_credit", "reason": "verified identity"},
        headers=ADMIN,
    )
    assert response.status_code == 201
    body = response.json()
    assert body["action"]["action"] == "unfreeze_credit"
    assert body["risk_state"]["status"] == "limited"
    assert stack.kafka.actions[-1].action_id == body["action"]["action_id"]
    (audit,) = stack.kafka.audits
    assert audit.actor.startswith("admin:")
    assert audit.reason == "verified identity"


async def test_an_override_with_a_client_key_is_forbidden(
    client: httpx.AsyncClient, stack: Stack
) -> None:
    response = await client.post(
        "/v1/customers/c-1/overrides",
        json={"action": "freeze_credit", "reason": "suspicious"},
        headers=CLIENT,
    )
    assert response.status_code == 403
    assert stack.kafka.actions == []


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"action": "freeze_credit", "reason": ""}, "reason"),
        ({"action": "freeze_credit", "reason": "x" * 501}, "reason"),
        ({"action": "freeze_credit"}, "reason"),
        ({"action": "explode", "reason": "no"}, "action"),
        ({"action": "cut_limit", "reason": "r", "credit_limit": -1}, "credit_limit"),
        ({"action": "cut_limit", "reason": "r", "credit_limit": 1e26}, "credit_limit"),
    ],
)
async def test_an_invalid_override_body_is_422_naming_the_field(
    client: httpx.AsyncClient, body: dict[str, object], field: str
) -> None:
    response = await client.post("/v1/customers/c-1/overrides", json=body, headers=ADMIN)
    assert response.status_code == 422
    assert response.json()["detail"][0]["field"] == field


async def test_an_override_that_does_not_fit_the_state_is_409(
    client: httpx.AsyncClient,
) -> None:
    response = await client.post(
        "/v1/customers/c-1/overrides",
        json={"action": "reinstate_account", "reason": "never suspended"},
        headers=ADMIN,
    )
    assert response.status_code == 409
    assert response.json()["error"] == "override_refused"


async def test_an_override_while_kafka_is_down_is_503_and_changes_nothing(
    client: httpx.AsyncClient, stack: Stack
) -> None:
    stack.kafka.available = False
    response = await client.post(
        "/v1/customers/c-1/overrides",
        json={"action": "freeze_credit", "reason": "fraud report"},
        headers=ADMIN,
    )
    assert response.status_code == 503
    assert response.headers["retry-after"] == "5"
    assert stack.store.states == {}


async def test_while_redis_is_rebuilt_risk_state_and_overrides_are_503_store_rebuilding(
    client: httpx.AsyncClient, stack: Stack
) -> None:
    stack.store.complete = False
    risk = await client.get("/v1/customers/c-1/risk", headers=CLIENT)
    override = await client.post(
        "/v1/customers/c-1/overrides",
        json={"action": "freeze_credit", "reason": "fraud report"},
        headers=ADMIN,
    )
    assert [risk.status_code, override.status_code] == [503, 503]
    assert {risk.json()["error"], override.json()["error"]} == {"store_rebuilding"}
    assert stack.kafka.actions == []


async def test_get_rules_answers_the_live_version_and_rules(client: httpx.AsyncClient) -> None:
    body = (await client.get("/v1/rules", headers=CLIENT)).json()
    assert body["version"] == "2026-12-01.1"
    low_grade = body["rules"][0]
    assert low_grade["id"] == "low_grade"
    assert low_grade["when"] == 'grade >= "C"'
    assert low_grade["actions"][0] == {"action": "cut_limit", "factor": 0.5, "to": None}
    assert body["text"] == DEFAULT_RULES_PATH.read_text()


async def approve(client: httpx.AsyncClient, proposal: httpx.Response) -> httpx.Response:
    assert proposal.status_code == 201, proposal.text
    return await client.post(
        f"/v1/changes/{proposal.json()['change_id']}:approve",
        json={"reason": "read it"},
        headers=APPROVER,
    )


async def test_put_rules_proposes_and_a_second_person_puts_them_in_force(
    client: httpx.AsyncClient, stack: Stack, rules_path: Path
) -> None:
    proposal = await client.put("/v1/rules", content=SMALL_RULES, headers=ADMIN)
    assert stack.rulebook.current().version == "2026-12-01.1"
    own = await client.post(
        f"/v1/changes/{proposal.json()['change_id']}:approve",
        json={"reason": "mine"},
        headers=ADMIN,
    )
    assert own.status_code == 403

    response = await approve(client, proposal)

    assert response.status_code == 200
    body = response.json()["result"]
    assert (body["version"], body["changed"], body["persisted"]) == ("small.1", True, True)
    assert await asyncio.to_thread(rules_path.read_bytes) == SMALL_RULES
    assert stack.rulebook.current().version == "small.1"
    reload = stack.kafka.audits[-1]
    assert reload.operation == "rules.reload"
    assert reload.actor == "approver"
    assert reload.details["proposed_by"].startswith("admin:")
    assert [a.operation for a in stack.changes.audits] == ["change.propose", "change.approve"]


async def test_a_proposal_made_against_rules_since_replaced_is_stale(
    client: httpx.AsyncClient, stack: Stack
) -> None:
    first = await client.put("/v1/rules", content=SMALL_RULES, headers=ADMIN)
    second = await client.post(
        "/v1/rules/proposals",
        json={"text": DEFAULT_TEXT.decode().replace("2026-12-01.1", "x.2"), "reason": "b"},
        headers=ADMIN,
    )
    await approve(client, first)

    stale = await approve(client, second)

    assert (stale.status_code, stale.json()["error"]) == (409, "stale_change")
    assert stack.rulebook.current().version == "small.1"


async def test_put_invalid_rules_is_422_with_the_line_and_the_old_rules_stay(
    client: httpx.AsyncClient, stack: Stack, rules_path: Path
) -> None:
    response = await client.put("/v1/rules", content=BAD_RULES, headers=ADMIN)
    assert response.status_code == 422
    body = response.json()
    assert body["error"] == "invalid_rules"
    (problem,) = body["detail"]
    assert problem["line"] == 6
    assert problem["field"] == "line 6"
    assert "expression" in problem["reason"]
    assert stack.rulebook.current().version == "2026-12-01.1"
    assert await asyncio.to_thread(rules_path.read_bytes) == DEFAULT_TEXT


async def test_put_rules_needs_the_admin_key(client: httpx.AsyncClient) -> None:
    response = await client.put("/v1/rules", content=SMALL_RULES, headers=CLIENT)
    assert response.status_code == 403


async def test_the_packaged_default_rule_file_is_never_written(stack: Stack) -> None:
    async with _client(stack, DEFAULT_RULES_PATH) as http:
        response = await approve(
            http, await http.put("/v1/rules", content=SMALL_RULES, headers=ADMIN)
        )
    assert response.json()["result"]["persisted"] is False
    assert DEFAULT_RULES_PATH.read_bytes() != SMALL_RULES
    assert stack.rulebook.current().version == "small.1"


async def test_a_limit_application_is_decided_and_an_appeal_needs_a_known_record(
    tmp_path: Path,
) -> None:
    rules_path = tmp_path / "rules.yaml"
    rules_path.write_bytes(SMALL_RULES)
    stack = Stack(rules_path)
    async with _client(stack, rules_path) as client:
        headers = {"Authorization": "Bearer dev-client-key"}
        approved = await client.post(
            "/v1/customers/c-1/limit-applications", json={"requested_limit": 9000}, headers=headers
        )
        appeal = await client.post(
            "/v1/customers/c-1/appeals",
            json={"decision_id": "f" * 32, "statement": "why"},
            headers=headers,
        )
    assert approved.status_code == 200
    assert (approved.json()["decision"], approved.json()["approved_limit"]) == ("approve", 5000)
    assert [a.limit_granted for a in stack.kafka.actions] == [5000]
    assert (appeal.status_code, appeal.json()["error"]) == (404, "unknown_decision")
