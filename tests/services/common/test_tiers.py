"""The service tiers file: the packaged defaults, lookups and what a file may not say."""

from __future__ import annotations

import pytest

from services.common.tiers import (
    ServiceTiersError,
    load_service_tiers,
    read_service_tiers,
)

VALID = """
version: "t1"
tiers:
  S: {name: vip, vip: true, repayment_terms: {one_off: true, instalments: [3, 12], deferral_days: 30}, promotions: all, monitoring: standard}
  A: {name: a, repayment_terms: {one_off: true, instalments: [3], deferral_days: 7}, promotions: personalised, monitoring: standard}
  B: {name: b, repayment_terms: {one_off: true}, promotions: standard, monitoring: standard}
  C: {name: c, repayment_terms: {one_off: true}, promotions: restricted, monitoring: heightened}
  D: {name: d, repayment_terms: {one_off: false}, promotions: none, monitoring: intensive}
"""  # noqa: E501


def test_the_packaged_tiers_follow_the_grade_table() -> None:
    tiers = read_service_tiers(None)
    vip, standard, blocked = tiers.of("S"), tiers.of("B"), tiers.of("D")
    assert (vip.vip, vip.priority_service, vip.promotions) == (True, True, "all")
    assert vip.repayment_terms.deferral_days > standard.repayment_terms.deferral_days
    assert max(vip.repayment_terms.instalments) > max(standard.repayment_terms.instalments)
    assert (tiers.of("C").monitoring, tiers.of("C").fraud_checks) == ("heightened", True)
    assert not blocked.repayment_terms.on_credit
    assert tiers.view("A") == tiers.of("A").model_dump(mode="json")
    assert tiers.view("A") is tiers.view("A")  # built once


def test_a_frozen_or_suspended_account_gets_nothing_on_credit() -> None:
    tiers = load_service_tiers(VALID)
    frozen = tiers.of("S", "frozen")
    assert (frozen.restricted_by, frozen.promotions, frozen.vip) == ("frozen", "none", True)
    assert not frozen.repayment_terms.on_credit
    assert tiers.of("S", "limited") == tiers.of("S")


@pytest.mark.parametrize(
    ("change", "problem"),
    [
        (("  D: {name: d,", "  X: {name: d,"), "tiers"),
        (("instalments: [3, 12]", "instalments: [12, 3]"), "instalments"),
        (("instalments: [3, 12]", "instalments: [1]"), "instalments"),
        (("deferral_days: 7", "deferral_days: 90"), "deferral days"),
        (("promotions: restricted", "promotions: all"), "promotions"),
        (("monitoring: intensive", "monitoring: standard"), "monitoring"),
        (("vip: true,", "vip: true, gold: 1,"), "gold"),
        (('version: "t1"', "version: [1"), "YAML"),
    ],
)
def test_an_invalid_file_is_refused_naming_the_problem(
    change: tuple[str, str], problem: str
) -> None:
    with pytest.raises(ServiceTiersError, match=problem):
        load_service_tiers(VALID.replace(*change))
