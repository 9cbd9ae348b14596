"""The score service's pure core: the model's verdict on feature rows, the policies around
it (fallback, thin file, the warning service's limits) and the answer it gives. No I/O
framework and no model runtime is imported here; this module is the core's import surface.
"""

from services.scorer.core.answers import new_decision_id, score_answer
from services.scorer.core.counterfactuals import (
    LOW_GRADES,
    STANDARD_GRADE,
    better_grades,
    improvements,
    low_grade_improvements,
)
from services.scorer.core.explaining import customer_explanation
from services.scorer.core.policy import (
    NO_MODEL_VERSION,
    ON_CREDIT_METHODS,
    THIN_FILE_REASON,
    FallbackPolicy,
    FallbackReason,
    ThinFileDefault,
    account_status,
    capped_limit,
    on_credit,
)
from services.scorer.core.rescoring import (
    Dormancy,
    Rescore,
    RunSummary,
    dormancy,
    due_day,
    rescore_record,
    rescore_trigger,
    run_instant,
)
from services.scorer.core.verdicts import (
    FloatMatrix,
    RowScore,
    ServedModel,
    StageTimer,
    score_id_of,
    score_record,
    score_rows,
    scored_record,
)

__all__ = [
    "LOW_GRADES",
    "NO_MODEL_VERSION",
    "ON_CREDIT_METHODS",
    "STANDARD_GRADE",
    "THIN_FILE_REASON",
    "Dormancy",
    "FallbackPolicy",
    "FallbackReason",
    "FloatMatrix",
    "Rescore",
    "RowScore",
    "RunSummary",
    "ServedModel",
    "StageTimer",
    "ThinFileDefault",
    "account_status",
    "better_grades",
    "capped_limit",
    "customer_explanation",
    "dormancy",
    "due_day",
    "improvements",
    "low_grade_improvements",
    "new_decision_id",
    "on_credit",
    "rescore_record",
    "rescore_trigger",
    "run_instant",
    "score_answer",
    "score_id_of",
    "score_record",
    "score_rows",
    "scored_record",
]
