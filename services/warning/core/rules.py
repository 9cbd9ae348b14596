"""The versioned rule file: its vocabulary, its validation and its in-memory form.

A rule file is YAML that a risk analyst reads and writes (docs/rules.md describes it)::

    version: "2026-12-01.1"
    rules:
      - id: low_grade
        description: Grade C or worse
        severity: yellow
        when: grade >= "C"
        actions:
          - cut_limit: {factor: 0.5}
        exit_when: grade <= "B"
        min_hours_in_state: 72
        on_exit: [restore_limit]

:func:`load_rules` refuses anything doubtful with a :class:`RulesError` naming the line:
unknown keys, unknown or misplaced action types, bad or unknown-name expressions, duplicate
ids, reversals without a matching entry, escalation to unknown rules or in a cycle, and
hostile YAML (anchors and aliases, explicit tags, oversized files).
"""

from __future__ import annotations

import re
from collections.abc import Collection, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Final, cast, get_args

import yaml
from yaml.constructor import SafeConstructor
from yaml.nodes import MappingNode, Node, ScalarNode, SequenceNode

from schemas.actions import ACTION_TYPES, AccountStatus, ActionType
from schemas.features import FEATURE_SCHEMA
from schemas.scores import RiskLevel
from services.warning.core.expressions import (
    Condition,
    ValueType,
    Variable,
    compile_condition,
)
from services.warning.errors import ExpressionError, RulesError

MAX_RULES_BYTES: Final = 256 * 1024
"""Largest accepted rule file, in bytes of UTF-8."""
MAX_RULES: Final = 500
MAX_YAML_DEPTH: Final = 16
"""Deepest accepted nesting of lists and mappings (a valid file needs six)."""
MAX_HOURS: Final = 24 * 366
"""Longest accepted duration (minimum time in state, cooldown, escalation delay)."""

DEFAULT_RULES_PATH: Final = Path(__file__).resolve().parent.parent / "rules" / "default.yaml"
"""The rule set shipped with riskstream (``services/warning/rules/default.yaml``)."""

ENTRY_ACTIONS: Final[tuple[ActionType, ...]] = (
    "notify",
    "manual_review",
    "require_prepayment",
    "cut_limit",
    "freeze_credit",
    "suspend_account",
)
"""Actions a rule takes when it enters (its ``actions``)."""
REVERSALS: Final[Mapping[ActionType, frozenset[ActionType]]] = {
    "restore_limit": frozenset({"cut_limit", "require_prepayment"}),
    "unfreeze_credit": frozenset({"freeze_credit"}),
    "reinstate_account": frozenset({"suspend_account"}),
}
"""Each reversal (allowed only in ``on_exit``) and the entry actions it undoes."""
RESTRICTIONS: Final[frozenset[ActionType]] = frozenset().union(*REVERSALS.values())
"""Entry actions whose effect lasts until reversed (the others are one-off notices)."""

_SEVERITIES: Final = frozenset(get_args(RiskLevel))
_RULE_ID: Final = re.compile(r"^[a-z][a-z0-9_]{0,63}$")
_STR_TAG: Final = "tag:yaml.org,2002:str"
_NUMBER_TAGS: Final = frozenset({"tag:yaml.org,2002:int", "tag:yaml.org,2002:float"})
_NULL_TAG: Final = "tag:yaml.org,2002:null"


# -------------------------------------------------------------------------- vocabulary

BASE_VARIABLES: Final[tuple[Variable, ...]] = (
    Variable("score", ValueType.NUMBER, "the new score, 300..900, higher is safer"),
    Variable("grade", ValueType.GRADE, "the new grade, S (best) .. D (worst)"),
    Variable(
        "risk_level",
        ValueType.STRING,
        "the new traffic light",
        frozenset(get_args(RiskLevel)),
    ),
    Variable("probability_of_default", ValueType.NUMBER, "the model's probability, 0..1"),
    Variable("previous_score", ValueType.NUMBER, "the score before this one (null: none)"),
    Variable("previous_grade", ValueType.GRADE, "the grade before this one (null: none)"),
    Variable("score_change", ValueType.NUMBER, "score minus previous_score (null: none)"),
    Variable(
        "event_type",
        ValueType.STRING,
        "the kind of event that caused the score (null: unknown)",
        frozenset({"order", "payment", "refund", "review"}),
    ),
    Variable(
        "status",
        ValueType.STRING,
        "the account status before this score",
        frozenset(get_args(AccountStatus)),
    ),
    Variable("credit_limit", ValueType.NUMBER, "the limit the model grants"),
    Variable("hours_in_status", ValueType.NUMBER, "hours since the status last changed"),
)
"""Names every condition may use besides the feature names."""


