"""What each page shows, gathered from the services' APIs (as the signed-in user), the
topics and the feature state; the routes in :mod:`services.console.app` render it."""

from __future__ import annotations

import asyncio
import hmac
import re
import secrets
from datetime import datetime
from pathlib import Path
from typing import Any

from redis.asyncio import Redis
from redis.exceptions import RedisError

from offline.backtest import load_model, run_backtest
from riskmodel.errors import GateRefusedError
from services.common.charts import png_image
from services.common.clock import Clock
from services.common.redis_keys import RedisKeys
from services.console.core import feature_table, lifted_by, rules_diff
from services.console.errors import UpstreamError
from services.console.records import KafkaRecords, ScoreHistory
from services.console.sessions import Session
from services.console.settings import ConsoleSettings
from services.console.upstream import Upstream
from services.features.core import CustomerState, StateFormatError, compute_features
from services.reporting.core import Period, build_report
from services.reporting.render import report_body
from services.reporting.sources import read_kafka
from services.warning.core import load_rules
from services.warning.errors import RulesError

_DIVERGENCE = re.compile(
    r"^riskstream_scorer_shadow_divergence_points_(sum|count)\{(?P<labels>[^}]*)\} (?P<value>\S+)$"
)


class Pages:
    def __init__(
        self,
        settings: ConsoleSettings,
        warning: Upstream,
        scorer: Upstream,
        records: KafkaRecords,
        scores: ScoreHistory,
        redis: Redis,
        clock: Clock,
    ) -> None:
        self._settings = settings
        self.warning = warning
        self.scorer = scorer
        self._records = records
        self._scores = scores
        self._redis = redis
        self._keys = RedisKeys(settings.redis_key_prefix)
        self._clock = clock
        self._backtests = asyncio.Semaphore(1)

    @staticmethod
    def new_token() -> str:
        return secrets.token_urlsafe(24)

    @staticmethod
    def same_token(expected: str, presented: str) -> bool:
        return hmac.compare_digest(expected.encode(), presented.encode())

    def upstream_of(self, service: str) -> Upstream | None:
        return {"warning": self.warning, "scorer": self.scorer}.get(service)

    # ------------------------------------------------------------------ review

    async def queue(self, session: Session) -> list[dict[str, Any]]:
        answer = await self.warning.call(session, "GET", "/v1/cases", params={"limit": "500"})
        cases: list[dict[str, Any]] = answer["cases"]
        for case in cases:
            case["opened"] = datetime.fromisoformat(case["opened_at"])
        return cases

    async def case(self, session: Session, case_id: str) -> dict[str, Any]:
        case: dict[str, Any] = await self.warning.call(session, "GET", f"/v1/cases/{case_id}")
        case["opened"] = datetime.fromisoformat(case["opened_at"])
        return case

    async def _features(self, customer_id: str) -> tuple[dict[str, float | None], datetime]:
        as_of = self._clock.now()
        try:
            stored = await self._redis.get(self._keys.feature_state(customer_id))
        except (RedisError, OSError) as error:
            raise UpstreamError(503, "redis_unavailable", str(error)) from error
        try:
            state = (
                CustomerState.from_bytes(stored)
                if isinstance(stored, bytes)
                else CustomerState.new(customer_id)
            )
        except StateFormatError as error:
            raise UpstreamError(503, "features_unreadable", str(error)) from error
        return compute_features(state, as_of), as_of

    async def customer(self, session: Session, customer_id: str) -> dict[str, Any]:
        """Risk state with what lifts each restriction, cases, features by window, the
        score history and its chart, the event timeline, actions and the audit trail."""
        risk, cases, live, records, (features, as_of) = await asyncio.gather(
            self.warning.call(session, "GET", f"/v1/customers/{customer_id}/risk"),
            self.warning.call(session, "GET", f"/v1/customers/{customer_id}/cases"),
            self.warning.call(session, "GET", "/v1/rules"),
            self._scores.customer(customer_id),
            self._features(customer_id),
        )
        rules = {rule["id"]: rule for rule in live["rules"]}
        in_force = [
            {**action, "lifted_by": lifted_by(action, rules)} for action in risk["active_actions"]
        ]
        scores = records.scores
        return {
            "customer_id": customer_id,
            "risk": risk,
            "in_force": in_force,
            "cases": cases["cases"],
            "features": feature_table(features),
            "features_as_of": as_of,
            "scores": scores,
            "score_chart": _score_chart(scores) if scores else None,
            "events": records.events,
            "actions": records.actions,
            "audit": records.audit,
        }

    # ------------------------------------------------------------------ rules

    @staticmethod
    def validate_rules(text: str) -> list[tuple[int | None, str]]:
        """The problems of a rule file (line, reason), as the warning service checks it;
        empty when it is valid."""
        try:
            load_rules(text.encode())
        except RulesError as error:
            return [(error.line, error.reason)]
        return []

    async def rules(self, session: Session) -> dict[str, Any]:
        live, changes = await asyncio.gather(
            self.warning.call(session, "GET", "/v1/rules"),
            self.warning.call(session, "GET", "/v1/changes"),
        )
        proposals = []
        for change in changes["changes"]:
            payload = change.get("payload") or ""
            proposals.append(
                {
                    **change,
                    "diff": rules_diff(live["text"], payload)
                    if change["status"] == "proposed"
                    else [],
                    "stale": change["status"] == "proposed" and change["base"] != live["sha256"],
                }
            )
        return {"live": live, "changes": proposals}

    async def backtest(self, session: Session, change_id: str) -> dict[str, Any]:
        """Replays recent events through the champion model and both rule sets (the
        proposal and the live rules): the actions each would take, as a table and a chart."""
        change, live, models = await asyncio.gather(
            self.warning.call(session, "GET", f"/v1/changes/{change_id}"),
            self.warning.call(session, "GET", "/v1/rules"),
            self.scorer.call(session, "GET", "/v1/models"),
        )
        active = next((m for m in models["models"] if m["model_version"] == models["active"]), None)
        if active is None or not change.get("payload"):
            raise UpstreamError(409, "no_backtest", "no champion model or no rule file to test")
        try:
            candidate = load_rules(change["payload"].encode())
            baseline = load_rules(live["text"].encode())
        except RulesError as error:
            raise UpstreamError(422, "invalid_rules", str(error)) from error
        events = await self._records.recent_events()
        async with self._backtests:
            try:
                report = await asyncio.to_thread(
                    lambda: run_backtest(
                        events, load_model(Path(active["path"])), candidate, baseline
                    ).as_dict()
                )
            except GateRefusedError as error:
                raise UpstreamError(409, error.code, str(error)) from error
        rows = _action_rows(report)
        return {
            "change_id": change_id,
            "report": report,
            "rows": rows,
            "chart": _backtest_chart(rows) if rows else None,
        }

    # ------------------------------------------------------------------ models

    async def models(self, session: Session) -> dict[str, Any]:
        registry, changes, metrics, verdicts = await asyncio.gather(
            self.scorer.call(session, "GET", "/v1/models"),
            self.scorer.call(session, "GET", "/v1/changes"),
            self.scorer.text("/metrics"),
            self._records.audit_trail(("model.",)),
        )
        reports = await asyncio.gather(
            *(self._report(session, m["model_version"]) for m in registry["models"])
        )
        for model, report in zip(registry["models"], reports, strict=True):
            model["report"] = report
        return {
            "registry": registry,
            "changes": changes["changes"],
            "divergence": _divergence(metrics),
            "verdicts": verdicts[:50],
        }

    async def _report(self, session: Session, version: str) -> dict[str, Any] | None:
        try:
            report: dict[str, Any] = await self.scorer.call(
                session, "GET", f"/v1/models/{version}/report"
            )
        except UpstreamError as error:
            if error.status == 404:
                return None
            raise
        return report

    # ------------------------------------------------------------------ portfolio

    async def portfolio(self, start: datetime, end: datetime) -> str:
        """The portfolio report's figures and plots for ``[start, end)``, as HTML whose
        every value the report escaped."""
        period = Period(start, end)
        records = await read_kafka(self._settings, period)
        report = build_report(period, records.scores, records.actions, records.audit)
        return await asyncio.to_thread(report_body, report)


