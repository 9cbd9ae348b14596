import textwrap

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from schemas.common import GRADES
from schemas.features import FEATURE_SCHEMA
from services.warning.core.expressions import Value, ValueType, Variable
from services.warning.core.rules import (
    DEFAULT_RULES_PATH,
    MAX_RULES_BYTES,
    RuleSet,
    load_rules,
    rule_vocabulary,
)
from services.warning.errors import RulesError

VALID = """\
version: "2026-11-27.1"
rules:
  - id: low_grade
    description: Grade C or worse
    severity: yellow
    when: grade >= "C"
    actions:
      - cut_limit: {factor: 0.5}
      - notify
    exit_when: grade <= "B"
    min_hours_in_state: 72
    on_exit: [restore_limit]
    escalate:
      to: frozen_after_limit
      after_hours: 48
  - id: frozen_after_limit
    description: Still C or worse two days after the cut
    severity: red
    actions: [freeze_credit]
    exit_when: grade <= "B"
    on_exit: [unfreeze_credit]
"""


def rules_error(text: str, feature_names: tuple[str, ...]) -> RulesError:
    with pytest.raises(RulesError) as caught:
        load_rules(textwrap.dedent(text), feature_names)
    return caught.value


def test_valid_file_loads_with_defaults(feature_names: tuple[str, ...]) -> None:
    rules = load_rules(VALID, feature_names)
    assert rules.version == "2026-11-27.1"
    low, frozen = rules.rules
    assert low.actions[0].factor == 0.5
    assert low.min_hours_in_state == 72
    assert low.cooldown_hours == 0
    assert low.escalate is not None
    assert low.escalate.target == "frozen_after_limit"
    assert low.escalate.condition.source == 'grade >= "C"'  # persists: defaults to when
    assert frozen.when is None
    assert low.line == 3
    assert frozen.line == 16


def test_default_exit_is_the_negated_entry(feature_names: tuple[str, ...]) -> None:
    rules = load_rules(
        VALID.replace('    exit_when: grade <= "B"\n    min_hours', "    min_hours"),
        feature_names,
    )
    exit_condition = rules.rules[0].exit_condition
    assert exit_condition.source == 'not (grade >= "C")'
    assert exit_condition({"grade": "B"})
    assert not exit_condition({"grade": "D"})


def test_rules_may_use_every_feature_of_the_running_schema() -> None:
    rules = load_rules(
        VALID.replace('grade >= "C"\n', 'grade >= "C" or credit_outstanding > 9\n', 1)
    )
    assert rules.rules[0].when is not None
    assert rules.rules[0].when.names == ("grade", "credit_outstanding")


def test_default_rules_validate(default_rules: RuleSet) -> None:
    rules = default_rules
    assert rules.version == "2026-12-01.1"
    ids = {rule.id for rule in rules.rules}
    assert {"low_grade", "grade_d", "sudden_score_drop", "refund_abuse"} <= ids
    assert {"payment_failures_burst", "repeated_chargebacks", "serious_delinquency"} <= ids
    assert "credit_spend_spike" in ids
    assert {
        "shared_confirmed_fraud",
        "shared_serious_delinquency",
        "shared_chargeback_abuse",
    } <= ids


@pytest.mark.parametrize(
    ("old", "new", "line", "fragment"),
    [
        (
            "    severity: yellow\n",
            "    severity: yellow\n    colour: blue\n",
            6,
            "unknown key 'colour'",
        ),
        ("      - notify\n", "      - email_customer\n", 9, "unknown action 'email_customer'"),
        ("      - notify\n", "      - unfreeze_credit\n", 9, "list it under on_exit"),
        ('    when: grade >= "C"\n', '    when: grade >= "C" and wealth > 3\n', 6, "unknown name"),
        ('    when: grade >= "C"\n', "    when: score >\n", 6, "end of expression"),
        ("    on_exit: [restore_limit]\n", "    on_exit: [reinstate_account]\n", 12, "never takes"),
        ("    on_exit: [restore_limit]\n", "    on_exit: [notify]\n", 12, "reversals only"),
        ("    on_exit: [restore_limit]\n", "", 3, "needs on_exit"),
        ("  - id: frozen_after_limit\n", "  - id: low_grade\n", 16, "duplicate rule id"),
        ("      to: frozen_after_limit\n", "      to: nowhere\n", 3, "unknown rule 'nowhere'"),
        ("      to: frozen_after_limit\n", "      to: low_grade\n", 3, "escalates to itself"),
        ("    min_hours_in_state: 72\n", "    min_hours_in_state: -1\n", 11, "between 0"),
        ("    min_hours_in_state: 72\n", "    min_hours_in_state: soon\n", 11, "a number"),
        (
            "      - cut_limit: {factor: 0.5}\n",
            "      - cut_limit: {factor: 1.5}\n",
            8,
            "between 0",
        ),
        ("      - cut_limit: {factor: 0.5}\n", "      - cut_limit\n", 8, "needs {factor"),
        (
            "      - cut_limit: {factor: 0.5}\n",
            "      - cut_limit: {factor: 0.5, to: 9}\n",
            8,
            "one of",
        ),
        ("      - notify\n", "      - cut_limit: {to: 100}\n", 9, "listed twice"),
        ("    severity: yellow\n", "    severity: amber\n", 5, "green, yellow or red"),
        ("  - id: low_grade\n", "  - id: Low-Grade\n", 3, "lower_snake_case"),
        ('version: "2026-11-27.1"\n', "version: 2026-11-27\n", 1, "must be text"),
        ("    description: Grade C or worse\n", "", 3, "missing 'description'"),
        ("    severity: yellow\n", "    severity: yellow\n    severity: red\n", 6, "duplicate key"),
    ],
)
def test_errors_name_the_line(
    old: str, new: str, line: int, fragment: str, feature_names: tuple[str, ...]
) -> None:
    assert old in VALID
    error = rules_error(VALID.replace(old, new, 1), feature_names)
    assert error.line == line, error
    assert fragment in error.reason, error


