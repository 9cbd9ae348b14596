"""The warning service's pure core: the rule-condition language (:mod:`.expressions`), the
rule file (:mod:`.rules`), the per-customer state (:mod:`.state`), the state machine that
turns scores into graded, reversible actions (:mod:`.evaluation`), administrators'
overrides (:mod:`.overrides`), review cases (:mod:`.cases`), customers' appeals
(:mod:`.appeals`) and limit applications (:mod:`.limits`). No I/O frameworks here;
the consumer, store and API call in through this module, the core's import surface.
"""

from services.warning.core.appeals import (
    AppealSubject,
    appeal_case_id,
    check_statement,
    open_appeal,
)
from services.warning.core.case_record import (
    CASE_ORIGINS,
    MAX_COMMENT,
    MAX_STATEMENT,
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
from services.warning.core.limits import (
    LIMIT_RULE_ID,
    LimitAssessment,
    LimitDecision,
    LimitOutcome,
    LimitReason,
    decide_limit_application,
)
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
    "CASE_ORIGINS",
    "CASE_RULE_ID",
    "DEFAULT_RULES_PATH",
    "LIMIT_RULE_ID",
    "MANUAL_OVERRIDE_RULE_ID",
    "MANUAL_OVERRIDE_VERSION",
    "MAX_COMMENT",
    "MAX_RULES_BYTES",
    "MAX_STATEMENT",
    "RESTRICTIONS",
    "REVERSALS",
    "ActionSpec",
    "AppealSubject",
    "CaseDecision",
    "CaseOrigin",
    "CaseStatus",
    "Condition",
    "Enforced",
    "Evaluation",
    "LimitAssessment",
    "LimitDecision",
    "LimitOutcome",
    "LimitReason",
    "ReviewCase",
    "Rule",
    "RuleActivation",
    "RuleSet",
    "Value",
    "WarningState",
    "action_id",
    "appeal_case_id",
    "check_reviewer",
    "check_statement",
    "claim_case",
    "decide_case",
    "decide_limit_application",
    "evaluate",
    "find_case",
    "load_default_rules",
    "load_rules",
    "manual_override",
    "open_appeal",
    "risk_state_view",
]
