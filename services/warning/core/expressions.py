"""A small, safe expression language for rule conditions.

Text is tokenized, parsed by recursive descent into an AST, type-checked against a declared
vocabulary of variables, and compiled once into nested closures; evaluating a compiled
expression is a few dictionary lookups and function calls. Nothing is ever handed to
Python's ``eval``/``exec``/``compile``, there is no attribute access, no indexing and no
call except the whitelisted functions in :data:`FUNCTIONS`.

Grammar, loosest binding first::

    or_expr    := and_expr ("or" and_expr)*
    and_expr   := not_expr ("and" not_expr)*
    not_expr   := "not" not_expr | comparison
    comparison := additive [("==" | "!=" | "<" | "<=" | ">" | ">=") additive
                           | ["not"] "in" "[" constant ("," constant)* "]"]
    additive   := term (("+" | "-") term)*
    term       := unary (("*" | "/") unary)*
    unary      := "-" unary | primary
    primary    := NUMBER | STRING | "true" | "false" | "null"
                | NAME | FUNCTION "(" or_expr ("," or_expr)* ")" | "(" or_expr ")"

Semantics (docs/rules.md has the analyst's version):

* Values are numbers, strings, grades, booleans or null. A variable may be null at run
  time (an undefined ratio, no previous score).
* Any comparison or ``in`` test with a null operand is **false** (``!=`` included);
  ``is_null(x)`` tests for null and ``coalesce(x, default)`` supplies a default.
  Comparing with the literal ``null`` is refused, since it could never be true.
* Arithmetic with a null operand, and division by zero, yield null.
* Grades order from best to worst, ``S < A < B < C < D``: ``grade >= "C"`` means
  "C or worse". Grade literals are checked (``"E"`` is refused).
* Strings support ``==``, ``!=`` and ``in`` only; a variable declared with a fixed set of
  values refuses literals outside it (``status == "frozn"``).
* Comparisons do not chain (``a < b < c`` is refused: write ``a < b and b < c``).
"""

from __future__ import annotations

import math
import operator
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from enum import StrEnum
from typing import Any, Final

from schemas.scores import GRADES
from services.warning.errors import ExpressionError

MAX_EXPRESSION_LENGTH: Final = 1_000
"""Longest accepted expression text, in characters."""
MAX_NESTING_DEPTH: Final = 32
"""Deepest accepted nesting of the syntax tree (parentheses, operators, calls)."""

Value = float | int | str | bool | None
"""A run-time value."""
Environment = Mapping[str, Value]
"""Variable values for one evaluation; an absent name reads as null."""
Evaluator = Callable[[Environment], Value]

GRADE_RANK: Final[Mapping[str, int]] = {grade: rank for rank, grade in enumerate(GRADES)}
"""S=0 (best) .. D=4 (worst)."""


class ValueType(StrEnum):
    NUMBER = "number"
    STRING = "string"
    GRADE = "grade"
    BOOLEAN = "boolean"
    NULL = "null"


@dataclass(frozen=True, slots=True)
class Variable:
    """A name an expression may use. ``choices`` restricts the string literals it may be
    compared with (None: any string)."""

    name: str
    type: ValueType
    description: str
    choices: frozenset[str] | None = None


# ---------------------------------------------------------------------------- tokens

_TOKEN_PATTERN: Final = re.compile(
    r"""
    (?P<space>\s+)
    | (?P<number>(?:\d+(?:\.\d*)?|\.\d+)(?:[eE][+-]?\d+)?)
    | (?P<name>[A-Za-z_][A-Za-z0-9_]*)
    | (?P<string>"[^"\\\n]*"|'[^'\\\n]*')
    | (?P<op>==|!=|<=|>=|<|>|\+|-|\*|/|\(|\)|\[|\]|,)
    """,
    re.VERBOSE,
)
_KEYWORDS: Final = frozenset({"and", "or", "not", "in", "true", "false", "null"})
_HINTS: Final[Mapping[str, str]] = {
    "=": "use == to compare",
    "&": "use 'and'",
    "|": "use 'or'",
    "!": "use 'not' (or != to compare)",
    ".": "attribute access is not allowed",
    '"': "unterminated string (strings cannot contain escapes or line breaks)",
    "'": "unterminated string (strings cannot contain escapes or line breaks)",
}


