"""The service tiers file: one YAML file giving each grade its service tier
(:class:`schemas.tiers.ServiceTier`), validated when it is loaded.

The score API and the warning service load it at start-up (``RISKSTREAM_SERVICE_TIERS_PATH``,
default the packaged ``service_tiers.yaml``) and refuse to start when it is invalid. A
tier is then a lookup: every (grade, account status) pair's tier is built and turned into
its JSON form once, when the file is loaded. Pure: no I/O framework.
"""

from __future__ import annotations

import itertools
from collections.abc import Mapping
from pathlib import Path
from typing import Any, Final

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from schemas.actions import ACCOUNT_STATUSES, AccountStatus
from schemas.scores import GRADES, Grade
from schemas.tiers import (
    MAX_INSTALMENTS,
    MONITORING,
    NO_CREDIT_TERMS,
    PROMOTIONS,
    ServiceTier,
)
from services.common.settings import ConfigurationError

DEFAULT_SERVICE_TIERS_PATH: Final = Path(__file__).resolve().parent / "service_tiers.yaml"
MAX_TIERS_BYTES: Final = 64 * 1024


class ServiceTiersError(ConfigurationError):
    """A service tiers file that must not be used; the message names the problem."""


class _TierEntry(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    name: str
    vip: bool = False
    priority_service: bool = False
    repayment_terms: dict[str, Any]
    promotions: str
    monitoring: str
    fraud_checks: bool = False


class _TiersFile(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    version: str = Field(min_length=1, max_length=64)
    tiers: dict[Grade, _TierEntry]


class ServiceTiers:
    """The tiers of one file, by grade; :meth:`of` and :meth:`view` are lookups."""

    def __init__(self, version: str, tiers: Mapping[Grade, ServiceTier]) -> None:
        self.version = version
        self._tiers = dict(tiers)
        self._effective: dict[tuple[Grade, AccountStatus], ServiceTier] = {}
        self._views: dict[tuple[Grade, AccountStatus], dict[str, Any]] = {}
        for grade in GRADES:
            for status in ACCOUNT_STATUSES:
                tier = self._tiers[grade]
                if status in ("frozen", "suspended"):
                    tier = tier.model_copy(
                        update={
                            "repayment_terms": NO_CREDIT_TERMS,
                            "promotions": "none",
                            "restricted_by": status,
                        }
                    )
                self._effective[grade, status] = tier
                self._views[grade, status] = tier.model_dump(mode="json")

    def of(self, grade: Grade, status: AccountStatus = "active") -> ServiceTier:
        """The tier of ``grade``; for a frozen or suspended account, nothing on credit and
        no promotions (``restricted_by`` says why)."""
        return self._effective[grade, status]

    def view(self, grade: Grade, status: AccountStatus = "active") -> dict[str, Any]:
        """:meth:`of` as JSON-ready data, built once (callers must not change it)."""
        return self._views[grade, status]


def load_service_tiers(text: str | bytes) -> ServiceTiers:
    """Validates a service tiers file: every grade S to D exactly once, instalment counts
    ascending within 2..60, and better grades never getting less than worse ones (terms,
    promotions) nor closer monitoring. Raises :class:`ServiceTiersError`."""
    raw = text.encode() if isinstance(text, str) else text
    if len(raw) > MAX_TIERS_BYTES:
        raise ServiceTiersError(f"service tiers file larger than {MAX_TIERS_BYTES} bytes")
    try:
        document = yaml.safe_load(raw.decode("utf-8"))
    except (UnicodeDecodeError, yaml.YAMLError) as error:
        raise ServiceTiersError(f"not valid YAML: {error}") from error
    try:
        parsed = _TiersFile.model_validate(document)
        tiers = {
            grade: ServiceTier(grade=grade, **entry.model_dump())
            for grade, entry in parsed.tiers.items()
        }
    except ValidationError as error:
        first = error.errors()[0]
        where = ".".join(str(part) for part in first["loc"]) or "file"
        raise ServiceTiersError(f"{where}: {first['msg']}") from error
    missing = [grade for grade in GRADES if grade not in tiers]
    if missing:
        raise ServiceTiersError(f"tiers: no tier for grade {', '.join(missing)}")
    for grade, tier in tiers.items():
        counts = tier.repayment_terms.instalments
        if list(counts) != sorted(set(counts)) or any(
            not 2 <= n <= MAX_INSTALMENTS for n in counts
        ):
            raise ServiceTiersError(
                f"tiers.{grade}.repayment_terms.instalments: distinct counts from 2 to "
                f"{MAX_INSTALMENTS}, ascending"
            )
    for better, worse in itertools.pairwise(GRADES):
        _check_order(tiers[better], tiers[worse])
    return ServiceTiers(parsed.version, tiers)


def _check_order(better: ServiceTier, worse: ServiceTier) -> None:
    terms, other = better.repayment_terms, worse.repayment_terms
    problems = []
    if other.one_off and not terms.one_off:
        problems.append("one-off repayment")
    if not set(other.instalments) <= set(terms.instalments):
        problems.append("instalment counts")
    if other.deferral_days > terms.deferral_days:
        problems.append("deferral days")
    if PROMOTIONS.index(worse.promotions) < PROMOTIONS.index(better.promotions):
        problems.append("promotions")
    if MONITORING.index(worse.monitoring) < MONITORING.index(better.monitoring):
        problems.append("monitoring (closer for the better grade)")
    if problems:
        raise ServiceTiersError(
            f"tiers.{better.grade}: grade {better.grade} gets less than grade {worse.grade} "
            f"in {', '.join(problems)}"
        )


def read_service_tiers(path: Path | None) -> ServiceTiers:
    """The tiers of ``path`` (None: the packaged file); ServiceTiersError when it cannot
    be read or is invalid."""
    source = path or DEFAULT_SERVICE_TIERS_PATH
    try:
        text = source.read_bytes()
    except OSError as error:
        raise ServiceTiersError(f"service tiers file {source} cannot be read: {error}") from error
    try:
        return load_service_tiers(text)
    except ServiceTiersError as error:
        raise ServiceTiersError(f"{source}: {error}") from error
