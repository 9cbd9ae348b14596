"""The chaos verifier's checks, on small hand-made runs: a clean run passes, and each kind
of damage is counted by its own check."""

from __future__ import annotations

from collections import Counter
from dataclasses import replace
from datetime import UTC, datetime, timedelta

import pytest

from bench.chaos.prober import Probe
from bench.chaos.verifier import Observed, replay_warning, restricted_approvals, verify
from schemas.events import InboundEvent
from schemas.scores import ScoreRecord
from services.scorer.core import score_id_of
from services.warning.core import RuleSet, load_default_rules
from tests.services.warning.warning_fakes import score
from tests.support.events import Events, build_state

AS_OF = Events.at(days=1)
RULES: RuleSet = load_default_rules()


def clean_run(events: Events) -> Observed:
    """Two customers, three events, every effect in place; c2 is graded D (frozen)."""
    stream: list[InboundEvent] = [
        events.order(Events.at(hours=-3), "o1", customer_id="c1"),
        events.payment(Events.at(hours=-2), "o1", status="failed", customer_id="c1"),
        events.order(Events.at(hours=-1), "o2", customer_id="c2"),
    ]
    scores = [
        replace_trigger(score("c1", Events.at(), "A"), stream[0].event_id),
        replace_trigger(score("c1", Events.at(minutes=1), "B"), stream[1].event_id),
        replace_trigger(score("c2", Events.at(minutes=2), "D"), stream[2].event_id),
    ]
    observed = Observed(
        events=stream,
        refused={},
        update_triggers=[e.event_id for e in stream],
        scores=scores,
        actions=[],
        initial_states={},
        feature_states={
            "c1": build_state(stream[0], stream[1], customer_id="c1").to_bytes(),
            "c2": build_state(stream[2], customer_id="c2").to_bytes(),
        },
        warning_states={},
        probes=[],
        restricted_seen={},
        model_version="m-1",
        as_of=AS_OF,
    )
    actions, states = replay_warning(observed, RULES)
    return replace(
        observed,
        actions=actions,
        warning_states={c: s.to_json() for c, s in states.items()},
    )


def replace_trigger(record: ScoreRecord, trigger: str) -> ScoreRecord:
    return record.model_copy(
        update={"triggered_by": trigger, "score_id": score_id_of(trigger, "m-1")}
    )


def checks(observed: Observed) -> dict[str, int]:
    verdict = verify(observed, RULES, rounds=2, faults=Counter({"kill": 1, "flush": 1}))
    return {name: getattr(verdict, name) for name in verdict.FAILURES if getattr(verdict, name)}


def test_a_clean_run_passes_with_its_counts_on_one_line(events: Events) -> None:
    observed = clean_run(events)
    verdict = verify(observed, RULES, rounds=2, faults=Counter({"kill": 1, "flush": 1}))

    assert verdict.passed
    assert verdict.line().startswith("CHAOS PASS rounds=2 faults=flush:1,kill:1 events=3 ")
    assert "restricted_approved=0" in verdict.line()
    assert any(a.action == "freeze_credit" for a in observed.actions)


def test_a_lost_event_is_unapplied_and_leaves_the_features_wrong(events: Events) -> None:
    observed = clean_run(events)
    lost = observed.events[1].event_id
    damaged = replace(
        observed,
        update_triggers=[t for t in observed.update_triggers if t != lost],
        feature_states={
            **observed.feature_states,
            "c1": build_state(observed.events[0], customer_id="c1").to_bytes(),
        },
        scores=[s for s in observed.scores if s.triggered_by != lost],
    )
    damaged = replace(damaged, actions=replay_warning(damaged, RULES)[0])

    assert checks(damaged) == {"unapplied": 1, "feature_mismatches": 1}


def test_an_event_applied_twice_leaves_the_features_wrong(events: Events) -> None:
    observed = clean_run(events)
    twice = events.order(Events.at(hours=-3), "o1-again", customer_id="c1")
    doubled = build_state(observed.events[0], observed.events[1], twice, customer_id="c1")

    damaged = replace(
        observed, feature_states={**observed.feature_states, "c1": doubled.to_bytes()}
    )

    assert checks(damaged) == {"feature_mismatches": 1}


def test_missing_unexpected_and_conflicting_actions_are_each_counted(events: Events) -> None:
    observed = clean_run(events)
    first, *rest = observed.actions
    stray = first.model_copy(update={"action_id": "not-implied"})
    changed = rest[0].model_copy(update={"credit_limit": 1.0})

    assert checks(replace(observed, actions=rest)) == {"missing_actions": 1}
    assert checks(replace(observed, actions=[*observed.actions, stray])) == {
        "unexpected_actions": 1
    }
    assert checks(replace(observed, actions=[*observed.actions, changed])) == {
        "conflicting_action_ids": 1
    }
    redelivered = verify(replace(observed, actions=[*observed.actions, first]), RULES, 2, Counter())
    assert redelivered.passed
    assert redelivered.redelivered_actions == 1


def test_a_warning_state_that_lost_its_hold_is_a_mismatch(events: Events) -> None:
    observed = clean_run(events)
    _, states = replay_warning(observed, RULES)
    unfrozen = states["c2"].model_copy(update={"holds": ()})

    damaged = replace(
        observed, warning_states={**observed.warning_states, "c2": unfrozen.to_json()}
    )

    assert checks(damaged) == {"state_mismatches": 1}


def probe(customer_id: str, at: datetime, decision: str = "approve") -> Probe:
    return Probe(customer_id, at.timestamp(), decision, None)


def test_an_approval_while_restricted_counts_and_one_after_a_lift_does_not(
    events: Events,
) -> None:
    observed = clean_run(events)
    start = datetime(2026, 12, 1, 9, tzinfo=UTC)
    lift = observed.actions[0].model_copy(
        update={
            "customer_id": "c2",
            "action": "unfreeze_credit",
            "issued_at": start + timedelta(minutes=10),
        }
    )
    seen = {"c2": [start]}
    probes = [
        probe("c2", start - timedelta(seconds=1)),  # before it was restricted
        probe("c2", start + timedelta(minutes=5)),  # restricted: a violation
        probe("c2", start + timedelta(minutes=5), decision="review"),
        probe("c2", start + timedelta(minutes=11)),  # lifted
        probe("c1", start + timedelta(minutes=5)),  # never restricted
    ]

    violations = restricted_approvals(probes, seen, [lift])

    assert violations == [probes[1]]
    # Without the lift on risk.actions, the later approval is a violation too.
    assert checks(replace(observed, probes=probes, restricted_seen=seen)) == {
        "restricted_approved": 2
    }


@pytest.mark.parametrize("seen_after_lift_s", [0, 4])
def test_a_sighting_just_after_a_lift_was_issued_does_not_make_a_violation(
    events: Events, seen_after_lift_s: int
) -> None:
    """The warning service stores the state a moment after it issues the lift: a sighting
    of the old state in between is not a restriction still in force."""
    start = datetime(2026, 12, 1, 9, tzinfo=UTC)
    unfreeze = (
        clean_run(events)
        .actions[0]
        .model_copy(update={"customer_id": "c2", "action": "unfreeze_credit", "issued_at": start})
    )
    seen = {"c2": [start + timedelta(seconds=seen_after_lift_s)]}

    assert (
        restricted_approvals([probe("c2", start + timedelta(seconds=30))], seen, [unfreeze]) == []
    )