@dataclass(frozen=True, slots=True)
class _Token:
    kind: str  # number, name, keyword, string, op, end
    text: str
    column: int


def _tokenize(source: str) -> list[_Token]:
    tokens: list[_Token] = []
    position = 0
    while position < len(source):
        match = _TOKEN_PATTERN.match(source, position)
        if match is None:
            character = source[position]
            hint = _HINTS.get(character, "not part of the rule language")
            raise ExpressionError(f"unexpected character {character!r}: {hint}", position + 1)
        kind = match.lastgroup or ""
        text = match.group()
        if kind == "name" and text in _KEYWORDS:
            kind = "keyword"
        if kind == "number" and match.end() < len(source) and source[match.end()] == ".":
            raise ExpressionError("malformed number", position + 1)
        if kind != "space":
            tokens.append(_Token(kind, text, position + 1))
        position = match.end()
    tokens.append(_Token("end", "", len(source) + 1))
    return tokens


# ------------------------------------------------------------------------------- AST


@dataclass(frozen=True, slots=True)
class Constant:
    value: Value
    column: int
    height: int = 1


@dataclass(frozen=True, slots=True)
class Name:
    name: str
    column: int
    height: int = 1


@dataclass(frozen=True, slots=True)
class Negate:
    operand: Node
    column: int
    height: int


@dataclass(frozen=True, slots=True)
class Not:
    operand: Node
    column: int
    height: int


@dataclass(frozen=True, slots=True)
class Arithmetic:
    operator: str
    left: Node
    right: Node
    column: int
    height: int


@dataclass(frozen=True, slots=True)
class Comparison:
    operator: str
    left: Node
    right: Node
    column: int
    height: int


@dataclass(frozen=True, slots=True)
class Membership:
    operand: Node
    items: tuple[Constant, ...]
    negated: bool
    column: int
    height: int


@dataclass(frozen=True, slots=True)
class Logical:
    operator: str  # "and" | "or"
    operands: tuple[Node, ...]
    column: int
    height: int


@dataclass(frozen=True, slots=True)
class Call:
    function: str
    arguments: tuple[Node, ...]
    column: int
    height: int


Node = Constant | Name | Negate | Not | Arithmetic | Comparison | Membership | Logical | Call

FUNCTIONS: Final[Mapping[str, str]] = {
    "min": "min(a, b, ...): the smallest number (null if any argument is null)",
    "max": "max(a, b, ...): the largest number (null if any argument is null)",
    "abs": "abs(x): the absolute value (null if x is null)",
    "is_null": "is_null(x): true when x is null",
    "coalesce": "coalesce(x, y, ...): the first argument that is not null",
}
"""The only callable names, with what they do."""

_COMPARISONS: Final = frozenset({"==", "!=", "<", "<=", ">", ">="})


def _height(*children: Node) -> int:
    return 1 + max(child.height for child in children)