def rule_vocabulary(feature_names: Collection[str]) -> dict[str, Variable]:
    """:data:`BASE_VARIABLES` plus one number variable per feature name."""
    vocabulary = {variable.name: variable for variable in BASE_VARIABLES}
    for name in feature_names:
        if name in vocabulary:
            raise ValueError(f"feature {name!r} shadows a rule variable")
        vocabulary[name] = Variable(name, ValueType.NUMBER, f"feature {name} (null: undefined)")
    return vocabulary


# -------------------------------------------------------------------------- rule model


@dataclass(frozen=True, slots=True)
class ActionSpec:
    """An entry action. ``cut_limit`` has exactly one of ``factor`` (the new limit is this
    share of the model's limit) or ``to`` (an absolute limit; a cut never raises)."""

    action: ActionType
    factor: float | None = None
    to: float | None = None


@dataclass(frozen=True, slots=True)
class Escalation:
    """While the rule is active, ``target`` enters once ``condition`` holds and the rule
    has been active at least ``after_hours``."""

    target: str
    condition: Condition
    after_hours: float


@dataclass(frozen=True, slots=True)
class Rule:
    """One validated rule. ``when`` is None for a rule entered only by escalation.
    ``exit_condition`` is ``exit_when``, or else ``not (when)``."""

    id: str
    description: str
    severity: RiskLevel
    when: Condition | None
    actions: tuple[ActionSpec, ...]
    exit_condition: Condition
    on_exit: tuple[ActionType, ...]
    min_hours_in_state: float
    cooldown_hours: float
    escalate: Escalation | None
    line: int


@dataclass(frozen=True, slots=True)
class RuleSet:
    """A validated rule file. ``rules`` keep file order, which is evaluation order."""

    version: str
    rules: tuple[Rule, ...]
    names: tuple[str, ...] = field(init=False, repr=False, compare=False)
    """Every variable a condition of the set reads, in file order (a condition reads
    nothing but its ``names``)."""
    _by_id: dict[str, Rule] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        # Looked up for every escalation and every notice of every score; the first of
        # a (refused) duplicate id wins, as the file order would.
        by_id: dict[str, Rule] = {}
        names: dict[str, None] = {}
        for rule in self.rules:
            by_id.setdefault(rule.id, rule)
            escalation = rule.escalate.condition if rule.escalate is not None else None
            for condition in (rule.when, rule.exit_condition, escalation):
                if condition is not None:
                    names.update(dict.fromkeys(condition.names))
        object.__setattr__(self, "_by_id", by_id)
        object.__setattr__(self, "names", tuple(names))

    def rule(self, rule_id: str) -> Rule | None:
        """The rule with this id, or None (e.g. a rule removed since a state was saved)."""
        return self._by_id.get(rule_id)


# ------------------------------------------------------------------------------ YAML


def _line(node: Node) -> int:
    return int(node.start_mark.line) + 1


def _refuse_hostile_yaml(text: str) -> None:
    """Anchors and aliases (the "billion laughs" shape), explicit tags and deep nesting
    (the node composer recurses) are refused from the event stream, before any node tree
    is built."""
    depth = 0
    for event in yaml.parse(text, Loader=yaml.SafeLoader):
        line = int(event.start_mark.line) + 1 if event.start_mark is not None else None
        if isinstance(event, yaml.CollectionStartEvent):
            depth += 1
            if depth > MAX_YAML_DEPTH:
                raise RulesError(f"nested deeper than {MAX_YAML_DEPTH} levels", line)
        elif isinstance(event, yaml.CollectionEndEvent):
            depth -= 1
        if isinstance(event, yaml.AliasEvent) or getattr(event, "anchor", None):
            raise RulesError("anchors and aliases are not allowed in a rule file", line)
        tag = getattr(event, "tag", None)
        implicit = getattr(event, "implicit", True)
        explicit = tag is not None and (
            implicit is False or (isinstance(implicit, tuple) and not any(implicit))
        )
        if explicit:
            raise RulesError(f"tags are not allowed in a rule file (found {tag})", line)


