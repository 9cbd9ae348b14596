"""The score service's HTTP API in process: contract, access, validation and the admin
registry operations, with a fake store and a fake Kafka that loops control records back."""

from __future__ import annotations

from collections.abc import AsyncIterator, Sequence
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
import orjson
import pytest
from pydantic import SecretStr

from schemas.actions import ActiveAction, CustomerRiskState
from schemas.decisions import CustomerExplanation, DecisionRecord
from schemas.features import FEATURE_SCHEMA
from schemas.records import AuditRecord, ModelControl
from schemas.scores import ScoreResponse
from services.common.changes import ChangeDesk
from services.common.clock import SystemClock
from services.common.http import Lifecycle
from services.scorer.admin import ModelAdmin
from services.scorer.api import create_app
from services.scorer.control import ControlFollower
from services.scorer.core import FallbackPolicy, ThinFileDefault
from services.scorer.decision_log import decision_json
from services.scorer.explanations import Explainer
from services.scorer.holder import ModelHolder
from services.scorer.ports import Decided
from services.scorer.registry import ModelRegistry
from services.scorer.settings import ScorerSettings
from services.scorer.usecase import Budgets, Scorer
from services.scorer.wiring import model_appliers
from tests.services.scorer.scorer_bundles import build_bundle, customer_state
from tests.services.scorer.test_scorer_usecase import FakeStore, RecordingObserver, StoredCustomer
from tests.support.changes import FakeChangeStore

CLIENT = {"Authorization": "Bearer dev-client-key"}
ADMIN = {"Authorization": "Bearer dev-admin-key"}
APPROVER = {"Authorization": "Bearer dev-approver-key"}
AUDITOR_KEY = "auditor-key"
AUDITOR = {"Authorization": f"Bearer {AUDITOR_KEY}"}


class LoopbackPublisher:
    """Stands in for Kafka: control records are applied at once, as a follower would."""

    def __init__(self) -> None:
        self.follower: ControlFollower | None = None
        self.controls: list[ModelControl] = []
        self.audits: list[AuditRecord] = []

    async def publish_control(self, record: ModelControl) -> None:
        self.controls.append(record)
        assert self.follower is not None
        await self.follower.apply(record)

    async def publish_audit(self, record: AuditRecord) -> None:
        self.audits.append(record)


class DecisionCopy:
    """Stands in for the decision log and its Redis copy: each decision is kept at once."""

    def __init__(self) -> None:
        self.records: dict[str, bytes] = {}
        self.decided: list[Decided] = []

    def record(self, decisions: Sequence[Decided]) -> None:
        for decided in decisions:
            self.decided.append(decided)
            self.records[decided.answer["decision_id"]] = decision_json(decided)

    async def get(self, decision_id: str) -> bytes | None:
        return self.records.get(decision_id)

    async def for_customer(self, customer_id: str, limit: int) -> list[bytes]:
        mine = [r for r in self.records.values() if orjson.loads(r)["customer_id"] == customer_id]
        return mine[::-1][:limit]


class Service:
    def __init__(self, tmp_path: Path) -> None:
        self.settings = ScorerSettings(
            env="test",
            model_registry_dir=tmp_path / "registry",
            auditor_api_keys=[SecretStr(AUDITOR_KEY)],
        )
        self.store = FakeStore()
        self.holder = ModelHolder()
        self.publisher = LoopbackPublisher()
        self.registry = ModelRegistry(self.settings.model_registry_dir, FEATURE_SCHEMA)
        self.publisher.follower = ControlFollower(
            self.settings, self.holder, self.registry, FEATURE_SCHEMA
        )
        self.load_failures: list[str] = []
        self.decisions = DecisionCopy()
        scorer = Scorer(
            self.store,
            self.holder,
            SystemClock(),
            RecordingObserver(),
            Budgets(0.05, 0.05, 64, timedelta(days=90)),
            FallbackPolicy("review", "approve", "C", "yellow", 560, 0.1, 0.0),
            ThinFileDefault(0.08, "C", 0.0),
            decisions=self.decisions,
        )
        admin = ModelAdmin(
            self.registry,
            self.publisher,
            self.holder,
            SystemClock(),
            swap_wait_s=1.0,
            on_load_failure=self.load_failures.append,
        )

        async def redis_ready() -> bool:
            return True

        self.changes = FakeChangeStore()
        desk = ChangeDesk("scorer", self.changes, SystemClock(), model_appliers(admin))
        self.app = create_app(
            self.settings,
            scorer,
            admin,
            desk,
            self.holder,
            redis_ready,
            Lifecycle(),
            explainer=Explainer(scorer),
            decisions=self.decisions,
            audit=self.publisher,
            clock=SystemClock(),
        )


