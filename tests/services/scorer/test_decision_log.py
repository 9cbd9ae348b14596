"""The decision log writer and its spool, with a fake Kafka that can be switched off: every
decision reaches the topic once Kafka answers, in order, whatever happened between."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path

import pytest
from prometheus_client import REGISTRY

from schemas.decisions import DecisionRecord
from schemas.scores import ScoreRequest
from services.common.kafka import ProducerUnavailableError
from services.scorer.core import new_decision_id, score_answer
from services.scorer.decision_log import DecisionLogWriter, decision_json
from services.scorer.errors import SpoolError
from services.scorer.ports import Caller, Decided
from services.scorer.spool import Spool

TOPIC = "risk.decisions"


class SwitchableKafka:
    def __init__(self) -> None:
        self.up = True
        self.records: list[tuple[bytes | None, bytes]] = []

    async def send_all(self, topic: str, records: Sequence[tuple[bytes | None, bytes]]) -> None:
        assert topic == TOPIC
        if not self.up:
            raise ProducerUnavailableError("kafka is down")
        self.records.extend(records)

    def decision_ids(self) -> list[str]:
        return [DecisionRecord.model_validate_json(value).decision_id for _, value in self.records]


def decided(customer_id: str, features: dict[str, float | None] | None = None) -> Decided:
    now = datetime.now(UTC)
    answer = score_answer(
        customer_id,
        score=610,
        probability_of_default=0.04,
        grade="B",
        risk_level="green",
        decision="approve",
        credit_limit=5000.0,
        available_credit=4800.0,
        reasons=[],
        model_version="v1",
        features_as_of=now if features else None,
        fallback_reason=None,
        decision_id=new_decision_id(now),
    )
    request = ScoreRequest.model_validate(
        {
            "customer_id": customer_id,
            "order": {"amount": 120.5, "currency": "CNY", "payment_method": "bnpl"},
        }
    )
    return Decided(now, request, answer, features, "active", Caller("client:1234abcd", "r1"), 1, 0)


def writer(
    kafka: SwitchableKafka,
    directory: Path,
    max_bytes: int = 1 << 20,
    spool: Spool | None = None,
    **options: int,
) -> DecisionLogWriter:
    return DecisionLogWriter(
        kafka,
        TOPIC,
        spool or Spool(directory, max_bytes, 4096),
        batch_max=10,
        retry_s=0.0,
        **options,
    )


def dropped(reason: str) -> float:
    return (
        REGISTRY.get_sample_value("riskstream_decision_log_dropped_total", {"reason": reason})
        or 0.0
    )


async def test_decisions_are_produced_keyed_by_customer_as_frozen_records(tmp_path: Path) -> None:
    kafka = SwitchableKafka()
    log = writer(kafka, tmp_path)
    await log.start()
    decisions = [decided("c1", {"payments_failed_30d": 2.0}), decided("c2")]

    log.record(decisions)
    await log.flush()

    assert [key for key, _ in kafka.records] == [b"c1", b"c2"]
    first = DecisionRecord.model_validate_json(kafka.records[0][1])
    assert first.decision_id == decisions[0].answer["decision_id"]
    assert first.answer.decision_id == first.decision_id
    assert (first.caller, first.request_id, first.account_status) == (
        "client:1234abcd",
        "r1",
        "active",
    )
    assert first.features == {"payments_failed_30d": 2.0}
    assert first.request.order is not None
    assert float(first.request.order.amount) == 120.5
    assert DecisionRecord.model_validate_json(kafka.records[1][1]).features is None
    await log.close()


async def test_while_kafka_is_down_decisions_are_spooled_then_replayed_in_order(
    tmp_path: Path,
) -> None:
    kafka = SwitchableKafka()
    spool = Spool(tmp_path, 1 << 20, 4096)
    log = writer(kafka, tmp_path, spool=spool)
    await log.start()
    decisions = [decided(f"c{i % 3}") for i in range(45)]

    log.record(decisions[:5])
    await log.flush()
    kafka.up = False
    log.record(decisions[5:25])
    await log.flush()
    spooled = spool.size_bytes
    kafka.up = True
    log.record(decisions[25:])  # after the outage: queued behind the spool
    await log.flush()

    assert spooled
    assert kafka.decision_ids() == [d.answer["decision_id"] for d in decisions]
    assert spool.empty
    assert log.pending == 0
    await log.close()


async def test_a_clean_shutdown_while_kafka_is_down_keeps_every_decision_for_the_next_start(
    tmp_path: Path,
) -> None:
    kafka = SwitchableKafka()
    kafka.up = False
    log = writer(kafka, tmp_path)
    await log.start()
    decisions = [decided("c1") for _ in range(25)]
    log.record(decisions)

    await log.close()
    kafka.up = True
    restarted = writer(kafka, tmp_path)
    await restarted.start()
    await restarted.flush()

    assert kafka.decision_ids() == [d.answer["decision_id"] for d in decisions]
    await restarted.close()


async def test_what_fits_neither_the_spool_nor_the_queue_is_counted_as_dropped(
    tmp_path: Path,
) -> None:
    kafka = SwitchableKafka()
    kafka.up = False
    size = len(decision_json(decided("c1"))) + 1  # with its newline
    log = writer(kafka, tmp_path / "spool", max_bytes=size * 3 + size // 2, queue_max=10)
    await log.start()
    spool_full, queue_full = dropped("spool_full"), dropped("queue_full")

    log.record([decided("c1") for _ in range(12)])
    await log.flush()

    assert dropped("queue_full") - queue_full == 2
    assert dropped("spool_full") - spool_full == 7
    kafka.up = True
    await log.flush()
    assert len(kafka.records) == 3
    await log.close()


def test_a_spool_directory_serves_one_process_only(tmp_path: Path) -> None:
    first = Spool(tmp_path, 1 << 20, 4096)
    first.open()
    with pytest.raises(SpoolError, match="in use by another process"):
        Spool(tmp_path, 1 << 20, 4096).open()
    first.close()
    Spool(tmp_path, 1 << 20, 4096).open()


def test_a_line_torn_by_a_crash_is_cut_before_new_lines_follow(tmp_path: Path) -> None:
    (tmp_path / "000000000000.jsonl").write_bytes(b'{"a":1}\n{"torn')
    spool = Spool(tmp_path, 1 << 20, 1 << 20)
    spool.open()
    spool.append([b'{"b":2}'])

    chunk = spool.read(10)

    assert chunk is not None
    assert chunk.lines == [b'{"a":1}', b'{"b":2}']
    spool.consume(chunk)
    assert spool.empty
    assert spool.read(10) is None