class _Fields:
    """A YAML mapping read as a record: duplicate and unknown keys are refused."""

    def __init__(self, node: Node, what: str, allowed: Collection[str]) -> None:
        if not isinstance(node, MappingNode):
            raise RulesError(f"{what} must be a mapping", _line(node))
        self.node = node
        self.what = what
        self.values: dict[str, Node] = {}
        for key_node, value_node in node.value:
            key = key_node.value if isinstance(key_node, ScalarNode) else None
            if not isinstance(key, str) or key_node.tag != _STR_TAG:
                raise RulesError(f"{what}: keys must be plain names", _line(key_node))
            if key in self.values:
                raise RulesError(f"{what}: duplicate key {key!r}", _line(key_node))
            if key not in allowed:
                expected = ", ".join(sorted(allowed))
                raise RulesError(
                    f"{what}: unknown key {key!r} (expected one of {expected})", _line(key_node)
                )
            self.values[key] = value_node

    def optional(self, key: str) -> Node | None:
        return self.values.get(key)

    def required(self, key: str) -> Node:
        node = self.values.get(key)
        if node is None:
            raise RulesError(f"{self.what}: missing {key!r}", _line(self.node))
        return node


def _text(node: Node, what: str, max_length: int = 1_000) -> str:
    if not isinstance(node, ScalarNode) or node.tag != _STR_TAG:
        raise RulesError(f"{what} must be text (quote it)", _line(node))
    value = str(node.value)
    if not value.strip():
        raise RulesError(f"{what} must not be empty", _line(node))
    if len(value) > max_length:
        raise RulesError(f"{what} is longer than {max_length} characters", _line(node))
    return value


def _number(node: Node, what: str, low: float, high: float) -> float:
    if not isinstance(node, ScalarNode) or node.tag not in _NUMBER_TAGS:
        raise RulesError(f"{what} must be a number", _line(node))
    value = float(SafeConstructor().construct_object(node))
    if not low <= value <= high:
        raise RulesError(f"{what} must be between {low:g} and {high:g}", _line(node))
    return value


def _sequence(node: Node, what: str) -> list[Node]:
    if not isinstance(node, SequenceNode):
        raise RulesError(f"{what} must be a list", _line(node))
    return list(node.value)


def _is_null(node: Node) -> bool:
    return isinstance(node, ScalarNode) and node.tag == _NULL_TAG


def _condition(node: Node, what: str, vocabulary: Mapping[str, Variable]) -> Condition:
    source = _text(node, what)
    try:
        return compile_condition(source, vocabulary)
    except ExpressionError as error:
        raise RulesError(
            f"{what}: {error.reason} (column {error.column} of the expression)", _line(node)
        ) from error


def _negation(condition: Condition) -> Condition:
    entry = condition.evaluator
    return Condition(f"not ({condition.source})", condition.names, lambda env: not entry(env))


# ------------------------------------------------------------------------- validation

_RULE_KEYS: Final = frozenset(
    {
        "id",
        "description",
        "severity",
        "when",
        "actions",
        "exit_when",
        "on_exit",
        "min_hours_in_state",
        "cooldown_hours",
        "escalate",
    }
)


def load_rules(text: str | bytes, feature_names: Collection[str] = FEATURE_SCHEMA.names) -> RuleSet:
    """Validates a rule file and returns its rule set.

    ``feature_names`` are the feature names rules may use besides
    :data:`BASE_VARIABLES` (by default, the running feature schema's). Raises
    :class:`RulesError` with the 1-based line of the first problem found.
    """
    raw = text.encode() if isinstance(text, str) else text
    if len(raw) > MAX_RULES_BYTES:
        raise RulesError(f"rule file larger than {MAX_RULES_BYTES} bytes")
    try:
        source = raw.decode("utf-8")
        _refuse_hostile_yaml(source)
        root = yaml.compose(source, Loader=yaml.SafeLoader)
    except UnicodeDecodeError as error:
        raise RulesError(f"rule file is not UTF-8: {error.reason}") from error
    except yaml.MarkedYAMLError as error:
        mark = error.problem_mark or error.context_mark
        line = int(mark.line) + 1 if mark is not None else None
        raise RulesError(f"not valid YAML: {error.problem or error}", line) from error
    except yaml.YAMLError as error:
        raise RulesError(f"not valid YAML: {error}") from error
    if root is None:
        raise RulesError("empty rule file", 1)
    top = _Fields(root, "rule file", ("version", "rules"))
    version = _text(top.required("version"), "version", max_length=64)
    rule_nodes = _sequence(top.required("rules"), "rules")
    if len(rule_nodes) > MAX_RULES:
        raise RulesError(f"more than {MAX_RULES} rules", _line(top.required("rules")))
    vocabulary = rule_vocabulary(feature_names)
    rules: list[Rule] = []
    for node in rule_nodes:
        rule = _rule(node, vocabulary)
        if any(existing.id == rule.id for existing in rules):
            raise RulesError(f"duplicate rule id {rule.id!r}", rule.line)
        rules.append(rule)
    _check_escalations(rules)
    return RuleSet(version, tuple(rules))


