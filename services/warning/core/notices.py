"""Adverse-action notices: every action that restricts credit (``cut_limit``,
``freeze_credit``, ``require_prepayment``, ``suspend_account``) carries what the order system
tells the customer, in the customer's language.

- **Principal reasons.** The features the acting rule's condition read, with their values
  (the rule acted on them), then the served model's most adverse reasons from the score,
  at most :data:`MAX_REASONS`. A rule that only escalates from others reads their
  conditions.
- **What would help.** The score carries the model's counterfactuals (the least feasible
  changes that re-score into a better grade). The first whose changed row also meets the
  rule's exit condition is stated as lifting the restriction; failing that, the least
  feasible changes that meet the exit condition with the grade as it is (searched here, on
  the rule itself); failing that, the model's nearest better grade alone.
- **How to appeal**, quoting the action's id.

Everything is a pure function of the action, the rules and the score, so a replayed score
yields the same notice.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence

from riskmodel.counterfactuals import least_changes
from schemas.actions import (
    RESTRICTING_ACTIONS,
    AdverseActionNotice,
    NoticeImprovement,
    NoticeReason,
    RiskAction,
)
from schemas.scores import Counterfactual, Grade, LeverStep, ScoreRecord
from services.common.texts import Texts
from services.warning.core.expressions import Condition, Value
from services.warning.core.rules import Rule, RuleSet

MAX_REASONS = 4
APPEAL_DAYS = 30
"""Days a customer has to appeal an adverse action, as the notice states."""

Environment = Callable[[Mapping[str, float | None], Grade, int], Mapping[str, Value]]
"""The rule-condition variables of the score judged, with its features, grade and score
replaced by those given (a counterfactual's or a candidate row's). Only the features a
condition reads need be given: a condition reads nothing but its ``names``."""


def notice(
    action: RiskAction,
    texts: Texts,
    reasons: Sequence[NoticeReason],
    improvement: NoticeImprovement | None,
) -> AdverseActionNotice:
    """The notice of a restricting action, with its texts assembled into one message."""
    title = texts(f"notice.title.{action.action}")
    summary = texts(
        f"notice.summary.{action.action}",
        date=texts.date(action.issued_at),
        amount=texts.money(action.credit_limit or 0.0),
    )
    appeal = texts("notice.appeal", days=texts.number(APPEAL_DAYS), reference=action.action_id)
    parts = [title, summary, texts("notice.reasons"), *(f"- {r.text}" for r in reasons)]
    if improvement is not None:
        parts += [texts("notice.improvement"), improvement.text]
    parts.append(appeal)
    return AdverseActionNotice(
        locale=texts.language,
        title=title,
        summary=summary,
        reasons=list(reasons),
        improvement=improvement,
        appeal=appeal,
        appeal_reference=action.action_id,
        body="\n".join(parts),
    )


def with_notices(
    actions: Sequence[RiskAction],
    rules: RuleSet,
    record: ScoreRecord,
    environment: Environment,
    texts: Texts,
) -> list[RiskAction]:
    """The actions, each restricting one with its notice."""
    noticed: list[RiskAction] = []
    for action in actions:
        if action.action in RESTRICTING_ACTIONS:
            rule = rules.rule(action.rule_id)
            reasons = principal_reasons(rules, rule, record, texts)
            found = improvement(rule, record, environment, texts)
            action = action.model_copy(update={"notice": notice(action, texts, reasons, found)})
        noticed.append(action)
    return noticed


def override_notice(action: RiskAction, reason: str, texts: Texts) -> RiskAction:
    """A restricting override with its notice (the reviewer's reason is the reason)."""
    if action.action not in RESTRICTING_ACTIONS:
        return action
    reasons = [NoticeReason(code=action.rule_id, text=texts("notice.manual", reason=reason))]
    return action.model_copy(update={"notice": notice(action, texts, reasons, None)})


def _condition_names(rules: RuleSet, rule: Rule) -> list[str]:
    if rule.when is not None:
        return list(rule.when.names)
    names: list[str] = []
    for other in rules.rules:
        escalation = other.escalate
        if escalation is not None and escalation.target == rule.id:
            names += [*(other.when.names if other.when else ()), *escalation.condition.names]
    return names


def principal_reasons(
    rules: RuleSet, rule: Rule | None, record: ScoreRecord, texts: Texts
) -> list[NoticeReason]:
    """The features the rule acted on, then the model's most adverse reasons."""
    model_codes = {reason.feature: reason.code for reason in record.reasons}
    reasons: list[NoticeReason] = []
    seen: set[str] = set()
    names = _condition_names(rules, rule) if rule is not None else []
    for name in names:
        if name in record.features and name not in seen:
            seen.add(name)
            value = record.features[name]
            defined = value is not None and not math.isnan(value)
            reasons.append(
                NoticeReason(
                    code=model_codes.get(name, rule.id if rule is not None else name),
                    text=texts.reason(name, value, f"{name} = {value if defined else 'null'}"),
                )
            )
    for reason in record.reasons:
        if reason.feature not in seen:
            seen.add(reason.feature)
            reasons.append(
                NoticeReason(
                    code=reason.code, text=texts.reason(reason.feature, reason.value, reason.text)
                )
            )
    return reasons[:MAX_REASONS]


def _changed(record: ScoreRecord, counterfactual: Counterfactual) -> dict[str, float | None]:
    """The score's features with the counterfactual's changes applied."""
    features = dict(record.features)
    for change in counterfactual.changes:
        features[change.feature] = change.changed
    return features


def _read(condition: Condition, features: Mapping[str, float | None]) -> dict[str, float | None]:
    """The features ``condition`` reads: its verdict depends on no other."""
    return {name: features[name] for name in condition.names if name in features}


def _rows_may_lift(condition: Condition, record: ScoreRecord, environment: Environment) -> bool:
    """False when no changed feature row can meet ``condition``: it reads no feature
    (e.g. ``grade <= "B"``), so every row, with the score's grade and score, reads as the
    score itself, and the score does not meet it. The search would then judge every row
    false and find nothing; it is not run."""
    return any(name in record.features for name in condition.names) or condition(
        environment({}, record.grade, record.score)
    )


def improvement(
    rule: Rule | None, record: ScoreRecord, environment: Environment, texts: Texts
) -> NoticeImprovement | None:
    """What would help, checked on the model (the score's counterfactuals) and on the rule
    (its exit condition); see the module docstring."""
    exit_condition = rule.exit_condition if rule is not None else None
    for counterfactual in record.improvements:
        if exit_condition is not None and exit_condition(
            environment(
                _read(exit_condition, _changed(record, counterfactual)),
                counterfactual.grade,
                counterfactual.score,
            )
        ):
            return _stated(texts, counterfactual, record, lifts=True)
    if exit_condition is not None and _rows_may_lift(exit_condition, record, environment):
        # Every candidate row of the search is judged: only what the condition reads is
        # copied out of it, and the grade and score stay the record's.
        def lifted(rows: Sequence[Mapping[str, float | None]]) -> list[float]:
            return [
                1.0
                if exit_condition(
                    environment(_read(exit_condition, row), record.grade, record.score)
                )
                else 0.0
                for row in rows
            ]

        (found,) = least_changes(record.features, lifted, [1.0])
        if found is not None:
            phrase = texts.steps(found.steps, record.features)
            return NoticeImprovement(
                text=texts.sentence("improvement.lift", changes=phrase),
                steps=[LeverStep(lever=lever, amount=amount) for lever, amount in found.steps],
                grade=None,
                lifts_restriction=True,
            )
    if record.improvements:
        return _stated(texts, record.improvements[0], record, lifts=False)
    return None


def _stated(
    texts: Texts, counterfactual: Counterfactual, record: ScoreRecord, *, lifts: bool
) -> NoticeImprovement:
    steps = [(step.lever, step.amount) for step in counterfactual.steps]
    phrase = texts.steps(steps, record.features)
    key = "improvement.grade_and_lift" if lifts else "improvement.grade"
    return NoticeImprovement(
        text=texts.sentence(key, changes=phrase, grade=counterfactual.grade),
        steps=counterfactual.steps,
        grade=counterfactual.grade,
        lifts_restriction=lifts,
    )
