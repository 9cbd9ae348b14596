"""Onboarding events in the customer's state: registration, verification results and bureau
reports (docs/features.md, "Onboarding features"). They describe who the customer is, so
they count over the customer's lifetime, whenever they arrive: no 90-day horizon applies."""

from __future__ import annotations

import bisect
from dataclasses import dataclass

from schemas.events import (
    VERIFICATION_KINDS,
    BureauReportEvent,
    ProfileEvent,
    RegistrationEvent,
    VerificationEvent,
)
from services.features.core.state import (
    MAX_BUREAU_REPORTS,
    MAX_CONTACTS,
    MAX_FAILED_VERIFICATIONS,
    MAX_RESULTS_PER_KIND,
    BureauReport,
    CustomerState,
)
from services.features.core.timeline import to_us


@dataclass(frozen=True, slots=True)
class BureauScale:
    """A provider's published score range."""

    minimum: float
    maximum: float
    description: str


BUREAU_SCALES: dict[str, BureauScale] = {
    "sesame": BureauScale(350, 950, "Zhima (Sesame) Credit, Ant Group"),
    "fico": BureauScale(300, 850, "FICO Score 8 and later"),
    "vantagescore": BureauScale(300, 850, "VantageScore 3.0 and 4.0"),
    "experian_uk": BureauScale(0, 999, "Experian UK credit score"),
    "equifax_uk": BureauScale(0, 1000, "Equifax UK credit score (since 2020)"),
    "transunion_uk": BureauScale(0, 710, "TransUnion UK credit score"),
}
"""Score ranges of known providers. A known provider's range wins over the one its report
states (a report cannot redefine the provider's scale); an unknown provider's report is
read on its own ``scale_min``..``scale_max``."""


def normalised_bureau_score(provider: str, score: float, low: float, high: float) -> float:
    """The score as a share of its provider's range, 0 (worst) to 1 (best), clipped."""
    scale = BUREAU_SCALES.get(provider)
    if scale is not None:
        low, high = scale.minimum, scale.maximum
    return min(max((score - low) / (high - low), 0.0), 1.0)


def apply_profile_event(state: CustomerState, event: ProfileEvent) -> None:
    """Records an onboarding event in ``state.profile`` (and the registration's hashes in
    ``state.contacts``). Idempotent: applying it again changes nothing, and the result does
    not depend on the order the events arrive in."""
    at_us = to_us(event.occurred_at)
    profile = state.profile
    if isinstance(event, RegistrationEvent):
        if profile.registered_us is None or at_us < profile.registered_us:
            profile.registered_us = at_us
        contacts = state.contacts
        for contact in event.contact_hashes:
            entry = (contact.kind, contact.key_id, contact.hash)
            if entry not in contacts:
                contacts.append(entry)
        del contacts[:-MAX_CONTACTS]
    elif isinstance(event, VerificationEvent):
        results = profile.results.setdefault(VERIFICATION_KINDS.index(event.kind), [])
        bisect.insort(results, (at_us, event.result == "passed"))
        del results[:-MAX_RESULTS_PER_KIND]
        if event.result == "failed":
            bisect.insort(profile.failures, at_us)
            del profile.failures[:-MAX_FAILED_VERIFICATIONS]
    else:
        report = _report(event, at_us)
        bisect.insort(profile.reports, report, key=lambda r: (r.fetched_us, r.at_us))
        del profile.reports[:-MAX_BUREAU_REPORTS]


def _report(event: BureauReportEvent, at_us: int) -> BureauReport:
    return BureauReport(
        at_us=at_us,
        fetched_us=to_us(event.fetched_at),
        normalised=normalised_bureau_score(
            event.provider, event.score, event.scale_min, event.scale_max
        ),
        delinquencies=event.delinquencies,
        inquiries_6m=event.inquiries_6m,
    )
