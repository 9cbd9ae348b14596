"""A reference consumer of ``risk.actions``: the order system's side of the contract.

Each action carries a stable ``action_id``: the same trigger always yields the same id, and
Kafka delivers at least once, so the same action can arrive more than once (a redelivery
after a crash, a replay). This consumer applies each id exactly once: the id is recorded in
the same SQLite transaction that changes the account, so a redelivered action finds its id
and changes nothing. Offsets are committed after the transaction, so a crash between the
two only causes a redelivery, which is a no-op.

An action that restricts credit (cut_limit, freeze_credit, require_prepayment,
suspend_account) carries an adverse-action notice in the customer's language: the
principal reasons, what would help and how to appeal. The notice goes into an outbox table
in the same transaction as the account change, so it is sent once; a sender then delivers
what the outbox holds (here it prints it; a real one sends a message or an app
notification) and marks it sent, so a crash before sending only delays it.

Grades also drive service. Every score answer (checkout asks ``POST /v1/score``) carries
the customer's ``service_tier``: the repayment terms to offer, promotions, monitoring and
VIP treatment. :meth:`OrderAccounts.apply_service_tier` keeps the latest one per account,
and :meth:`OrderAccounts.repayment_options` is what checkout then offers: the tier's terms,
or nothing on credit while credit is frozen, the account suspended or prepayment required.
A limit application granted (at once, or by a reviewer) arrives as a ``notify`` carrying
``limit_granted``, which sets the account's granted limit.

Run it against a local platform (``make up``)::

    python -m examples.order_system_consumer --db orders.sqlite

and it prints every action it applies. ``RISKSTREAM_KAFKA_BOOTSTRAP_SERVERS`` and
``RISKSTREAM_TOPIC_PREFIX`` choose the cluster and topics, as for the services.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import sqlite3
import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from pydantic import ValidationError

from schemas.actions import RiskAction
from schemas.tiers import NO_CREDIT_TERMS, RepaymentTerms, ServiceTier
from services.common.kafka import make_consumer
from services.common.settings import ServiceSettings
from services.common.topics import Topic

_SCHEMA = """
CREATE TABLE IF NOT EXISTS applied_actions (
    action_id TEXT PRIMARY KEY,
    customer_id TEXT NOT NULL,
    action TEXT NOT NULL,
    issued_at TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS notice_outbox (
    action_id TEXT PRIMARY KEY,
    customer_id TEXT NOT NULL,
    locale TEXT NOT NULL,
    title TEXT NOT NULL,
    body TEXT NOT NULL,
    sent INTEGER NOT NULL DEFAULT 0
);
CREATE TABLE IF NOT EXISTS accounts (
    customer_id TEXT PRIMARY KEY,
    credit_frozen INTEGER NOT NULL DEFAULT 0,
    suspended INTEGER NOT NULL DEFAULT 0,
    prepayment_required INTEGER NOT NULL DEFAULT 0,
    credit_limit REAL,
    pending_review INTEGER NOT NULL DEFAULT 0
);
CREATE TABLE IF NOT EXISTS account_service (
    customer_id TEXT PRIMARY KEY,
    granted_limit REAL,
    tier TEXT,
    vip INTEGER NOT NULL DEFAULT 0,
    promotions TEXT,
    monitoring TEXT,
    repayment_terms TEXT
);
"""

# What each action changes on the account; notify changes nothing (the customer is told).
_UPDATES: dict[str, str] = {
    "freeze_credit": "credit_frozen = 1",
    "unfreeze_credit": "credit_frozen = 0",
    "suspend_account": "suspended = 1",
    "reinstate_account": "suspended = 0",
    "require_prepayment": "prepayment_required = 1",
    "cut_limit": "credit_limit = :limit",
    # The contract: restore_limit's limit is what other rules still impose (null: the
    # model's limit applies again).
    "restore_limit": "credit_limit = :limit, prepayment_required = 0",
    "manual_review": "pending_review = 1",
}
# A review decision that confirms or releases closes the review (an escalation keeps it).
_CLOSES_REVIEW = frozenset({"confirmed", "released"})


@dataclass(frozen=True, slots=True)
class OutgoingNotice:
    """A notice to send to a customer, with the action it is about."""

    action_id: str
    customer_id: str
    locale: str
    title: str
    body: str


class OrderAccounts:
    """The order system's accounts and the ids of the actions already applied."""

    def __init__(self, path: Path) -> None:
        self._db = sqlite3.connect(path)
        self._db.executescript(_SCHEMA)

    def close(self) -> None:
        self._db.close()

    def apply(self, action: RiskAction) -> bool:
        """Applies ``action`` once; False (and no change) when its id was applied before."""
        with self._db:  # one transaction: the id and the account change, or neither
            inserted = self._db.execute(
                "INSERT OR IGNORE INTO applied_actions VALUES (?, ?, ?, ?)",
                (action.action_id, action.customer_id, action.action, action.issued_at.isoformat()),
            )
            if inserted.rowcount == 0:
                return False
            self._db.execute(
                "INSERT OR IGNORE INTO accounts (customer_id) VALUES (?)", (action.customer_id,)
            )
            update = _UPDATES.get(action.action)
            if update is not None:
                self._db.execute(
                    f"UPDATE accounts SET {update} WHERE customer_id = :customer",  # noqa: S608 (fixed text)
                    {"limit": action.credit_limit, "customer": action.customer_id},
                )
            if action.limit_granted is not None:
                self._db.execute(
                    "INSERT INTO account_service (customer_id, granted_limit) VALUES (?, ?)"
                    " ON CONFLICT (customer_id)"
                    " DO UPDATE SET granted_limit = excluded.granted_limit",
                    (action.customer_id, action.limit_granted),
                )
            if action.review_outcome in _CLOSES_REVIEW:
                self._db.execute(
                    "UPDATE accounts SET pending_review = 0 WHERE customer_id = ?",
                    (action.customer_id,),
                )
            notice = action.notice
            if notice is not None:
                self._db.execute(
                    "INSERT INTO notice_outbox (action_id, customer_id, locale, title, body)"
                    " VALUES (?, ?, ?, ?, ?)",
                    (
                        action.action_id,
                        action.customer_id,
                        notice.locale,
                        notice.title,
                        notice.body,
                    ),
                )
        return True

    def apply_service_tier(self, customer_id: str, tier: ServiceTier) -> None:
        """Keeps the tier a score answer carried as the account's service tier."""
        with self._db:
            self._db.execute(
                "INSERT INTO account_service"
                " (customer_id, tier, vip, promotions, monitoring, repayment_terms)"
                " VALUES (:customer, :tier, :vip, :promotions, :monitoring, :terms)"
                " ON CONFLICT (customer_id) DO UPDATE SET tier = :tier, vip = :vip,"
                " promotions = :promotions, monitoring = :monitoring, repayment_terms = :terms",
                {
                    "customer": customer_id,
                    "tier": tier.name,
                    "vip": int(tier.vip),
                    "promotions": tier.promotions,
                    "monitoring": tier.monitoring,
                    "terms": tier.repayment_terms.model_dump_json(),
                },
            )

    def service(self, customer_id: str) -> dict[str, object] | None:
        """The account's service tier and granted limit, as last applied."""
        cursor = self._db.execute(
            "SELECT * FROM account_service WHERE customer_id = ?", (customer_id,)
        )
        row = cursor.fetchone()
        if row is None:
            return None
        return {column[0]: value for column, value in zip(cursor.description, row, strict=True)}

    def repayment_options(self, customer_id: str) -> RepaymentTerms:
        """What checkout offers the customer for paying later: the tier's terms, or none
        while credit is frozen, the account suspended or prepayment required (the
        actions applied say so), or before any tier is known."""
        service = self.service(customer_id)
        if service is None or service["repayment_terms"] is None:
            return NO_CREDIT_TERMS
        account = self.account(customer_id)
        if account is not None and (
            account["credit_frozen"] or account["suspended"] or account["prepayment_required"]
        ):
            return NO_CREDIT_TERMS
        return RepaymentTerms.model_validate_json(str(service["repayment_terms"]))

    def unsent_notices(self) -> list[OutgoingNotice]:
        """Notices recorded and not yet sent, oldest first."""
        rows = self._db.execute(
            "SELECT action_id, customer_id, locale, title, body FROM notice_outbox"
            " WHERE sent = 0 ORDER BY rowid"
        )
        return [OutgoingNotice(*row) for row in rows]

    def mark_sent(self, action_id: str) -> None:
        with self._db:
            self._db.execute("UPDATE notice_outbox SET sent = 1 WHERE action_id = ?", (action_id,))

    def deliver_notices(self, send: Callable[[OutgoingNotice], None]) -> int:
        """Sends every unsent notice with ``send`` and marks it sent; returns how many.
        A notice is marked only after ``send`` returned, so none is lost; one may be
        sent twice if the process dies in between (a sender that can should dedupe by
        ``action_id``)."""
        sent = 0
        for outgoing in self.unsent_notices():
            send(outgoing)
            self.mark_sent(outgoing.action_id)
            sent += 1
        return sent

    def applied_ids(self) -> list[str]:
        return [row[0] for row in self._db.execute("SELECT action_id FROM applied_actions")]

    def account(self, customer_id: str) -> dict[str, object] | None:
        cursor = self._db.execute("SELECT * FROM accounts WHERE customer_id = ?", (customer_id,))
        row = cursor.fetchone()
        if row is None:
            return None
        return {column[0]: value for column, value in zip(cursor.description, row, strict=True)}


def describe_notice(outgoing: OutgoingNotice) -> str:
    return f"notice to {outgoing.customer_id} [{outgoing.locale}]:\n{outgoing.body}"


def describe(action: RiskAction) -> str:
    limit = "" if action.credit_limit is None else f" (limit {action.credit_limit:g})"
    review = "" if action.review_outcome is None else f" (review {action.review_outcome})"
    return (
        f"applied {action.action}{limit}{review} to {action.customer_id} "
        f"[{action.severity}, {action.rule_id}]: {action.reason}"
    )


async def consume(
    settings: ServiceSettings,
    accounts: OrderAccounts,
    group_id: str,
    report: Callable[[str], None],
    stop: asyncio.Event | None = None,
    deliver: Callable[[OutgoingNotice], None] | None = None,
) -> None:
    """Applies actions from ``risk.actions`` until ``stop`` is set (forever without it);
    after each batch, ``deliver`` sends the notices the outbox holds (without it they wait
    there). A record that is not a RiskAction is reported and skipped."""
    consumer = make_consumer(settings, settings.topics(Topic.ACTIONS), group_id=group_id)
    await consumer.start()
    try:
        while stop is None or not stop.is_set():
            batches = await consumer.getmany(timeout_ms=200, max_records=500)
            for records in batches.values():
                for record in records:
                    try:
                        action = RiskAction.model_validate_json(record.value or b"")
                    except ValidationError as error:
                        report(f"skipped offset {record.offset}: not a risk action: {error}")
                        continue
                    if accounts.apply(action):
                        report(describe(action))
            if batches:
                await consumer.commit()
            if deliver is not None:
                accounts.deliver_notices(deliver)
    finally:
        await consumer.stop()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--db", type=Path, default=Path("order-system.sqlite"))
    parser.add_argument("--group", default="order-system")
    arguments = parser.parse_args(argv)
    settings = ServiceSettings(service_name="order-system-example")
    accounts = OrderAccounts(arguments.db)
    try:
        with contextlib.suppress(KeyboardInterrupt):
            asyncio.run(
                consume(
                    settings,
                    accounts,
                    f"{settings.topic_prefix}{arguments.group}",
                    lambda line: print(line, flush=True),
                    deliver=lambda outgoing: print(describe_notice(outgoing), flush=True),
                )
            )
    finally:
        accounts.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
