"""Review cases through the warning service's HTTP API: listing, claiming, deciding once,
and who may do what. A console user reaches the API through the console's delegate key."""

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest

from services.warning.core import DEFAULT_RULES_PATH
from tests.services.warning.test_warning_api import ADMIN, Stack, _client
from tests.services.warning.warning_fakes import score


def as_user(name: str, role: str) -> dict[str, str]:
    return {
        "Authorization": "Bearer dev-console-key",
        "X-Riskstream-Actor": name,
        "X-Riskstream-Actor-Role": role,
    }


ANA = as_user("ana", "analyst")
BO = as_user("bo", "analyst")


@pytest.fixture
async def client(tmp_path: Path) -> AsyncIterator[tuple[httpx.AsyncClient, Stack]]:
    path = tmp_path / "rules.yaml"
    path.write_bytes(DEFAULT_RULES_PATH.read_bytes())
    stack = Stack(path)
    await stack.desk.judge([score("c-1", stack.clock.now(), "B", chargebacks_90d=2.0)])
    async with _client(stack, path) as http:
        yield http, stack


async def freeze_case(http: httpx.AsyncClient) -> str:
    cases = (await http.get("/v1/cases", headers=ANA)).json()["cases"]
    return str(next(c for c in cases if c["rule_id"] == "repeated_chargebacks")["case_id"])


async def test_the_queue_lists_open_cases_oldest_first_with_score_and_rule(
    client: tuple[httpx.AsyncClient, Stack],
) -> None:
    http, _ = client
    cases = (await http.get("/v1/cases", headers=ANA)).json()["cases"]
    assert {c["rule_id"] for c in cases} == {"chargeback", "repeated_chargebacks"}
    assert all(c["status"] == "open" and c["grade"] == "B" for c in cases)


async def test_two_reviewers_deciding_one_case_at_once_one_wins_the_other_gets_409(
    client: tuple[httpx.AsyncClient, Stack],
) -> None:
    http, stack = client
    case_id = await freeze_case(http)

    answers = await asyncio.gather(
        *(
            http.post(
                f"/v1/cases/{case_id}:decide",
                json={"decision": decision, "comment": "looked at it"},
                headers=ANA,
            )
            for decision in ("release", "confirm")
        )
    )

    assert sorted(a.status_code for a in answers) == [200, 409]
    loser = next(a for a in answers if a.status_code == 409)
    assert loser.json()["error"] == "case_conflict"
    assert "already decided by ana" in loser.json()["detail"]
    decided = [a for a in stack.kafka.actions if a.case_id == case_id and a.review_outcome]
    assert len(decided) == 1
    assert case_id not in [
        c["case_id"] for c in (await http.get("/v1/cases", headers=ANA)).json()["cases"]
    ]


async def test_a_case_claimed_by_one_analyst_is_refused_to_another(
    client: tuple[httpx.AsyncClient, Stack],
) -> None:
    http, _ = client
    case_id = await freeze_case(http)
    assert (await http.post(f"/v1/cases/{case_id}:claim", headers=ANA)).status_code == 200

    taken = await http.post(f"/v1/cases/{case_id}:claim", headers=BO)
    decided = await http.post(
        f"/v1/cases/{case_id}:decide", json={"decision": "release", "comment": "x"}, headers=BO
    )

    assert (taken.status_code, decided.status_code) == (409, 409)
    assert "claimed by ana" in taken.json()["detail"]


async def test_cases_need_a_reviewing_role_and_a_valid_decision(
    client: tuple[httpx.AsyncClient, Stack],
) -> None:
    http, _ = client
    case_id = await freeze_case(http)
    decide = f"/v1/cases/{case_id}:decide"

    assert (await http.get("/v1/cases", headers=ADMIN)).status_code == 403
    assert (await http.get("/v1/cases", headers=as_user("root", "admin"))).status_code == 403
    no_user = {"Authorization": "Bearer dev-console-key"}
    assert (await http.get("/v1/cases", headers=no_user)).status_code == 403
    forged_role = as_user("ana", "superuser")
    assert (await http.get("/v1/cases", headers=forged_role)).status_code == 403
    unknown = await http.get("/v1/cases/0123-abcd", headers=ANA)
    assert (unknown.status_code, unknown.json()["error"]) == (404, "unknown_case")
    for body in (
        {"decision": "release"},
        {"decision": "release", "comment": ""},
        {"decision": "release", "comment": "x" * 2001},
        {"decision": "delete", "comment": "x"},
        {"decision": "release", "comment": "x", "extra": 1},
    ):
        assert (await http.post(decide, json=body, headers=ANA)).status_code == 422


async def test_a_hostile_comment_is_kept_as_text(
    client: tuple[httpx.AsyncClient, Stack],
) -> None:
    http, stack = client
    case_id = await freeze_case(http)
    comment = "<script>alert(1)</script> & 'quotes'"
    response = await http.post(
        f"/v1/cases/{case_id}:decide",
        json={"decision": "confirm", "comment": comment},
        headers=ANA,
    )
    assert response.json()["case"]["comment"] == comment
    assert stack.kafka.audits[-1].reason == comment