def test_escalation_cycles_and_unreachable_rules_are_refused(
    feature_names: tuple[str, ...],
) -> None:
    cycle = VALID.replace(
        "    on_exit: [unfreeze_credit]\n",
        "    on_exit: [unfreeze_credit]\n    escalate: {to: low_grade, when: score < 400}\n",
    )
    assert "escalation cycle" in rules_error(cycle, feature_names).reason
    orphan = VALID.replace(
        "    escalate:\n      to: frozen_after_limit\n      after_hours: 48\n", ""
    )
    error = rules_error(orphan, feature_names)
    assert error.line == 13
    assert "no rule escalates to it" in error.reason


def test_hostile_yaml_is_refused(feature_names: tuple[str, ...]) -> None:
    bomb = 'a: &a ["x", "x"]\nb: &b [*a, *a]\nc: [*b, *b]\n'
    error = rules_error(bomb, feature_names)
    assert error.line == 1
    assert "anchors and aliases" in error.reason
    python_tag = 'version: !!python/object/apply:os.system ["true"]\nrules: []\n'
    error = rules_error(python_tag, feature_names)
    assert error.line == 1
    assert "tags are not allowed" in error.reason
    deep = rules_error("version: '1'\nrules:\n  - " + "[" * 5000 + "]" * 5000, feature_names)
    assert deep.line == 3
    assert "nested deeper" in deep.reason
    huge = "version: '1'\nrules: []\n" + "#" * MAX_RULES_BYTES
    assert "larger than" in rules_error(huge, feature_names).reason
    assert rules_error("version: '1'\nrules: [\n", feature_names).line == 3
    with pytest.raises(RulesError, match="not UTF-8"):
        load_rules(b"version: '\xff\xfe'", feature_names)
    assert rules_error("", feature_names).reason == "empty rule file"
    assert "must be a mapping" in rules_error("- just\n- a list\n", feature_names).reason


DEFAULT_TEXT = DEFAULT_RULES_PATH.read_text()


@settings(max_examples=200, deadline=None)
@given(
    st.integers(0, len(DEFAULT_TEXT)),
    st.integers(0, 40),
    st.text(alphabet=st.sampled_from(list(":-[]{}&*!|>'\"#\n ab0.5%@`,?")), max_size=12),
)
def test_damaged_rule_files_raise_only_rules_errors(position: int, cut: int, insert: str) -> None:
    damaged = DEFAULT_TEXT[:position] + insert + DEFAULT_TEXT[position + cut :]
    try:
        rules = load_rules(damaged)
    except RulesError as error:
        line = error.line
    else:
        assert rules.version  # a harmless edit (e.g. inside a comment) still loads
        return
    assert line is None or 1 <= line <= damaged.count("\n") + 2


def _values(variable: Variable) -> st.SearchStrategy[Value]:
    if variable.type is ValueType.GRADE:
        return st.one_of(st.none(), st.sampled_from(GRADES))
    if variable.type is ValueType.STRING:
        return st.one_of(st.none(), st.sampled_from(sorted(variable.choices or {"x"})))
    return st.one_of(st.none(), st.floats(allow_nan=False), st.integers(-1000, 1000))


ENVIRONMENTS = st.fixed_dictionaries(
    {name: _values(variable) for name, variable in rule_vocabulary(FEATURE_SCHEMA.names).items()}
)


DEFAULT_CONDITIONS = [
    condition
    for rule in load_rules(DEFAULT_RULES_PATH.read_bytes()).rules
    for condition in (
        rule.when,
        rule.exit_condition,
        rule.escalate.condition if rule.escalate else None,
    )
    if condition is not None
]


@settings(max_examples=300)
@given(ENVIRONMENTS)
def test_the_default_rules_conditions_read_nothing_but_their_names(env: dict[str, Value]) -> None:
    # A score's environment holds only the variables the rule set names, and the notices'
    # search hands a condition only those it names.
    for condition in DEFAULT_CONDITIONS:
        named = {name: env[name] for name in condition.names}
        assert condition(named) == condition(env), condition.source


def test_a_rule_set_names_every_variable_its_conditions_read() -> None:
    rules = load_rules(DEFAULT_RULES_PATH.read_bytes())

    assert set(rules.names) == {
        name for condition in DEFAULT_CONDITIONS for name in condition.names
    }
    assert len(rules.names) == len(set(rules.names))
    assert rules.names[:2] == ("grade", "score_change")
