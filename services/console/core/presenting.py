"""Tables and sentences for people: features by window, what lifts a restriction, and a
rule file's changes line by line."""

from __future__ import annotations

import difflib
import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Final, Literal

WINDOWS: Final = ("1h", "24h", "7d", "30d", "90d")
_WINDOWED: Final = re.compile(r"^(?P<base>.+)_(?P<window>1h|24h|7d|30d|90d)$")
_REVERSAL_OF: Final = {
    "cut_limit": "restore_limit",
    "require_prepayment": "restore_limit",
    "freeze_credit": "unfreeze_credit",
    "suspend_account": "reinstate_account",
}
_COMPARISONS: Final = {
    "<=": "is at most",
    ">=": "is at least",
    "==": "is",
    "!=": "is not",
    "<": "is below",
    ">": "is above",
}
_GRADE_COMPARISONS: Final = {
    "<=": "or better",
    ">=": "or worse",
    "<": "better than",
    ">": "worse than",
}
_TOKEN: Final = re.compile(
    r"\s*(?:(?P<number>\d+(?:\.\d+)?)|(?P<string>\"[^\"]*\")|(?P<name>[A-Za-z_][A-Za-z0-9_]*)"
    r"|(?P<op><=|>=|==|!=|<|>|\(|\)|,|[-+*/]))"
)


@dataclass(frozen=True, slots=True)
class FeatureTable:
    """Windowed features as rows of a base name and one value per window, and the other
    features by name."""

    windows: tuple[str, ...]
    rows: list[tuple[str, dict[str, float | None]]]
    others: list[tuple[str, float | None]]


def feature_table(features: Mapping[str, float | None]) -> FeatureTable:
    """Groups ``orders_count_1h`` .. ``orders_count_90d`` into one row, in window order."""
    windowed: dict[str, dict[str, float | None]] = {}
    others: list[tuple[str, float | None]] = []
    for name, value in features.items():
        match = _WINDOWED.match(name)
        if match is None:
            others.append((name, value))
        else:
            windowed.setdefault(match["base"], {})[match["window"]] = value
    used = tuple(w for w in WINDOWS if any(w in row for row in windowed.values()))
    return FeatureTable(used, sorted(windowed.items()), sorted(others))


def condition_in_words(source: str) -> str:
    """A rule condition read aloud: ``grade <= "B"`` becomes "grade is B or better",
    ``coalesce(x, 0) < 0.2`` becomes "x (0 when undefined) is below 0.2". Anything the
    reading does not know is kept as written."""
    tokens = _tokens(source)
    if tokens is None:
        return source
    words: list[str] = []
    index = 0
    while index < len(tokens):
        kind, text = tokens[index]
        if kind == "name" and text == "coalesce" and _is_call(tokens, index):
            inner, default, index = _coalesce(tokens, index)
            words.append(f"{inner} ({default} when undefined)")
            continue
        if kind == "op" and text in _COMPARISONS:
            left = words[-1] if words else ""
            right = tokens[index + 1][1].strip('"') if index + 1 < len(tokens) else ""
            if left == "grade" and text in _GRADE_COMPARISONS:
                words.append(f"is {right} {_GRADE_COMPARISONS[text]}")
            else:
                words.append(f"{_COMPARISONS[text]} {right}")
            index += 2
            continue
        words.append(text.strip('"') if kind == "string" else text)
        index += 1
    return " ".join(words).replace("( ", "(").replace(" )", ")")


def _tokens(source: str) -> list[tuple[str, str]] | None:
    tokens: list[tuple[str, str]] = []
    position = 0
    while position < len(source):
        if source[position:].strip() == "":
            break
        match = _TOKEN.match(source, position)
        if match is None or match.end() == position:
            return None
        kind = match.lastgroup or "op"
        tokens.append((kind, match[kind]))
        position = match.end()
    return tokens


def _is_call(tokens: list[tuple[str, str]], index: int) -> bool:
    return index + 1 < len(tokens) and tokens[index + 1][1] == "("


