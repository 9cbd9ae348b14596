"""Credit sense about each riskstream feature: whether more of it may never lower risk (the
monotone constraint LightGBM trains under) and how it reads as a reason code."""

from __future__ import annotations

from collections.abc import Sequence

from riskmodel.manifest import ReasonText

RISK_INCREASING: frozenset[str] = frozenset(
    {
        "payments_failed_24h",
        "payments_failed_7d",
        "payments_failed_30d",
        "payments_failed_ratio_30d",
        "chargebacks_90d",
        "repayments_late_90d",
        "refunds_without_return_30d",
        "refunds_rejected_90d",
        "reviews_abusive_90d",
        "verifications_failed_30d",
        "bureau_delinquencies",
        "bureau_inquiries_6m",
        "shared_signals_confirmed_fraud",
        "shared_signals_serious_delinquency_90d",
        "shared_signals_chargeback_abuse",
        "shared_signals_max_severity",
    }
)
"""More of these never lowers risk.

The days-past-due maximum and mean and the on-time ratio stay unconstrained on purpose: over
a 90-day window they mix repayments finally made late with collection attempts still failing,
and a customer who paid 20 days late is safer than one still unpaid at 15. Constraining them
cost about half a point of test AUC; the late-repayment count, failed payments and
chargebacks carry the "never rewards" guarantee.
"""

RISK_DECREASING: frozenset[str] = frozenset(
    {
        "verified_kinds_count",
        "verified_phone",
        "verified_email",
        "verified_real_name",
        "verified_bank_card",
        "bureau_score_normalised",
    }
)
"""More of these never raises risk: a passed identity check and a better bureau score are
never held against a customer."""