def _rule(node: Node, vocabulary: Mapping[str, Variable]) -> Rule:
    fields = _Fields(node, "rule", _RULE_KEYS)
    rule_id = _text(fields.required("id"), "id", max_length=64)
    if not _RULE_ID.match(rule_id):
        raise RulesError(
            f"rule id {rule_id!r} must be lower_snake_case (a-z, 0-9, _), starting with a letter",
            _line(fields.required("id")),
        )
    fields.what = f"rule {rule_id!r}"
    what = fields.what
    description = _text(fields.required("description"), f"{what}: description")
    severity_node = fields.required("severity")
    severity = _text(severity_node, f"{what}: severity")
    if severity not in _SEVERITIES:
        raise RulesError(f"{what}: severity must be green, yellow or red", _line(severity_node))
    when_node = fields.optional("when")
    when = None if when_node is None else _condition(when_node, f"{what}: when", vocabulary)
    actions = _actions(fields.required("actions"), what)
    exit_node = fields.optional("exit_when")
    if exit_node is not None:
        exit_condition = _condition(exit_node, f"{what}: exit_when", vocabulary)
    elif when is not None:
        exit_condition = _negation(when)
    else:
        raise RulesError(f"{what}: a rule without 'when' needs 'exit_when'", _line(node))
    on_exit = _on_exit(fields, actions, what)
    hours = {
        key: _number(value, f"{what}: {key}", 0, MAX_HOURS)
        if (value := fields.optional(key)) is not None
        else 0.0
        for key in ("min_hours_in_state", "cooldown_hours")
    }
    escalate_node = fields.optional("escalate")
    escalate = None if escalate_node is None else _escalation(escalate_node, when, what, vocabulary)
    return Rule(
        id=rule_id,
        description=description,
        severity=cast(RiskLevel, severity),
        when=when,
        actions=actions,
        exit_condition=exit_condition,
        on_exit=on_exit,
        min_hours_in_state=hours["min_hours_in_state"],
        cooldown_hours=hours["cooldown_hours"],
        escalate=escalate,
        line=_line(node),
    )


def _action_type(node: Node, what: str) -> ActionType:
    name = _text(node, what)
    if name not in ACTION_TYPES:
        raise RulesError(
            f"{what}: unknown action {name!r} (expected one of {', '.join(ACTION_TYPES)})",
            _line(node),
        )
    return name


def _actions(node: Node, what: str) -> tuple[ActionSpec, ...]:
    items = _sequence(node, f"{what}: actions")
    if not items:
        raise RulesError(f"{what}: actions must list at least one action", _line(node))
    specs: list[ActionSpec] = []
    for item in items:
        spec = _action(item, what)
        if any(existing.action == spec.action for existing in specs):
            raise RulesError(f"{what}: action {spec.action!r} listed twice", _line(item))
        specs.append(spec)
    return tuple(specs)


def _action(item: Node, what: str) -> ActionSpec:
    if isinstance(item, MappingNode):
        if len(item.value) != 1:
            raise RulesError(
                f"{what}: write an action as its name, or as name: {{parameters}}", _line(item)
            )
        name_node, parameters = item.value[0]
    else:
        name_node, parameters = item, None
    action = _action_type(name_node, f"{what}: action")
    if action in REVERSALS:
        raise RulesError(
            f"{what}: {action!r} is a reversal; list it under on_exit", _line(name_node)
        )
    if action != "cut_limit":
        if (
            parameters is not None
            and not _is_null(parameters)
            and not (isinstance(parameters, MappingNode) and not parameters.value)
        ):
            raise RulesError(f"{what}: {action!r} takes no parameters", _line(parameters))
        return ActionSpec(action)
    if parameters is None or _is_null(parameters):
        raise RulesError(f"{what}: cut_limit needs {{factor: F}} or {{to: AMOUNT}}", _line(item))
    fields = _Fields(parameters, f"{what}: cut_limit", ("factor", "to"))
    if len(fields.values) != 1:
        raise RulesError(f"{what}: cut_limit takes exactly one of factor or to", _line(parameters))
    factor_node = fields.optional("factor")
    if factor_node is not None:
        factor = _number(factor_node, f"{what}: cut_limit factor", 0, 1)
        if factor >= 1:
            raise RulesError(f"{what}: a cut_limit factor must be below 1", _line(factor_node))
        return ActionSpec(action, factor=factor)
    return ActionSpec(action, to=_number(fields.required("to"), f"{what}: cut_limit to", 0, 1e12))