class _Parser:
    """Recursive descent over the token list. Two guards keep hostile input cheap: the
    descent depth (parentheses, prefixes, calls) is counted on the way down, and every
    node's height is checked on the way up, so neither parsing nor compiling nor
    evaluating can recurse deeper than :data:`MAX_NESTING_DEPTH` levels."""

    def __init__(self, source: str) -> None:
        self._tokens = _tokenize(source)
        self._index = 0
        self._depth = 0

    def parse(self) -> Node:
        node = self._or()
        token = self._peek()
        if token.kind != "end":
            raise ExpressionError(f"unexpected {_describe(token)}", token.column)
        return node

    def _peek(self) -> _Token:
        return self._tokens[self._index]

    def _advance(self) -> _Token:
        token = self._tokens[self._index]
        if token.kind != "end":
            self._index += 1
        return token

    def _at(self, kind: str, text: str) -> bool:
        token = self._peek()
        return token.kind == kind and token.text == text

    def _expect(self, kind: str, text: str) -> _Token:
        token = self._peek()
        if token.kind != kind or token.text != text:
            raise ExpressionError(f"expected {text!r}, found {_describe(token)}", token.column)
        return self._advance()

    def _descend(self, column: int) -> None:
        self._depth += 1
        if self._depth > MAX_NESTING_DEPTH:
            raise ExpressionError(f"nested deeper than {MAX_NESTING_DEPTH} levels", column)

    @staticmethod
    def _checked(node: Node) -> Node:
        if node.height > MAX_NESTING_DEPTH:
            raise ExpressionError(f"nested deeper than {MAX_NESTING_DEPTH} levels", node.column)
        return node

    def _or(self) -> Node:
        return self._logical("or", self._and)

    def _and(self) -> Node:
        return self._logical("and", self._not)

    def _logical(self, keyword: str, operand: Callable[[], Node]) -> Node:
        first = operand()
        if not self._at("keyword", keyword):
            return first
        column = self._peek().column
        operands = [first]
        while self._at("keyword", keyword):
            self._advance()
            operands.append(operand())
        return self._checked(Logical(keyword, tuple(operands), column, _height(*operands)))

    def _not(self) -> Node:
        if not self._at("keyword", "not"):
            return self._comparison()
        token = self._advance()
        self._descend(token.column)
        operand = self._not()
        self._depth -= 1
        return self._checked(Not(operand, token.column, _height(operand)))

    def _comparison(self) -> Node:
        left = self._additive()
        token = self._peek()
        if token.kind == "op" and token.text in _COMPARISONS:
            self._advance()
            right = self._additive()
            node: Node = Comparison(token.text, left, right, token.column, _height(left, right))
        elif self._at("keyword", "in") or self._at("keyword", "not"):
            negated = self._at("keyword", "not")
            self._advance()
            if negated:
                self._expect("keyword", "in")
            node = Membership(left, self._constant_list(), negated, token.column, _height(left))
        else:
            return left
        following = self._peek()
        if (following.kind == "op" and following.text in _COMPARISONS) or (
            following.kind == "keyword" and following.text in ("in", "not")
        ):
            raise ExpressionError(
                "comparisons cannot be chained; join them with 'and'", following.column
            )
        return self._checked(node)

    def _constant_list(self) -> tuple[Constant, ...]:
        self._expect("op", "[")
        items = [self._constant()]
        while self._at("op", ","):
            self._advance()
            items.append(self._constant())
        self._expect("op", "]")
        return tuple(items)

    def _constant(self) -> Constant:
        token = self._peek()
        negative = token.kind == "op" and token.text == "-"
        if negative:
            self._advance()
        literal = self._advance()
        if literal.kind == "number":
            number = float(literal.text)
            return Constant(-number if negative else number, token.column)
        if literal.kind == "string" and not negative:
            return Constant(literal.text[1:-1], token.column)
        if literal.kind == "keyword" and literal.text in ("true", "false") and not negative:
            return Constant(literal.text == "true", token.column)
        raise ExpressionError(
            "a list holds constants only (numbers, strings, true, false)", literal.column
        )

    def _additive(self) -> Node:
        return self._binary(("+", "-"), self._term)

    def _term(self) -> Node:
        return self._binary(("*", "/"), self._unary)

    def _binary(self, operators: tuple[str, ...], operand: Callable[[], Node]) -> Node:
        node = operand()
        while self._peek().kind == "op" and self._peek().text in operators:
            token = self._advance()
            right = operand()
            node = self._checked(
                Arithmetic(token.text, node, right, token.column, _height(node, right))
            )
        return node

    def _unary(self) -> Node:
        if not self._at("op", "-"):
            return self._primary()
        token = self._advance()
        self._descend(token.column)
        operand = self._unary()
        self._depth -= 1
        if isinstance(operand, Constant) and isinstance(operand.value, float):
            return Constant(-operand.value, token.column)
        return self._checked(Negate(operand, token.column, _height(operand)))

    def _primary(self) -> Node:
        token = self._advance()
        if token.kind == "number":
            return Constant(float(token.text), token.column)
        if token.kind == "string":
            return Constant(token.text[1:-1], token.column)
        if token.kind == "keyword" and token.text in ("true", "false", "null"):
            constants: dict[str, Value] = {"true": True, "false": False, "null": None}
            return Constant(constants[token.text], token.column)
        if token.kind == "op" and token.text == "(":
            self._descend(token.column)
            inner = self._or()
            self._expect("op", ")")
            self._depth -= 1
            return inner
        if token.kind == "name":
            if self._at("op", "("):
                return self._call(token)
            return Name(token.text, token.column)
        raise ExpressionError(f"unexpected {_describe(token)}", token.column)

    def _call(self, name: _Token) -> Node:
        if name.text not in FUNCTIONS:
            allowed = ", ".join(sorted(FUNCTIONS))
            raise ExpressionError(
                f"{name.text!r} cannot be called; the functions are {allowed}", name.column
            )
        self._descend(name.column)
        self._expect("op", "(")
        arguments = [self._or()]
        while self._at("op", ","):
            self._advance()
            arguments.append(self._or())
        self._expect("op", ")")
        self._depth -= 1
        return self._checked(Call(name.text, tuple(arguments), name.column, _height(*arguments)))