def _action_rows(report: dict[str, Any]) -> list[dict[str, Any]]:
    """Every (rule, action) either rule set took, with both counts and the change."""
    counts: dict[tuple[str, str], dict[str, int]] = {}
    for side in ("candidate", "baseline"):
        for row in report[side]["actions"]:
            key = (row["rule_id"], row["action"])
            counts.setdefault(key, {"candidate": 0, "baseline": 0})[side] = row["count"]
    return [
        {
            "rule_id": rule_id,
            "action": action,
            **both,
            "change": both["candidate"] - both["baseline"],
        }
        for (rule_id, action), both in sorted(counts.items())
    ]


def _score_chart(scores: list[Any]) -> str:
    def draw(axes: Any) -> None:
        axes.plot([s.scored_at for s in scores], [s.score for s in scores], marker="o")
        axes.set(title="Score history", ylabel="score (300-900, higher is safer)")
        axes.set_ylim(300, 900)
        axes.tick_params(axis="x", labelrotation=30)

    return png_image(draw, size=(7.0, 3.0))


def _backtest_chart(rows: list[dict[str, Any]]) -> str:
    def draw(axes: Any) -> None:
        labels = [f"{r['rule_id']}\n{r['action']}" for r in rows]
        positions = range(len(rows))
        axes.bar([p - 0.2 for p in positions], [r["baseline"] for r in rows], 0.4, label="live")
        axes.bar(
            [p + 0.2 for p in positions], [r["candidate"] for r in rows], 0.4, label="proposal"
        )
        axes.set_xticks(list(positions), labels, fontsize="x-small")
        axes.set(title="Actions over recent events", ylabel="actions")
        axes.legend()

    return png_image(draw, size=(8.0, 3.6))


def _divergence(metrics: str) -> list[dict[str, Any]]:
    """Mean |champion score - challenger score| per pair, from the scorer's metrics."""
    sums: dict[str, dict[str, float]] = {}
    for line in metrics.splitlines():
        match = _DIVERGENCE.match(line)
        if match is None:
            continue
        sums.setdefault(match["labels"], {})[match[1]] = float(match["value"])
    rows = []
    for labels, values in sums.items():
        pairs = dict(re.findall(r'(\w+)="([^"]*)"', labels))
        count = values.get("count", 0.0)
        rows.append(
            {
                "champion": pairs.get("champion", "?"),
                "challenger": pairs.get("challenger", "?"),
                "scores": int(count),
                "mean_points": values.get("sum", 0.0) / count if count else None,
            }
        )
    return rows
