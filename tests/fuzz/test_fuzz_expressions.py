"""Property tests of the warning rules' expression engine beyond its own unit tests: any
Unicode text at all (not only the grammar's alphabet) compiles or raises ExpressionError,
and a condition built from every function and operator evaluates to a boolean for any
feature values, NaN, infinities, nulls and extremes included."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from services.warning.core.expressions import (
    FUNCTIONS,
    Value,
    ValueType,
    Variable,
    compile_condition,
)
from services.warning.errors import ExpressionError

VARIABLES = {
    variable.name: variable
    for variable in (
        Variable("x", ValueType.NUMBER, "a feature"),
        Variable("y", ValueType.NUMBER, "another feature"),
        Variable("grade", ValueType.GRADE, "grade"),
    )
}
CONSTANTS = ("0", "1.5", "-2", "1e308")
NUMBERS = st.one_of(
    st.none(),
    st.floats(allow_nan=True, allow_infinity=True),
    st.integers(-(10**30), 10**30),
    st.sampled_from([0, -0.0, 1e-308, 5e-324, 1.7976931348623157e308]),
)


@settings(max_examples=500, deadline=None)
@given(st.text(max_size=200))
def test_any_text_compiles_or_raises_expression_error(source: str) -> None:
    try:
        condition = compile_condition(source, VARIABLES)
    except ExpressionError as error:
        assert 1 <= error.column <= len(source) + 1  # noqa: PT017 (the column is in range)
    else:
        assert condition({"x": 1.0, "y": None, "grade": "B"}) in (True, False)


@st.composite
def numeric_terms(draw: st.DrawFn, depth: int = 3) -> str:
    if depth == 0 or draw(st.booleans()):
        return draw(st.sampled_from(["x", "y", *CONSTANTS]))
    kind = draw(st.sampled_from(["binary", "negate", "call"]))
    if kind == "negate":
        return f"-({draw(numeric_terms(depth - 1))})"
    if kind == "call":
        function = draw(st.sampled_from(sorted(set(FUNCTIONS) - {"is_null"})))
        count = 1 if function == "abs" else draw(st.integers(2, 3))
        arguments = [draw(numeric_terms(depth - 1)) for _ in range(count)]
        return f"{function}({', '.join(arguments)})"
    operator = draw(st.sampled_from(["+", "-", "*", "/"]))
    return f"({draw(numeric_terms(depth - 1))} {operator} {draw(numeric_terms(depth - 1))})"


@st.composite
def conditions(draw: st.DrawFn, depth: int = 2) -> str:
    if depth == 0 or draw(st.booleans()):
        leaf = draw(st.sampled_from(["compare", "null", "grade"]))
        if leaf == "null":
            # A constant argument is refused at compile time: mix a feature in.
            name = draw(st.sampled_from(["x", "y"]))
            return f"is_null({name} * ({draw(numeric_terms())}))"
        if leaf == "grade":
            return f'grade {draw(st.sampled_from(["==", "<", ">="]))} "C"'
        comparison = draw(st.sampled_from(["==", "!=", "<", "<=", ">", ">="]))
        return f"{draw(numeric_terms())} {comparison} {draw(numeric_terms())}"
    if draw(st.booleans()):
        return f"not ({draw(conditions(depth - 1))})"
    keyword = draw(st.sampled_from(["and", "or"]))
    return f"({draw(conditions(depth - 1))}) {keyword} ({draw(conditions(depth - 1))})"


@settings(max_examples=400, deadline=None)
@given(
    conditions(),
    NUMBERS,
    NUMBERS,
    st.none() | st.sampled_from(["S", "A", "B", "C", "D"]),
)
def test_conditions_evaluate_to_a_boolean_for_any_feature_values(
    source: str, x: float | int | None, y: float | int | None, grade: str | None
) -> None:
    condition = compile_condition(source, VARIABLES)
    negated = compile_condition(f"not ({source})", VARIABLES)
    env: dict[str, Value] = {"x": x, "y": y, "grade": grade}
    result = condition(env)
    assert result in (True, False)
    assert negated(env) is not result