def _describe(token: _Token) -> str:
    return "end of expression" if token.kind == "end" else repr(token.text)


def parse(source: str) -> Node:
    """The syntax tree of ``source``; :class:`ExpressionError` (with column) if malformed
    or beyond :data:`MAX_EXPRESSION_LENGTH` / :data:`MAX_NESTING_DEPTH`."""
    if len(source) > MAX_EXPRESSION_LENGTH:
        raise ExpressionError(
            f"expression longer than {MAX_EXPRESSION_LENGTH} characters",
            MAX_EXPRESSION_LENGTH + 1,
        )
    if not source.strip():
        raise ExpressionError("empty expression", 1)
    return _Parser(source).parse()


# -------------------------------------------------------------------------- compiler


@dataclass(frozen=True, slots=True)
class _Typed:
    """A compiled sub-expression: its static type and its evaluator. ``variable`` is set
    for a bare variable (its declared values check literals); ``constant`` for a literal."""

    type: ValueType
    evaluate: Evaluator
    variable: Variable | None = None
    constant: bool = False


_ARITHMETIC: Final[Mapping[str, Callable[[float, float], float]]] = {
    "+": operator.add,
    "-": operator.sub,
    "*": operator.mul,
    "/": operator.truediv,
}
_ORDERINGS: Final[Mapping[str, Callable[[Any, Any], bool]]] = {
    "==": operator.eq,
    "!=": operator.ne,
    "<": operator.lt,
    "<=": operator.le,
    ">": operator.gt,
    ">=": operator.ge,
}


def _start(node: Node) -> int:
    """Column where the text of ``node`` begins (operators sit after their left side)."""
    match node:
        case Arithmetic(left=left) | Comparison(left=left):
            return _start(left)
        case Membership(operand=operand):
            return _start(operand)
        case Logical(operands=operands):
            return _start(operands[0])
    return node.column


def _constant_type(value: Value) -> ValueType:
    if value is None:
        return ValueType.NULL
    if isinstance(value, bool):
        return ValueType.BOOLEAN
    if isinstance(value, str):
        return ValueType.STRING
    return ValueType.NUMBER


