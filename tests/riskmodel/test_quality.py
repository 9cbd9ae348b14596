from riskmodel.quality import threshold_quality


def test_each_threshold_flags_the_decisions_at_least_as_severe() -> None:
    outcomes = [
        ("approve", False),
        ("approve", True),
        ("review", False),
        ("review", True),
        ("prepay", True),
        ("prepay", False),
        ("decline", True),
    ]

    review, prepay, decline = threshold_quality(outcomes)  # type: ignore[arg-type]

    assert (review.threshold, review.true_positive, review.false_positive) == ("review", 3, 2)
    assert (review.false_negative, review.true_negative) == (1, 1)
    assert review.precision == 3 / 5
    assert review.recall == 3 / 4
    assert review.f1 == 2 * (3 / 5) * (3 / 4) / (3 / 5 + 3 / 4)
    assert (prepay.flagged, prepay.true_positive) == (3, 2)
    assert (decline.precision, decline.recall) == (1.0, 1 / 4)


def test_undefined_measures_are_none_not_zero() -> None:
    (review, _, decline) = threshold_quality([("approve", False), ("review", False)])

    assert review.precision == 0.0
    assert review.recall is None
    assert review.f1 is None
    assert decline.precision is None
    assert decline.to_dict()["flagged"] == 0