def _coalesce(tokens: list[tuple[str, str]], index: int) -> tuple[str, str, int]:
    """``coalesce(name, default)`` starting at ``index``: name, default, next index."""
    parts = [text for _, text in tokens[index + 2 : index + 6]]
    if len(parts) == 4 and parts[1] == "," and parts[3] == ")":
        return parts[0], parts[2], index + 6
    return "coalesce", "", index + 1


def lifted_by(hold: Mapping[str, Any], rules: Mapping[str, Mapping[str, Any]]) -> str:
    """What would lift a restriction in force, in words, from the rule that imposed it
    (``rules``: the live rules by id, as ``GET /v1/rules`` describes them)."""
    action = str(hold.get("action", ""))
    rule_id = str(hold.get("rule_id", ""))
    reversal = _REVERSAL_OF.get(action)
    if reversal is None:
        return "A one-off notice: nothing to lift."
    if rule_id in ("manual-override", "case-review"):
        return f"Only a reviewer's release or an administrator's {reversal} lifts it."
    rule = rules.get(rule_id)
    if rule is None:
        return (
            f"Rule {rule_id} is no longer live, so no score lifts it: "
            f"a reviewer's release or an administrator's {reversal} does."
        )
    if reversal not in rule.get("on_exit", []):
        return f"Rule {rule_id} keeps it until a reviewer or an administrator lifts it."
    hours = float(rule.get("min_hours_in_state") or 0)
    held = f"on every score for {hours:g} hours" if hours else "on a score"
    condition = condition_in_words(str(rule.get("exit_when", "")))
    return f"Lifted ({reversal}) once {condition} has held {held}."


@dataclass(frozen=True, slots=True)
class DiffLine:
    """One line of a rule file comparison: ``kind`` is ``same``, ``removed`` or ``added``;
    the line numbers are those of the old and the new file (None where it has none)."""

    kind: Literal["same", "removed", "added"]
    old_line: int | None
    new_line: int | None
    text: str


def rules_diff(old: str, new: str, context: int = 3) -> list[DiffLine | None]:
    """The changed lines of ``new`` against ``old`` with ``context`` lines around each
    change; None marks lines left out between two changes."""
    old_lines, new_lines = old.splitlines(), new.splitlines()
    matcher = difflib.SequenceMatcher(a=old_lines, b=new_lines, autojunk=False)
    result: list[DiffLine | None] = []
    for group in matcher.get_grouped_opcodes(context):
        if result:
            result.append(None)
        for tag, i1, i2, j1, j2 in group:
            if tag == "equal":
                result.extend(
                    DiffLine("same", i1 + k + 1, j1 + k + 1, old_lines[i1 + k])
                    for k in range(i2 - i1)
                )
                continue
            result.extend(DiffLine("removed", i + 1, None, old_lines[i]) for i in range(i1, i2))
            result.extend(DiffLine("added", None, j + 1, new_lines[j]) for j in range(j1, j2))
    return result


_ORIGIN_LABELS: dict[str, str] = {
    "rule_review": "rule review",
    "escalation": "escalation",
    "appeal": "customer's appeal",
    "limit_application": "limit application",
}


def origin_label(origin: str) -> str:
    """Where a review case came from, in words (an origin not known here as it is)."""
    return _ORIGIN_LABELS.get(origin, origin)


def decision_words(origin: str, grants_limit: bool) -> dict[str, str]:
    """What confirm, release and escalate mean for a case of ``origin`` (a case that
    grants a limit when released is a limit application or its escalation)."""
    if grants_limit:
        return {
            "confirm": "Decline the application",
            "release": "Approve the application (grants the limit shown)",
            "escalate": "Pass it to an approver",
        }
    if origin == "appeal":
        return {
            "confirm": "Reject the appeal (the restriction stays)",
            "release": "Uphold the appeal (lifts the restriction under appeal)",
            "escalate": "Pass it to an approver",
        }
    return {
        "confirm": "Confirm the restriction",
        "release": "Release it",
        "escalate": "Escalate to an approver (freezes credit)",
    }
