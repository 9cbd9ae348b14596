"""Raw tabular records to model rows, for bundles trained from a CSV (the manifest's
``preprocessing``). Training encodes its rows with the same function, so the ONNX model and
LightGBM see identical inputs."""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence

from riskmodel.errors import EncodingError
from riskmodel.manifest import ColumnEncoding


def _is_missing(value: object) -> bool:
    return value is None or value == "" or (isinstance(value, float) and math.isnan(value))


def encode_value(value: object, column: ColumnEncoding) -> float:
    """One raw value as a model input (see :class:`ColumnEncoding`): numeric as a float;
    ``woe`` as its category's weight of evidence (``unseen_value`` for a category training
    never saw, ``missing_value`` when missing); ``categorical`` as its category's index.
    Missing (None, empty, NaN) is NaN except under ``woe``."""
    if column.kind == "woe":
        if _is_missing(value):
            return column.missing_value
        text = str(value)
        if text in column.categories:
            return column.values[column.categories.index(text)]
        return column.unseen_value
    if _is_missing(value):
        return math.nan
    if column.kind == "categorical":
        text = str(value)
        return float(column.categories.index(text)) if text in column.categories else math.nan
    if isinstance(value, bool) or not isinstance(value, int | float | str):
        raise EncodingError(f"column {column.name!r} expects a number, got {value!r}")
    try:
        return float(value)
    except ValueError as error:
        raise EncodingError(f"column {column.name!r} expects a number, got {value!r}") from error


def encode_record(record: Mapping[str, object], columns: Sequence[ColumnEncoding]) -> list[float]:
    """A raw record (column name to value) as a model row in ``columns`` order; an absent
    column counts as missing."""
    return [encode_value(record.get(column.name), column) for column in columns]