@pytest.fixture
def service(tmp_path: Path) -> Service:
    return Service(tmp_path)


@pytest.fixture
async def http(service: Service) -> AsyncIterator[httpx.AsyncClient]:
    transport = httpx.ASGITransport(app=service.app)
    async with httpx.AsyncClient(transport=transport, base_url="http://scorer") as client:
        yield client


async def publish(http: httpx.AsyncClient, path: Path) -> httpx.Response:
    return await http.post(
        "/v1/models", json={"path": str(path), "reason": "new model"}, headers=ADMIN
    )


async def approved(http: httpx.AsyncClient, proposal: httpx.Response) -> httpx.Response:
    """Approves a proposal with the second administrator's key (four eyes)."""
    assert proposal.status_code == 202, proposal.text
    change_id = proposal.json()["change_id"]
    return await http.post(
        f"/v1/changes/{change_id}:approve", json={"reason": "checked"}, headers=APPROVER
    )


async def activate(http: httpx.AsyncClient, version: str, reason: str) -> httpx.Response:
    proposal = await http.post(
        f"/v1/models/{version}:activate", json={"reason": reason}, headers=ADMIN
    )
    return await approved(http, proposal)


async def test_score_answers_the_contract_with_the_model_version_header(
    service: Service, http: httpx.AsyncClient, tmp_path: Path
) -> None:
    assert (await publish(http, build_bundle(tmp_path / "b1", "v1"))).status_code == 201
    activated = await activate(http, "v1", "go")
    assert activated.json()["result"]["applied_locally"] is True
    now = datetime.now(UTC)
    service.store.records["c1"] = StoredCustomer(
        customer_state("c1", now, failed_payments=1).to_bytes(), None
    )

    response = await http.post(
        "/v1/score",
        json={
            "customer_id": "c1",
            "order": {"amount": 120.5, "currency": "CNY", "payment_method": "bnpl"},
        },
        headers=CLIENT,
    )

    assert response.status_code == 200
    answer = ScoreResponse.model_validate(response.json())
    assert (answer.model_version, answer.fallback) == ("v1", False)
    assert response.headers["x-model-version"] == "v1"


async def test_without_a_model_the_answer_is_a_fallback_and_not_ready(
    http: httpx.AsyncClient,
) -> None:
    response = await http.post("/v1/score", json={"customer_id": "c1"}, headers=CLIENT)
    ready = await http.get("/ready")

    assert response.status_code == 200
    assert response.json()["fallback_reason"] == "model_unavailable"
    assert response.headers["x-model-version"] == "none"
    assert ready.status_code == 503
    assert ready.json()["checks"] == {"redis": True, "model": False}


async def test_access_needs_a_key_and_admin_needs_the_admin_scope(
    http: httpx.AsyncClient,
) -> None:
    anonymous = await http.post("/v1/score", json={"customer_id": "c1"})
    wrong = await http.post(
        "/v1/score", json={"customer_id": "c1"}, headers={"Authorization": "Bearer nope"}
    )
    client_on_admin = await http.get("/v1/models", headers=CLIENT)
    admin_scoring = await http.post("/v1/score", json={"customer_id": "c1"}, headers=ADMIN)

    assert (anonymous.status_code, wrong.status_code) == (401, 401)
    assert anonymous.json() == wrong.json()  # nothing tells a missing key from a wrong one
    assert client_on_admin.status_code == 403
    assert client_on_admin.json() == {"error": "forbidden", "detail": "this key may not do that"}
    assert admin_scoring.status_code == 200


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"customer_id": ""}, "customer_id"),
        (
            {
                "customer_id": "c",
                "order": {"amount": -1, "currency": "CNY", "payment_method": "bnpl"},
            },
            "order.amount",
        ),
        (
            {
                "customer_id": "c",
                "order": {"amount": 1, "currency": "CNY", "payment_method": "cheque"},
            },
            "order.payment_method",
        ),
        ({"customer_id": "c", "surprise": 1}, "surprise"),
    ],
)
async def test_invalid_request_is_422_naming_the_field(
    http: httpx.AsyncClient, body: dict[str, object], field: str
) -> None:
    response = await http.post("/v1/score", json=body, headers=CLIENT)

    assert response.status_code == 422
    assert field in [error["field"] for error in response.json()["detail"]]


