import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from services.warning.core.expressions import (
    MAX_EXPRESSION_LENGTH,
    MAX_NESTING_DEPTH,
    Value,
    ValueType,
    Variable,
    compile_condition,
)
from services.warning.errors import ExpressionError

VARIABLES = {
    variable.name: variable
    for variable in (
        Variable("score", ValueType.NUMBER, "score"),
        Variable("ratio", ValueType.NUMBER, "a ratio that may be undefined"),
        Variable("count", ValueType.NUMBER, "a count"),
        Variable("grade", ValueType.GRADE, "grade"),
        Variable("previous_grade", ValueType.GRADE, "previous grade"),
        Variable("status", ValueType.STRING, "status", frozenset({"active", "frozen"})),
        Variable("channel", ValueType.STRING, "free text"),
    )
}


def holds(source: str, **env: Value) -> bool:
    return compile_condition(source, VARIABLES)(env)


def error_of(source: str) -> ExpressionError:
    with pytest.raises(ExpressionError) as caught:
        compile_condition(source, VARIABLES)
    return caught.value


@pytest.mark.parametrize(
    ("source", "expected"),
    [
        ("1 + 2 * 3 == 7", True),
        ("(1 + 2) * 3 == 9", True),
        ("10 - 4 - 3 == 3", True),
        ("12 / 3 / 2 == 2", True),
        ("-2 * -3 == 6", True),
        ("true or false and false", True),
        ("(true or false) and false", False),
        ("not 1 > 2 and 2 > 1", True),
        ("not (1 > 2 and 2 > 1)", True),
        ("1 < 2 == true", None),
    ],
)
def test_precedence(source: str, expected: bool | None) -> None:
    if expected is None:
        assert "chained" in error_of(source).reason
    else:
        assert holds(source) is expected


def test_variables_and_functions() -> None:
    env: dict[str, Value] = {"score": 452, "ratio": 0.25, "count": 3}
    assert holds("score < 500 and ratio >= 0.25", **env)
    assert holds("min(score, 400) == 400 and max(count, 7) == 7", **env)
    assert holds("abs(count - 10) == 7", **env)
    assert holds("coalesce(ratio, 0) > 0.2", **env)
    assert holds("count in [1, 2, 3] and score not in [1, 2]", **env)


def test_grades_order_from_best_to_worst() -> None:
    assert holds('grade >= "C"', grade="D")
    assert holds('grade >= "C"', grade="C")
    assert not holds('grade >= "C"', grade="B")
    assert holds("grade < previous_grade", grade="A", previous_grade="C")
    assert holds('grade in ["C", "D"]', grade="D")
    assert holds('coalesce(previous_grade, "B") == "B"', previous_grade=None)


def test_null_comparisons_are_false_and_null_propagates() -> None:
    for source in ("ratio > 0.5", "ratio <= 0.5", "ratio == 0.5", "ratio != 0.5"):
        assert not holds(source, ratio=None)
    assert not holds("ratio in [0.5]", ratio=None)
    assert not holds("ratio not in [0.5]", ratio=None)
    assert holds("not (ratio > 0.5)", ratio=None)
    assert holds("is_null(ratio)", ratio=None)
    assert holds("is_null(ratio)")  # an absent name reads as null
    assert not holds("ratio + 1 > 0", ratio=None)
    assert not holds("min(ratio, 1) < 2", ratio=None)
    assert holds("is_null(count / 0)", count=4)
    assert not holds('grade >= "A"', grade=None)


@pytest.mark.parametrize(
    ("source", "column", "fragment"),
    [
        ("score >", 8, "end of expression"),
        ("score > 1 )", 11, "unexpected ')'"),
        ("score = 1", 7, "use =="),
        ("score > 1 && count > 1", 11, "use 'and'"),
        ("score.__class__ > 1", 6, "attribute access"),
        ("__class__ > 1", 1, "unknown name '__class__'"),
        ("score > 1 and wealth > 2", 15, "unknown name 'wealth'"),
        ('__import__("os")', 1, "cannot be called"),
        ("eval(score) > 1", 1, "cannot be called"),
        ("(score)(1) > 1", 8, "unexpected '('"),
        ('grade >= "E"', 10, "not a grade"),
        ('status == "frozn"', 11, "never 'frozn'"),
        ("ratio == null", 1, "use is_null"),
        ('channel < "web"', 9, "orders numbers and grades only"),
        ('score > "high"', 1, "cannot compare a number with a string"),
        ("score + 1", 1, "must be true or false"),
        ("not score", 5, "'not' needs a boolean"),
        ("score and true", 1, "'and' needs a boolean"),
        ("abs(1, 2) > 1", 1, "abs takes one argument"),
        ("min(score) > 1", 1, "two or more"),
        ("count in [1, score]", 14, "constants only"),
        ('"unterminated', 1, "unterminated string"),
        ("1.2.3 > 1", 1, "malformed number"),
        ("", 1, "empty expression"),
        ("score > 1 ; score", 11, "unexpected character ';'"),
    ],
)
def test_errors_carry_the_column(source: str, column: int, fragment: str) -> None:
    error = error_of(source)
    assert error.column == column, error
    assert fragment in error.reason


