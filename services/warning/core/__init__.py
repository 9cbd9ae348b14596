"""The warning service's pure core: the rule-condition language (:mod:`.expressions`), the
rule file (:mod:`.rules`), the per-customer state (:mod:`.state`), the state machine that
turns scores into graded, reversible actions (:mod:`.evaluation`) and administrators'
overrides (:mod:`.overrides`). No I/O frameworks here; the consumer, store and API call in
through this module, the core's import surface.
"""

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
    "DEFAULT_RULES_PATH",
    "MANUAL_OVERRIDE_RULE_ID",
    "MANUAL_OVERRIDE_VERSION",
    "MAX_RULES_BYTES",
    "RESTRICTIONS",
    "REVERSALS",
    "ActionSpec",
    "Condition",
    "Enforced",
    "Evaluation",
    "Rule",
    "RuleActivation",
    "RuleSet",
    "Value",
    "WarningState",
    "action_id",
    "evaluate",
    "load_default_rules",
    "load_rules",
    "manual_override",
    "risk_state_view",
]