async def test_batch_answers_in_order_and_refuses_over_a_thousand(
    http: httpx.AsyncClient,
) -> None:
    ids = [f"c{i}" for i in range(25)]
    response = await http.post(
        "/v1/score:batch", json={"requests": [{"customer_id": c} for c in ids]}, headers=CLIENT
    )
    too_many = await http.post(
        "/v1/score:batch", json={"requests": [{"customer_id": "c"}] * 1001}, headers=CLIENT
    )

    assert [r["customer_id"] for r in response.json()["results"]] == ids
    assert too_many.status_code == 422
    assert too_many.json()["detail"][0]["field"] == "requests"


@pytest.mark.parametrize(
    ("variant", "code"),
    [
        ({"n_inputs": 37}, "wrong_feature_count"),
        ({"bias": float("nan")}, "golden_output_nan"),
        ({"corrupt_model": True}, "model_unloadable"),
        ({"golden_outputs": [0.5, 0.5, 0.5]}, "golden_output_mismatch"),
    ],
)
async def test_publish_refuses_a_broken_bundle_with_a_precise_reason(
    service: Service, http: httpx.AsyncClient, tmp_path: Path, variant: dict[str, object], code: str
) -> None:
    response = await publish(http, build_bundle(tmp_path / "bad", "bad", **variant))  # type: ignore[arg-type]

    assert response.status_code == 422
    assert response.json()["error"] == code
    assert service.registry.entries() == []
    assert service.load_failures == ["publish"]


async def test_publish_refuses_a_manifest_for_another_feature_schema(
    http: httpx.AsyncClient, tmp_path: Path
) -> None:
    bundle = build_bundle(tmp_path / "b", "v9")
    running, other = FEATURE_SCHEMA.version, FEATURE_SCHEMA.version + 1
    manifest = (
        (bundle / "manifest.json")
        .read_text()
        .replace(f'"feature_schema_version":{running}', f'"feature_schema_version":{other}')
    )
    (bundle / "manifest.json").write_text(manifest)

    response = await publish(http, bundle)

    assert response.status_code == 422
    assert response.json()["error"] == "feature_schema_mismatch"
    assert f"v{other}" in response.json()["detail"]


async def test_activate_rollback_and_shadow_swap_and_leave_an_audit_trail(
    service: Service, http: httpx.AsyncClient, tmp_path: Path
) -> None:
    for version, bias in (("v1", -3.0), ("v2", -2.0)):
        assert (
            await publish(http, build_bundle(tmp_path / version, version, bias=bias))
        ).status_code == 201
    republished = await publish(http, tmp_path / "v1")
    unknown = await http.post("/v1/models/v7:activate", json={"reason": "x"}, headers=ADMIN)
    nothing = await http.post("/v1/models:rollback", json={"reason": "x"}, headers=ADMIN)

    await activate(http, "v1", "first")
    await activate(http, "v2", "better")
    on_v2 = service.holder.champion()
    await http.post("/v1/models/v1:shadow", json={"reason": "compare"}, headers=ADMIN)
    shadowed = service.holder.challenger()
    rolled = await approved(
        http,
        await http.post("/v1/models:rollback", json={"reason": "v2 misbehaves"}, headers=ADMIN),
    )
    cleared = await http.request(
        "DELETE", "/v1/models/shadow", json={"reason": "done"}, headers=ADMIN
    )
    listing = (await http.get("/v1/models", headers=ADMIN)).json()

    assert republished.status_code == 200
    assert republished.json()["created"] is False
    assert (unknown.status_code, unknown.json()["error"]) == (404, "unknown_version")
    assert (nothing.status_code, nothing.json()["error"]) == (409, "nothing_to_roll_back")
    assert on_v2 is not None
    assert on_v2.version == "v2"
    assert shadowed is not None
    assert shadowed.version == "v1"
    assert rolled.json()["result"] == {
        "role": "active",
        "model_version": "v1",
        "applied_locally": True,
    }
    assert cleared.status_code == 200
    assert service.holder.challenger() is None
    assert (listing["active"], listing["shadow"], listing["history"]) == ("v1", None, ["v1"])
    assert sorted(m["model_version"] for m in listing["models"]) == ["v1", "v2"]
    operations = [(a.operation, a.subject, a.reason) for a in service.publisher.audits]
    assert operations == [
        ("model.publish", "v1", "new model"),
        ("model.publish", "v2", "new model"),
        ("model.publish", "v1", "new model"),
        ("model.activate", "v1", "first"),
        ("model.activate", "v2", "better"),
        ("model.shadow", "v1", "compare"),
        ("model.rollback", "v1", "v2 misbehaves"),
        ("model.shadow", "none", "done"),
    ]
    assert {a.actor for a in service.publisher.audits if a.operation != "model.shadow"} >= {
        "approver"
    }
    assert service.publisher.audits[0].actor.startswith("admin:")
    activation = service.publisher.audits[3]
    assert activation.actor == "approver"
    assert activation.details["proposed_by"].startswith("admin:")
    assert activation.details["approved_by"] == "approver"
    assert [c.role for c in service.publisher.controls] == [
        "active",
        "active",
        "shadow",
        "active",
        "shadow",
    ]