class _Compiler:
    def __init__(self, variables: Mapping[str, Variable]) -> None:
        self._variables = variables
        self.names: list[str] = []

    def compile(self, node: Node) -> _Typed:
        match node:
            case Constant():
                return self._constant(node)
            case Name():
                return self._name(node)
            case Negate():
                return self._negate(node)
            case Not():
                inner = self._require(node.operand, ValueType.BOOLEAN, "'not'").evaluate
                return _Typed(ValueType.BOOLEAN, lambda env: not inner(env))
            case Arithmetic():
                return self._arithmetic(node)
            case Comparison():
                return self._comparison(node)
            case Membership():
                return self._membership(node)
            case Logical():
                return self._logical(node)
            case Call():
                return self._call(node)

    @staticmethod
    def _constant(node: Constant) -> _Typed:
        value = node.value
        return _Typed(_constant_type(value), lambda _env: value, constant=True)

    def _name(self, node: Name) -> _Typed:
        variable = self._variables.get(node.name)
        if variable is None:
            raise ExpressionError(f"unknown name {node.name!r}", node.column)
        if node.name not in self.names:
            self.names.append(node.name)
        name = node.name
        return _Typed(variable.type, lambda env: env.get(name), variable=variable)

    def _require(self, node: Node, expected: ValueType, where: str) -> _Typed:
        typed = self.compile(node)
        if typed.type is not expected:
            raise ExpressionError(f"{where} needs a {expected}, not a {typed.type}", _start(node))
        return typed

    def _negate(self, node: Negate) -> _Typed:
        inner = self._require(node.operand, ValueType.NUMBER, "'-'").evaluate

        def negate(env: Environment) -> Value:
            value = inner(env)
            return None if value is None else -value  # type: ignore[operator]

        return _Typed(ValueType.NUMBER, negate)

    def _arithmetic(self, node: Arithmetic) -> _Typed:
        where = repr(node.operator)
        left = self._require(node.left, ValueType.NUMBER, where).evaluate
        right = self._require(node.right, ValueType.NUMBER, where).evaluate
        function = _ARITHMETIC[node.operator]
        dividing = node.operator == "/"

        def arithmetic(env: Environment) -> Value:
            a = left(env)
            b = right(env)
            if a is None or b is None or (dividing and b == 0):
                return None
            result = function(a, b)  # type: ignore[arg-type]
            return None if math.isnan(result) else result

        return _Typed(ValueType.NUMBER, arithmetic)

    def _comparison(self, node: Comparison) -> _Typed:
        left = self.compile(node.left)
        right = self.compile(node.right)
        if ValueType.NULL in (left.type, right.type):
            raise ExpressionError(
                "a comparison with null is always false; use is_null(x)", _start(node)
            )
        if ValueType.GRADE in (left.type, right.type):
            left = self._rank(left, _start(node.left))
            right = self._rank(right, _start(node.right))
        elif left.type is not right.type:
            raise ExpressionError(f"cannot compare a {left.type} with a {right.type}", _start(node))
        elif node.operator not in ("==", "!=") and left.type is not ValueType.NUMBER:
            raise ExpressionError(
                f"{node.operator!r} orders numbers and grades only, not {left.type}s",
                node.column,
            )
        self._check_choice(left, right, _start(node.right))
        self._check_choice(right, left, _start(node.left))
        compare = _ORDERINGS[node.operator]
        first, second = left.evaluate, right.evaluate

        def comparison(env: Environment) -> Value:
            a = first(env)
            if a is None:
                return False
            b = second(env)
            return b is not None and compare(a, b)

        return _Typed(ValueType.BOOLEAN, comparison)

    @staticmethod
    def _rank(side: _Typed, column: int) -> _Typed:
        """The grade's rank (S=0 .. D=4) in place of a grade or a grade literal."""
        if side.type is ValueType.GRADE:
            inner = side.evaluate

            def rank(env: Environment) -> Value:
                value = inner(env)
                return GRADE_RANK.get(value) if isinstance(value, str) else None

            return _Typed(ValueType.GRADE, rank)
        if side.type is ValueType.STRING and side.constant:
            literal = side.evaluate({})
            if not isinstance(literal, str) or literal not in GRADE_RANK:
                raise ExpressionError(f"{literal!r} is not a grade (S, A, B, C, D)", column)
            constant_rank = GRADE_RANK[literal]
            return _Typed(ValueType.GRADE, lambda _env: constant_rank, constant=True)
        raise ExpressionError(f"cannot compare a grade with a {side.type}", column)

    @staticmethod
    def _check_choice(variable: _Typed, literal: _Typed, column: int) -> None:
        declared = variable.variable
        if declared is None or declared.choices is None or not literal.constant:
            return
        value = literal.evaluate({})
        if value not in declared.choices:
            allowed = ", ".join(sorted(declared.choices))
            raise ExpressionError(
                f"{declared.name} is never {value!r} (it is one of {allowed})", column
            )

    def _membership(self, node: Membership) -> _Typed:
        operand = self.compile(node.operand)
        if operand.type not in (ValueType.NUMBER, ValueType.STRING, ValueType.GRADE):
            raise ExpressionError(
                f"'in' tests numbers, strings and grades, not {operand.type}s", _start(node)
            )
        members: set[Value] = set()
        for item in node.items:
            typed = self._constant(item)
            if operand.type is ValueType.GRADE:
                typed = self._rank(typed, item.column)
            elif typed.type is not operand.type:
                raise ExpressionError(
                    f"list item is a {typed.type}, the left side a {operand.type}", item.column
                )
            self._check_choice(operand, typed, item.column)
            members.add(typed.evaluate({}))
        if operand.type is ValueType.GRADE:
            operand = self._rank(operand, node.column)
        inner = operand.evaluate
        frozen = frozenset(members)
        negated = node.negated

        def membership(env: Environment) -> Value:
            value = inner(env)
            return value is not None and ((value in frozen) is not negated)

        return _Typed(ValueType.BOOLEAN, membership)

    def _logical(self, node: Logical) -> _Typed:
        where = repr(node.operator)
        parts = tuple(
            self._require(operand, ValueType.BOOLEAN, where).evaluate for operand in node.operands
        )
        if node.operator == "and":
            return _Typed(ValueType.BOOLEAN, lambda env: all(part(env) for part in parts))
        return _Typed(ValueType.BOOLEAN, lambda env: any(part(env) for part in parts))

    def _call(self, node: Call) -> _Typed:
        arguments = [self.compile(argument) for argument in node.arguments]
        if node.function == "is_null":
            if len(arguments) != 1 or arguments[0].constant:
                raise ExpressionError(
                    "is_null takes one argument that is not a literal", node.column
                )
            inner = arguments[0].evaluate
            return _Typed(ValueType.BOOLEAN, lambda env: inner(env) is None)
        if node.function == "coalesce":
            return self._coalesce(node, arguments)
        for argument, source in zip(arguments, node.arguments, strict=True):
            if argument.type is not ValueType.NUMBER:
                raise ExpressionError(
                    f"{node.function} takes numbers, not a {argument.type}", _start(source)
                )
        if node.function == "abs":
            if len(arguments) != 1:
                raise ExpressionError("abs takes one argument", node.column)
            only = arguments[0].evaluate

            def absolute(env: Environment) -> Value:
                value = only(env)
                return None if value is None else abs(value)  # type: ignore[arg-type]

            return _Typed(ValueType.NUMBER, absolute)
        if len(arguments) < 2:
            raise ExpressionError(f"{node.function} takes two or more arguments", node.column)
        pick = min if node.function == "min" else max
        parts = tuple(argument.evaluate for argument in arguments)

        def extreme(env: Environment) -> Value:
            values = [part(env) for part in parts]
            if None in values:
                return None
            return pick(values)  # type: ignore[type-var]

        return _Typed(ValueType.NUMBER, extreme)

    def _coalesce(self, node: Call, arguments: list[_Typed]) -> _Typed:
        """Arguments share one type; a grade may be defaulted with a grade literal."""
        if len(arguments) < 2:
            raise ExpressionError("coalesce takes two or more arguments", node.column)
        result_type = arguments[0].type
        if any(argument.type is ValueType.GRADE for argument in arguments):
            result_type = ValueType.GRADE
            for argument, source in zip(arguments, node.arguments, strict=True):
                self._rank(argument, _start(source))  # refuses anything but grades
        elif result_type is ValueType.NULL or any(
            argument.type is not result_type for argument in arguments
        ):
            raise ExpressionError("coalesce takes arguments of one type, none null", node.column)
        parts = tuple(argument.evaluate for argument in arguments)

        def coalesce(env: Environment) -> Value:
            for part in parts:
                value = part(env)
                if value is not None:
                    return value
            return None

        return _Typed(result_type, coalesce)


@dataclass(frozen=True, slots=True)
class Condition:
    """A compiled boolean expression. ``names`` are the variables it reads, in order of
    first use (to explain a decision with the values that drove it)."""

    source: str
    names: tuple[str, ...]
    evaluator: Evaluator

    def __call__(self, env: Environment) -> bool:
        """True when the condition holds for ``env`` (absent names read as null). Never
        raises for an environment whose values match the declared variable types."""
        return bool(self.evaluator(env))


def compile_condition(source: str, variables: Mapping[str, Variable]) -> Condition:
    """Parses, type-checks and compiles a boolean expression over ``variables``.

    Raises :class:`ExpressionError` (with the column) for malformed text, unknown names,
    calls outside :data:`FUNCTIONS`, type errors, or a result that is not a boolean.
    """
    tree = parse(source)
    compiler = _Compiler(variables)
    typed = compiler.compile(tree)
    if typed.type is not ValueType.BOOLEAN:
        raise ExpressionError(f"a condition must be true or false, not a {typed.type}", 1)
    return Condition(source, tuple(compiler.names), typed.evaluate)