_REASONS: dict[str, tuple[str, str, str]] = {
    "orders_count_1h": ("R_ORDER_BURST_1H", "{value:.0f} orders in the last hour", ""),
    "orders_count_24h": ("R_ORDER_BURST_24H", "{value:.0f} orders in the last 24 hours", ""),
    "orders_count_7d": ("R_ORDERS_7D", "{value:.0f} orders in the last 7 days", ""),
    "orders_count_30d": ("R_ORDERS_30D", "{value:.0f} orders in the last 30 days", ""),
    "orders_count_90d": ("R_ORDERS_90D", "{value:.0f} orders in the last 90 days", ""),
    "orders_amount_24h": ("R_SPEND_24H", "CNY {value:,.0f} ordered in the last 24 hours", ""),
    "orders_amount_7d": ("R_SPEND_7D", "CNY {value:,.0f} ordered in the last 7 days", ""),
    "orders_amount_30d": ("R_SPEND_30D", "CNY {value:,.0f} ordered in the last 30 days", ""),
    "orders_amount_90d": ("R_SPEND_90D", "CNY {value:,.0f} ordered in the last 90 days", ""),
    "orders_cancelled_ratio_30d": (
        "R_CANCELLATIONS",
        "{value:.0%} of orders in the last 30 days were cancelled",
        "no orders in the last 30 days",
    ),
    "orders_credit_share_30d": (
        "R_CREDIT_SHARE",
        "{value:.0%} of orders in the last 30 days were on credit",
        "no orders in the last 30 days",
    ),
    "order_amount_avg_90d": (
        "R_BASKET_AVG",
        "average order of CNY {value:,.0f} over 90 days",
        "no orders in the last 90 days",
    ),
    "order_amount_max_90d": (
        "R_BASKET_MAX",
        "largest order CNY {value:,.0f} in the last 90 days",
        "no orders in the last 90 days",
    ),
    "spend_spike_ratio_24h": (
        "R_SPEND_SPIKE",
        "spending in the last 24 hours is {value:.1f} times the usual",
        "no usual spending to compare with",
    ),
    "shipping_addresses_distinct_30d": (
        "R_ADDRESSES",
        "{value:.0f} different shipping addresses in the last 30 days",
        "",
    ),
    "days_since_first_event": (
        "R_SHORT_HISTORY",
        "customer for {value:.0f} days only",
        "no history with the platform",
    ),
    "days_since_last_order": (
        "R_RECENCY",
        "last order {value:.0f} days ago",
        "no orders yet",
    ),
    "payments_failed_24h": ("R_FAILED_PAY_24H", "{value:.0f} failed payments in 24 hours", ""),
    "payments_failed_7d": ("R_FAILED_PAY_7D", "{value:.0f} failed payments in 7 days", ""),
    "payments_failed_30d": ("R_FAILED_PAY_30D", "{value:.0f} failed payments in 30 days", ""),
    "payments_failed_ratio_30d": (
        "R_FAILED_PAY_RATIO",
        "{value:.0%} of payments failed in the last 30 days",
        "no payments in the last 30 days",
    ),
    "chargebacks_90d": ("R_CHARGEBACKS", "{value:.0f} chargebacks in the last 90 days", ""),
    "repayments_on_time_ratio_90d": (
        "R_ON_TIME_RATIO",
        "only {value:.0%} of repayments on time in the last 90 days",
        "no repayment record in the last 90 days",
    ),
    "repayments_late_90d": (
        "R_LATE_REPAYMENTS",
        "{value:.0f} late repayments in the last 90 days",
        "",
    ),
    "days_past_due_max_90d": (
        "R_DPD_MAX",
        "a repayment {value:.0f} days past due in the last 90 days",
        "no repayment record in the last 90 days",
    ),
    "days_past_due_mean_90d": (
        "R_DPD_MEAN",
        "repayments {value:.1f} days late on average over 90 days",
        "no repayment record in the last 90 days",
    ),
    "credit_outstanding": (
        "R_OUTSTANDING",
        "CNY {value:,.0f} of credit outstanding",
        "",
    ),
    "refunds_count_7d": ("R_REFUNDS_7D", "{value:.0f} refunds in the last 7 days", ""),
    "refunds_count_30d": ("R_REFUNDS_30D", "{value:.0f} refunds in the last 30 days", ""),
    "refunds_count_90d": ("R_REFUNDS_90D", "{value:.0f} refunds in the last 90 days", ""),
    "refunds_amount_30d": (
        "R_REFUND_AMOUNT",
        "CNY {value:,.0f} refunded in the last 30 days",
        "",
    ),
    "refund_rate_30d": (
        "R_REFUND_RATE",
        "refunds on {value:.0%} of orders in the last 30 days",
        "no orders in the last 30 days",
    ),
    "refunds_without_return_30d": (
        "R_REFUND_NO_RETURN",
        "{value:.0f} refunds without returning the goods in the last 30 days",
        "",
    ),
    "refunds_rejected_90d": (
        "R_REFUNDS_REJECTED",
        "{value:.0f} refund requests rejected in the last 90 days",
        "",
    ),
    "reviews_count_90d": ("R_REVIEWS", "{value:.0f} reviews in the last 90 days", ""),
    "review_rating_mean_90d": (
        "R_REVIEW_RATING",
        "average review rating {value:.1f} over 90 days",
        "no reviews in the last 90 days",
    ),
    "reviews_negative_ratio_90d": (
        "R_NEGATIVE_REVIEWS",
        "{value:.0%} of reviews in the last 90 days were negative",
        "no reviews in the last 90 days",
    ),
    "reviews_abusive_90d": (
        "R_ABUSIVE_REVIEWS",
        "{value:.0f} reviews flagged abusive in the last 90 days",
        "",
    ),
    "days_since_registration": (
        "R_NEW_ACCOUNT",
        "registered {value:.0f} days ago",
        "no registration on file",
    ),
    "verified_kinds_count": ("R_FEW_CHECKS", "{value:.0f} identity checks passed", ""),
    "verified_phone": ("R_PHONE_UNVERIFIED", "phone number not verified", ""),
    "verified_email": ("R_EMAIL_UNVERIFIED", "e-mail address not verified", ""),
    "verified_real_name": ("R_NAME_UNVERIFIED", "real name not verified", ""),
    "verified_bank_card": ("R_CARD_UNVERIFIED", "bank card not verified", ""),
    "verifications_failed_30d": (
        "R_FAILED_CHECKS",
        "{value:.0f} failed identity checks in the last 30 days",
        "",
    ),
    "bureau_score_normalised": (
        "R_BUREAU_SCORE",
        "credit bureau score at {value:.0%} of its range",
        "no credit bureau report",
    ),
    "bureau_delinquencies": (
        "R_BUREAU_DELINQUENCIES",
        "{value:.0f} delinquencies on the credit bureau report",
        "no credit bureau report",
    ),
    "bureau_inquiries_6m": (
        "R_BUREAU_INQUIRIES",
        "{value:.0f} credit inquiries in the last 6 months",
        "no credit bureau report",
    ),
    "days_since_bureau_report": (
        "R_BUREAU_AGE",
        "credit bureau report {value:.0f} days old",
        "no credit bureau report",
    ),
    "shared_signals_confirmed_fraud": (
        "R_SHARED_FRAUD",
        "{value:.0f} confirmed-fraud reports from partner platforms",
        "",
    ),
    "shared_signals_serious_delinquency_90d": (
        "R_SHARED_DELINQUENCY",
        "{value:.0f} serious-delinquency reports from partner platforms",
        "",
    ),
    "shared_signals_chargeback_abuse": (
        "R_SHARED_CHARGEBACKS",
        "{value:.0f} chargeback-abuse reports from partner platforms",
        "",
    ),
    "shared_signals_max_severity": (
        "R_SHARED_SEVERITY",
        "a partner platform's report of severity {value:.0f} (of 3)",
        "",
    ),
}


def monotone_constraints(feature_names: Sequence[str]) -> list[int]:
    """LightGBM ``monotone_constraints``: +1 for risk-increasing features, -1 for
    risk-decreasing ones, else 0."""
    return [
        1 if name in RISK_INCREASING else -1 if name in RISK_DECREASING else 0
        for name in feature_names
    ]


def reason_texts(feature_names: Sequence[str]) -> dict[str, ReasonText]:
    """The code and text of each feature; a feature outside the catalogue (a tabular column)
    gets a generic ``R_<NAME>`` code and ``"<name> = <value>"`` text."""
    texts = {}
    for name in feature_names:
        if name in _REASONS:
            code, template, missing = _REASONS[name]
            texts[name] = ReasonText(
                code=code, template=template, missing_text=missing or f"{name} undefined"
            )
        else:
            code = "R_" + "".join(c if c.isalnum() else "_" for c in name.upper())
            literal = name.replace("{", "{{").replace("}", "}}")
            texts[name] = ReasonText(
                code=code, template=f"{literal} = {{value:g}}", missing_text=f"{name} missing"
            )
    return texts