async def test_publishing_other_content_under_a_taken_version_is_a_conflict(
    http: httpx.AsyncClient, tmp_path: Path
) -> None:
    await publish(http, build_bundle(tmp_path / "a", "v1", bias=-3.0))

    response = await publish(http, build_bundle(tmp_path / "b", "v1", bias=-1.0))

    assert (response.status_code, response.json()["error"]) == (409, "version_conflict")


async def test_one_key_alone_cannot_put_a_model_in_force(
    service: Service, http: httpx.AsyncClient, tmp_path: Path
) -> None:
    await publish(http, build_bundle(tmp_path / "v1", "v1"))
    proposal = await http.post("/v1/models/v1:activate", json={"reason": "go"}, headers=ADMIN)
    change_id = proposal.json()["change_id"]

    assert proposal.status_code == 202
    assert service.holder.champion() is None
    own = await http.post(
        f"/v1/changes/{change_id}:approve", json={"reason": "mine"}, headers=ADMIN
    )
    assert own.status_code == 403
    assert service.holder.champion() is None
    own_proposal = await http.post("/v1/models/v1:activate", json={"reason": "x"}, headers=APPROVER)
    self_approval = await http.post(
        f"/v1/changes/{own_proposal.json()['change_id']}:approve",
        json={"reason": "mine"},
        headers=APPROVER,
    )
    assert (self_approval.status_code, self_approval.json()["error"]) == (403, "four_eyes")

    approval = await approved(http, proposal)
    again = await approved(http, proposal)

    assert approval.status_code == 200
    assert approval.json()["change"]["decided_by"] == "approver"
    champion = service.holder.champion()
    assert champion is not None
    assert champion.version == "v1"
    assert (again.status_code, again.json()["error"]) == (409, "change_closed")
    operations = [a.operation for a in service.changes.audits]
    assert operations == ["change.propose", "change.propose", "change.approve"]


async def test_a_stale_activation_is_refused_and_an_emergency_rollback_is_audited(
    service: Service, http: httpx.AsyncClient, tmp_path: Path
) -> None:
    for version in ("v1", "v2"):
        await publish(http, build_bundle(tmp_path / version, version))
    await activate(http, "v1", "first")
    stale = await http.post("/v1/models/v2:activate", json={"reason": "a"}, headers=ADMIN)
    await activate(http, "v2", "b")
    refused = await approved(http, stale)
    by_approver = await http.post(
        "/v1/models:rollback", json={"reason": "fire", "emergency": True}, headers=APPROVER
    )
    emergency = await http.post(
        "/v1/models:rollback", json={"reason": "fire", "emergency": True}, headers=ADMIN
    )

    assert (refused.status_code, refused.json()["error"]) == (409, "stale_change")
    assert by_approver.status_code == 403
    assert emergency.status_code == 200
    assert emergency.json()["change"]["emergency"] is True
    champion = service.holder.champion()
    assert champion is not None
    assert champion.version == "v1"
    assert service.publisher.audits[-1].operation == "model.rollback.emergency"


