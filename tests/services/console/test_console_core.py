"""The console's words and tables, and its settings' refusals in production."""

import pytest
from argon2 import PasswordHasher
from pydantic import SecretStr
from typer.testing import CliRunner

from services.cli.main import app
from services.console.core import (
    decision_words,
    feature_table,
    lifted_by,
    origin_label,
    rules_diff,
)
from services.console.core.presenting import condition_in_words
from services.console.settings import DEVELOPMENT_PASSWORD, ConsoleSettings

RULES = {
    "low_grade": {
        "exit_when": 'grade <= "B"',
        "min_hours_in_state": 72,
        "on_exit": ["restore_limit"],
    },
    "keeper": {"exit_when": "score > 700", "min_hours_in_state": 0, "on_exit": []},
}


@pytest.mark.parametrize(
    ("source", "words"),
    [
        ('grade <= "B"', "grade is B or better"),
        ('grade >= "C"', "grade is C or worse"),
        ("chargebacks_90d == 0", "chargebacks_90d is 0"),
        (
            "refunds_without_return_30d <= 1 and coalesce(refund_rate_30d, 0) < 0.2",
            "refunds_without_return_30d is at most 1 and refund_rate_30d (0 when undefined) "
            "is below 0.2",
        ),
        ("weird ~ thing", "weird ~ thing"),
    ],
)
def test_conditions_read_as_words(source: str, words: str) -> None:
    assert condition_in_words(source) == words


def test_what_lifts_a_restriction_follows_the_rule_that_imposed_it() -> None:
    cut = {"action": "cut_limit", "rule_id": "low_grade"}
    assert lifted_by(cut, RULES) == (
        "Lifted (restore_limit) once grade is B or better has held on every score for 72 hours."
    )
    kept = {"action": "freeze_credit", "rule_id": "keeper"}
    assert "keeps it until a reviewer" in lifted_by(kept, RULES)
    manual = {"action": "freeze_credit", "rule_id": "case-review"}
    assert "reviewer's release" in lifted_by(manual, RULES)
    gone = {"action": "freeze_credit", "rule_id": "removed_rule"}
    assert "no longer live" in lifted_by(gone, RULES)
    assert lifted_by({"action": "notify", "rule_id": "low_grade"}, RULES).startswith("A one-off")


def test_features_are_grouped_by_window() -> None:
    table = feature_table(
        {"orders_count_1h": 1.0, "orders_count_30d": 4.0, "refund_rate_30d": None, "x": 2.0}
    )
    assert table.windows == ("1h", "30d")
    assert table.rows == [
        ("orders_count", {"1h": 1.0, "30d": 4.0}),
        ("refund_rate", {"30d": None}),
    ]
    assert table.others == [("x", 2.0)]


def test_a_rule_diff_numbers_both_files_and_elides_unchanged_runs() -> None:
    old = "\n".join(f"line {n}" for n in range(1, 21))
    new = old.replace("line 2\n", "line two\n").replace("line 19", "line nineteen")
    diff = rules_diff(old, new, context=1)
    changed = [(d.kind, d.old_line, d.new_line) for d in diff if d and d.kind != "same"]
    assert changed == [
        ("removed", 2, None),
        ("added", None, 2),
        ("removed", 19, None),
        ("added", None, 19),
    ]
    assert None in diff


def test_production_refuses_the_development_accounts_secret_and_key() -> None:
    strong = SecretStr("a-long-production-secret")
    keys = {
        "client_api_keys": [SecretStr("c" * 20)],
        "admin_api_keys": [SecretStr("a" * 20)],
        "pseudonym_key": SecretStr("p" * 20),
    }
    with pytest.raises(ValueError, match="development console accounts"):
        ConsoleSettings(
            env="production", session_secret=strong, console_api_key=SecretStr("k" * 20), **keys
        )
    with pytest.raises(ValueError, match="SESSION_SECRET"):
        ConsoleSettings(env="production", console_api_key=SecretStr("k" * 20), **keys)
    own = PasswordHasher().hash("a password of our own")
    settings = ConsoleSettings(
        env="production",
        session_secret=strong,
        console_api_key=SecretStr("k" * 20),
        console_accounts=f"lee:approver:{own}",  # type: ignore[arg-type]
        **keys,
    )
    assert len(settings.console_accounts) == 1
    assert DEVELOPMENT_PASSWORD not in repr(settings)


def test_hash_password_prints_an_argon2_hash() -> None:
    result = CliRunner().invoke(
        app, ["console", "hash-password"], input="correct horse battery\ncorrect horse battery\n"
    )
    assert result.exit_code == 0
    hashed = result.stdout.strip().splitlines()[-1]
    assert PasswordHasher().verify(hashed, "correct horse battery")


def test_case_origins_and_decisions_are_put_in_words() -> None:
    assert origin_label("appeal") == "customer's appeal"
    assert origin_label("something_new") == "something_new"
    assert "freezes credit" in decision_words("rule_review", False)["escalate"]
    appeal = decision_words("appeal", False)
    assert ("Reject" in appeal["confirm"], "Uphold" in appeal["release"]) == (True, True)
    assert "freezes" not in appeal["escalate"]
    application = decision_words("escalation", True)
    assert ("Decline" in application["confirm"], "Approve" in application["release"]) == (
        True,
        True,
    )
