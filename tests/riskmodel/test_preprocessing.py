from __future__ import annotations

import math

import pytest

from riskmodel.errors import EncodingError
from riskmodel.manifest import ColumnEncoding
from riskmodel.preprocessing import encode_record, encode_value

CITY = ColumnEncoding(name="city", kind="categorical", categories=["beijing", "chengdu"])
INCOME = ColumnEncoding(name="income", kind="numeric")


def test_categories_become_their_index_and_numbers_stay_numbers() -> None:
    assert encode_record({"city": "chengdu", "income": "8000.5"}, [CITY, INCOME]) == [1.0, 8000.5]
    assert encode_record({"income": 12, "city": "beijing"}, [INCOME, CITY]) == [12.0, 0.0]


@pytest.mark.parametrize("value", [None, "", math.nan, "lhasa"])
def test_missing_values_and_unseen_categories_are_nan(value: object) -> None:
    assert math.isnan(encode_value(value, CITY))


def test_an_absent_column_is_missing() -> None:
    assert math.isnan(encode_record({}, [INCOME])[0])


@pytest.mark.parametrize("value", ["rich", True, [1]])
def test_a_numeric_column_refuses_non_numbers(value: object) -> None:
    with pytest.raises(EncodingError, match="income"):
        encode_value(value, INCOME)


PURPOSE = ColumnEncoding(
    name="purpose",
    kind="woe",
    categories=["car", "education"],
    values=[0.4, -0.7],
    missing_value=-0.1,
)


def test_woe_columns_score_their_category_an_unseen_one_as_no_evidence() -> None:
    assert encode_value("car", PURPOSE) == 0.4
    assert encode_value("education", PURPOSE) == -0.7
    assert encode_value("yacht", PURPOSE) == 0.0
    assert encode_value(None, PURPOSE) == -0.1
    assert encode_value("", PURPOSE) == -0.1


def test_a_woe_column_needs_one_value_per_category() -> None:
    with pytest.raises(ValueError, match="one value per category"):
        ColumnEncoding(name="purpose", kind="woe", categories=["car"], values=[])