async def serving(service: Service, http: httpx.AsyncClient, tmp_path: Path) -> None:
    """Publishes and activates a tiny bundle, and stores a customer ``c1`` with three failed
    payments (grade D under it) whose risk state says English and a frozen account."""
    assert (await publish(http, build_bundle(tmp_path / "b1", "v1"))).status_code == 201
    await activate(http, "v1", "go")
    now = datetime.now(UTC)
    risk = CustomerRiskState(
        customer_id="c1",
        status="frozen",
        active_actions=[
            ActiveAction(
                action_id="a-1",
                action="freeze_credit",
                rule_id="grade_d",
                reason="Grade D",
                issued_at=now,
            )
        ],
        locale="en",
    )
    service.store.records["c1"] = StoredCustomer(
        customer_state("c1", now, failed_payments=3).to_bytes(), risk.model_dump_json().encode()
    )


async def test_every_answer_is_a_decision_readable_by_auditors_and_each_read_is_audited(
    service: Service, http: httpx.AsyncClient, tmp_path: Path
) -> None:
    await serving(service, http, tmp_path)
    answer = (
        await http.post(
            "/v1/score:batch",
            json={"requests": [{"customer_id": "c1"}, {"customer_id": "new"}]},
            headers=CLIENT,
        )
    ).json()["results"]
    decision_id = answer[0]["decision_id"]

    read = await http.get(f"/v1/decisions/{decision_id}", headers=AUDITOR)
    listed = await http.get("/v1/customers/c1/decisions", headers=ADMIN)
    by_client = await http.get(f"/v1/decisions/{decision_id}", headers=CLIENT)
    unknown = await http.get(f"/v1/decisions/{'0' * 32}", headers=AUDITOR)
    malformed = await http.get("/v1/decisions/DROP-TABLE", headers=AUDITOR)
    too_many = await http.get("/v1/customers/c1/decisions?limit=501", headers=AUDITOR)

    record = DecisionRecord.model_validate(read.json())
    assert record.answer.model_dump(mode="json") == answer[0]
    assert record.account_status == "frozen"
    assert record.caller.startswith("client:")
    assert record.features is not None
    assert record.features["payments_failed_30d"] == 3.0
    assert [d["decision_id"] for d in listed.json()["decisions"]] == [decision_id]
    assert (by_client.status_code, unknown.status_code) == (403, 404)
    assert unknown.json()["error"] == "unknown_decision"
    assert malformed.json()["detail"] == [
        {"field": "decision_id", "reason": "a decision id is 32 hexadecimal digits"}
    ]
    assert too_many.status_code == 422
    reads = [a for a in service.publisher.audits if a.operation.startswith("decision.")]
    assert [(a.operation, a.subject, a.actor.split(":")[0] + ":") for a in reads] == [
        ("decision.read", decision_id, "auditor:"),
        ("decision.list", "c1", "admin:"),
    ]


async def test_the_explanation_ranks_the_models_reasons_and_states_verified_improvements(
    service: Service, http: httpx.AsyncClient, tmp_path: Path
) -> None:
    await serving(service, http, tmp_path)
    score = (await http.post("/v1/score", json={"customer_id": "c1"}, headers=CLIENT)).json()

    default = await http.get("/v1/customers/c1/explanation", headers=CLIENT)
    chinese = await http.get("/v1/customers/c1/explanation?lang=zh", headers=CLIENT)
    newcomer = await http.get("/v1/customers/nobody/explanation", headers=CLIENT)
    unsupported = await http.get("/v1/customers/c1/explanation?lang=de-DE", headers=CLIENT)

    english = CustomerExplanation.model_validate(default.json())
    assert english.lang == "en"  # the customer's language, from the risk state
    assert [r.code for r in english.reasons] == [r["code"] for r in score["reasons"]]
    assert english.reasons[0].text == "Failed payments in the last 30 days: 3"
    assert (english.grade, english.account_status) == (score["grade"], "frozen")
    assert english.restrictions[0].text == "Buying on credit paused"
    assert english.improvements
    assert english.improvements[0].steps[0].lever == "no_failed_payments_30d"
    assert english.improvements[0].text.startswith("No failed payment for 30 days would bring")
    assert "version v1" in english.procedure
    assert CustomerExplanation.model_validate(chinese.json()).lang == "zh-CN"
    thin = CustomerExplanation.model_validate(newcomer.json())
    assert (thin.lang, thin.reasons[0].code, thin.improvements) == ("zh-CN", "R_NO_HISTORY", [])
    assert unsupported.status_code == 422
    assert unsupported.json()["error"] == "unsupported_language"
