"""The outcomes monitor's gauges: per monthly cohort of scored customers and grade, the PD
the model predicted, the bad rate realised since, and the calibrated band between which the
realised rate should fall (see :mod:`services.reporting.vintages`)."""

from __future__ import annotations

from collections.abc import Sequence

from prometheus_client import Gauge

from services.reporting.vintages import VintageCell

_LABELS = ["cohort", "grade"]
CUSTOMERS = Gauge(
    "riskstream_outcomes_customers",
    "Customers of a monthly cohort (month of their first score) by the grade of that score.",
    _LABELS,
)
PREDICTED_PD = Gauge(
    "riskstream_outcomes_predicted_pd",
    "Mean probability of default (90 days) the model gave the cohort's customers of a grade.",
    _LABELS,
)
REALISED_BAD_RATE = Gauge(
    "riskstream_outcomes_realised_bad_rate",
    "Share of the cohort's customers of a grade that went bad within 90 days of their score "
    "(within the months observed so far while the cohort is younger).",
    _LABELS,
)
BAND_LOWER = Gauge(
    "riskstream_outcomes_band_lower",
    "Lower bound of the calibrated band (99 %) around the predicted PD.",
    _LABELS,
)
BAND_UPPER = Gauge(
    "riskstream_outcomes_band_upper",
    "Upper bound of the calibrated band (99 %) around the predicted PD.",
    _LABELS,
)
MATURE = Gauge(
    "riskstream_outcomes_mature",
    "1 once every customer of the cell has been observed for the model's 90-day horizon.",
    _LABELS,
)
OUTSIDE_BAND = Gauge(
    "riskstream_outcomes_outside_band",
    "1 when the realised bad rate leaves the calibrated band (above it at any age, below it "
    "once mature) for a cell of at least 30 customers.",
    _LABELS,
)
_GAUGES = (CUSTOMERS, PREDICTED_PD, REALISED_BAD_RATE, BAND_LOWER, BAND_UPPER, MATURE, OUTSIDE_BAND)


def export(cells: Sequence[VintageCell]) -> None:
    """Replaces every gauge's series with the given cells."""
    for gauge in _GAUGES:
        gauge.clear()
    for cell in cells:
        labels = (cell.cohort, cell.segment)
        lower, upper = cell.band
        CUSTOMERS.labels(*labels).set(cell.customers)
        PREDICTED_PD.labels(*labels).set(cell.predicted_pd)
        if cell.realised_bad_rate is not None:
            REALISED_BAD_RATE.labels(*labels).set(cell.realised_bad_rate)
        BAND_LOWER.labels(*labels).set(lower)
        BAND_UPPER.labels(*labels).set(upper)
        MATURE.labels(*labels).set(1.0 if cell.mature else 0.0)
        OUTSIDE_BAND.labels(*labels).set(1.0 if cell.outside_band else 0.0)
