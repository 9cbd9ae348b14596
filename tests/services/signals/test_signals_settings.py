from __future__ import annotations

from pydantic import SecretStr

from services.common.topics import Topic
from services.signals.settings import SignalsSettings


def test_the_exchange_is_this_platforms_own_topic_by_default() -> None:
    settings = SignalsSettings(kafka_bootstrap_servers="k1:9092", topic_prefix="p.")
    exchange = settings.exchange()
    assert exchange.kafka_bootstrap_servers == "k1:9092"
    assert settings.exchange_topic_name == "p." + Topic.SIGNALS_SHARED
    assert settings.group_id == "p.riskstream-signals"


def test_another_cluster_replaces_only_the_connection_settings_that_are_given() -> None:
    settings = SignalsSettings(
        kafka_bootstrap_servers="k1:9092",
        kafka_security_protocol="SSL",
        kafka_ssl_cafile="/etc/ours.pem",
        exchange_bootstrap_servers="consortium-1:9093,consortium-2:9093",
        exchange_security_protocol="SASL_SSL",
        exchange_sasl_mechanism="SCRAM-SHA-512",
        exchange_sasl_username="riskstream",
        exchange_sasl_password=SecretStr("exchange secret"),
        exchange_topic="consortium.signals",
    )
    exchange = settings.exchange()
    assert exchange.kafka_bootstrap_servers == "consortium-1:9093,consortium-2:9093"
    assert exchange.kafka_security_protocol == "SASL_SSL"
    assert exchange.kafka_sasl_mechanism == "SCRAM-SHA-512"
    assert exchange.kafka_sasl_username == "riskstream"
    assert exchange.kafka_sasl_password is not None
    assert exchange.kafka_sasl_password.get_secret_value() == "exchange secret"
    assert exchange.kafka_ssl_cafile == "/etc/ours.pem"
    assert settings.kafka_bootstrap_servers == "k1:9092"
    assert settings.exchange_topic_name == "consortium.signals"
    assert "exchange secret" not in repr(settings)