def _on_exit(fields: _Fields, actions: tuple[ActionSpec, ...], what: str) -> tuple[ActionType, ...]:
    restricting = [spec.action for spec in actions if spec.action in RESTRICTIONS]
    node = fields.optional("on_exit")
    if node is None:
        if restricting:
            raise RulesError(
                f"{what}: {', '.join(restricting)} needs on_exit listing its reversal "
                "(or on_exit: [] to keep it until an administrator lifts it)",
                _line(fields.node),
            )
        return ()
    entered = {spec.action for spec in actions}
    reversals: list[ActionType] = []
    for item in _sequence(node, f"{what}: on_exit"):
        action = _action_type(item, f"{what}: on_exit")
        if action not in REVERSALS:
            raise RulesError(
                f"{what}: on_exit lists reversals only ({', '.join(REVERSALS)}), not {action!r}",
                _line(item),
            )
        if not REVERSALS[action] & entered:
            undone = " or ".join(sorted(REVERSALS[action]))
            raise RulesError(
                f"{what}: {action!r} reverses {undone}, which this rule never takes",
                _line(item),
            )
        if action in reversals:
            raise RulesError(f"{what}: {action!r} listed twice", _line(item))
        reversals.append(action)
    return tuple(reversals)


def _escalation(
    node: Node, when: Condition | None, what: str, vocabulary: Mapping[str, Variable]
) -> Escalation:
    fields = _Fields(node, f"{what}: escalate", ("to", "when", "after_hours"))
    target = _text(fields.required("to"), f"{what}: escalate to", max_length=64)
    condition_node = fields.optional("when")
    if condition_node is not None:
        condition = _condition(condition_node, f"{what}: escalate when", vocabulary)
    elif when is not None:
        condition = when
    else:
        raise RulesError(f"{what}: escalate needs 'when' on a rule without 'when'", _line(node))
    hours_node = fields.optional("after_hours")
    after_hours = (
        0.0 if hours_node is None else _number(hours_node, f"{what}: after_hours", 0, MAX_HOURS)
    )
    return Escalation(target, condition, after_hours)


def _check_escalations(rules: list[Rule]) -> None:
    by_id = {rule.id: rule for rule in rules}
    targets: set[str] = set()
    for rule in rules:
        if rule.escalate is None:
            continue
        target = rule.escalate.target
        if target == rule.id:
            raise RulesError(f"rule {rule.id!r} escalates to itself", rule.line)
        if target not in by_id:
            raise RulesError(f"rule {rule.id!r} escalates to unknown rule {target!r}", rule.line)
        targets.add(target)
        seen = [rule.id]
        for step in _escalation_chain(by_id, target):
            if step in seen:
                raise RulesError(
                    f"rule {rule.id!r}: escalation cycle {' -> '.join([*seen, step])}",
                    rule.line,
                )
            seen.append(step)
    for rule in rules:
        if rule.when is None and rule.id not in targets:
            raise RulesError(
                f"rule {rule.id!r} has no 'when' and no rule escalates to it", rule.line
            )


def _escalation_chain(by_id: Mapping[str, Rule], start: str) -> Iterator[str]:
    current: str | None = start
    for _ in range(len(by_id) + 1):
        if current is None:
            return
        yield current
        escalation = by_id[current].escalate if current in by_id else None
        current = None if escalation is None else escalation.target


def load_default_rules(feature_names: Collection[str] = FEATURE_SCHEMA.names) -> RuleSet:
    """The shipped rule set (:data:`DEFAULT_RULES_PATH`), validated."""
    return load_rules(DEFAULT_RULES_PATH.read_bytes(), feature_names)
