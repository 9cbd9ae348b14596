"""The warning service's pure core: the rule-condition language (:mod:`.expressions`), the
rule file (:mod:`.rules`), the per-customer state (:mod:`.state`), the state machine that
turns scores into graded, reversible actions (:mod:`.evaluation`), administrators'
overrides (:mod:`.overrides`) and review cases (:mod:`.cases`). No I/O frameworks here;
the consumer, store and API call in through this module, the core's import surface.
"""

from services.warning.core.case_record import (
    MAX_COMMENT,
    CaseDecision,
    CaseOrigin,
    CaseStatus,
    ReviewCase,
)
from services.warning.core.cases import (
    CASE_RULE_ID,
    check_reviewer,
    claim_case,
    decide_case,
    find_case,
)
from services.warning.core.evaluation import evaluate
from services.warning.core.expressions import Condition, Value
from services.warning.core.overrides import (
    MANUAL_OVERRIDE_RULE_ID,
    MANUAL_OVERRIDE_VERSION,
    manual_override,
)
from services.warning.core.rules import (
    DEFAULT_RULES_PATH,
    MAX_RULES_BYTES,
    RESTRICTIONS,
    REVERSALS,
    ActionSpec,
    Rule,
    RuleSet,
    load_default_rules,
    load_rules,
)
from services.warning.core.state import (
    Enforced,
    Evaluation,
    RuleActivation,
    WarningState,
    action_id,
    risk_state_view,
)

__all__ = [
    "CASE_RULE_ID",
    "DEFAULT_RULES_PATH",
    "MANUAL_OVERRIDE_RULE_ID",
    "MANUAL_OVERRIDE_VERSION",
    "MAX_COMMENT",
    "MAX_RULES_BYTES",
    "RESTRICTIONS",
    "REVERSALS",
    "ActionSpec",
    "CaseDecision",
    "CaseOrigin",
    "CaseStatus",
    "Condition",
    "Enforced",
    "Evaluation",
    "ReviewCase",
    "Rule",
    "RuleActivation",
    "RuleSet",
    "Value",
    "WarningState",
    "action_id",
    "check_reviewer",
    "claim_case",
    "decide_case",
    "evaluate",
    "find_case",
    "load_default_rules",
    "load_rules",
    "manual_override",
    "risk_state_view",
]