def test_limits_refuse_hostile_input() -> None:
    too_long = "score > 1 or " * (MAX_EXPRESSION_LENGTH // 13 + 1) + "score > 1"
    assert "longer than" in error_of(too_long).reason
    deep = "(" * (MAX_NESTING_DEPTH + 1) + "score > 1" + ")" * (MAX_NESTING_DEPTH + 1)
    assert "nested deeper" in error_of(deep).reason
    many_nots = "not " * (MAX_NESTING_DEPTH + 1) + "true"
    assert "nested deeper" in error_of(many_nots).reason
    long_chain = " + ".join(["score"] * (MAX_NESTING_DEPTH + 2)) + " > 1"
    assert "nested deeper" in error_of(long_chain).reason
    nested_chains = "score"
    for _ in range(MAX_NESTING_DEPTH // 2 + 1):  # each level adds two operators
        nested_chains = f"({nested_chains} + score + score)"
    assert "nested deeper" in error_of(nested_chains + " > 0").reason
    within = "(" * 10 + "score > 1" + ")" * 10
    assert holds(within, score=2)


def test_many_alternatives_stay_flat() -> None:
    source = " or ".join(f"count == {n}" for n in range(60))
    condition = compile_condition(source, VARIABLES)
    assert condition({"count": 59})
    assert not condition({"count": 60})


def test_condition_lists_the_names_it_reads_in_order() -> None:
    condition = compile_condition("count > 1 and (score < 3 or count < 0)", VARIABLES)
    assert condition.names == ("count", "score")


EXPRESSION_ALPHABET = st.sampled_from(
    [
        *"()[],.+-*/<>=!&|'\"_ 019eE",
        "score",
        "ratio",
        "grade",
        "status",
        "and",
        "or",
        "not",
        "in",
        "null",
        "true",
        '"C"',
        "min(",
        "is_null(",
        "__class__",
        "\n",
        "\\",
    ]
)


@settings(max_examples=300, deadline=None)
@given(st.lists(EXPRESSION_ALPHABET, max_size=40).map("".join))
def test_arbitrary_text_raises_only_expression_errors(source: str) -> None:
    try:
        condition = compile_condition(source, VARIABLES)
    except ExpressionError as error:
        column = error.column
    else:
        column = None
    if column is not None:
        assert 1 <= column <= len(source) + 1
        return
    env: dict[str, Value] = {"score": 500, "ratio": None, "grade": "C", "status": "active"}
    assert condition(env) in (True, False)


NUMBER_TERMS = st.sampled_from(["score", "ratio", "count", "0", "2.5", "-1", "1e308"])


@st.composite
def number_expressions(draw: st.DrawFn, depth: int = 3) -> str:
    if depth == 0 or draw(st.booleans()):
        return draw(NUMBER_TERMS)
    operator = draw(st.sampled_from(["+", "-", "*", "/"]))
    left = draw(number_expressions(depth - 1))
    right = draw(number_expressions(depth - 1))
    return f"({left} {operator} {right})"


@settings(max_examples=200, deadline=None)
@given(
    number_expressions(),
    number_expressions(),
    st.sampled_from(["==", "!=", "<", "<=", ">", ">="]),
    st.one_of(st.none(), st.floats(allow_nan=False), st.integers(-1000, 1000)),
)
def test_valid_arithmetic_never_raises_and_negation_is_exact(
    left: str, right: str, comparison: str, ratio: float | int | None
) -> None:
    env: dict[str, Value] = {"score": 700, "ratio": ratio, "count": 0}
    condition = compile_condition(f"{left} {comparison} {right}", VARIABLES)
    negated = compile_condition(f"not ({left} {comparison} {right})", VARIABLES)
    assert condition(env) is not negated(env)
