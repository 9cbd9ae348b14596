"""Encrypted and authenticated transport through configuration alone, as docs/security.md
describes: RISKSTREAM_KAFKA_* settings become TLS contexts and SASL fields of every aiokafka
client and of the faust worker; a ``rediss://user:password@`` URL becomes a TLS connection
with an ACL user."""

from __future__ import annotations

import ssl
import subprocess
from pathlib import Path

import faust
import pytest
from redis.asyncio.connection import SSLConnection

from services.common.kafka import client_kwargs
from services.common.redis_client import make_redis
from services.common.settings import ServiceSettings
from services.features.app import _credentials
from services.features.settings import FeaturesSettings


@pytest.fixture(scope="module")
def client_certificate(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """A throwaway self-signed certificate and its key, as a client identity for mTLS."""
    directory = tmp_path_factory.mktemp("tls")
    cert, key = directory / "client.pem", directory / "client.key"
    subprocess.run(
        [
            "openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1",
            "-subj", "/CN=riskstream-test", "-keyout", str(key), "-out", str(cert),
        ],
        check=True,
        capture_output=True,
    )  # fmt: skip
    return cert, key


def test_sasl_ssl_settings_reach_every_kafka_client(client_certificate: tuple[Path, Path]) -> None:
    cert, key = client_certificate
    settings = ServiceSettings(
        kafka_bootstrap_servers="kafka-0.kafka:9093",
        kafka_security_protocol="SASL_SSL",
        kafka_sasl_mechanism="SCRAM-SHA-512",
        kafka_sasl_username="riskstream-scorer",
        kafka_sasl_password="s3cret",
        kafka_ssl_cafile=str(cert),
        kafka_ssl_certfile=str(cert),
        kafka_ssl_keyfile=str(key),
    )
    kwargs = client_kwargs(settings)

    assert kwargs["security_protocol"] == "SASL_SSL"
    assert isinstance(kwargs["ssl_context"], ssl.SSLContext)
    assert kwargs["ssl_context"].verify_mode is ssl.CERT_REQUIRED
    assert kwargs["ssl_context"].check_hostname is True
    assert (kwargs["sasl_mechanism"], kwargs["sasl_plain_username"]) == (
        "SCRAM-SHA-512",
        "riskstream-scorer",
    )
    assert kwargs["sasl_plain_password"] == "s3cret"


def test_plaintext_settings_carry_no_tls_or_sasl() -> None:
    kwargs = client_kwargs(ServiceSettings())
    assert kwargs == {"bootstrap_servers": "127.0.0.1:9092", "security_protocol": "PLAINTEXT"}


def test_the_feature_worker_gets_sasl_or_tls_credentials_from_the_same_settings() -> None:
    sasl = _credentials(
        FeaturesSettings(
            kafka_security_protocol="SASL_SSL",
            kafka_sasl_mechanism="PLAIN",
            kafka_sasl_username="riskstream-features",
            kafka_sasl_password="pw",
        )
    )
    tls_only = _credentials(FeaturesSettings(kafka_security_protocol="SSL"))

    assert isinstance(sasl, faust.SASLCredentials)
    assert (sasl.username, sasl.password) == ("riskstream-features", "pw")
    assert isinstance(sasl.ssl_context, ssl.SSLContext)
    assert isinstance(tls_only, faust.SSLCredentials)
    assert _credentials(FeaturesSettings()) is None


async def test_a_rediss_url_with_an_acl_user_gives_tls_connections() -> None:
    settings = ServiceSettings(redis_url="rediss://riskstream:acl-pass@redis.internal:6380/2")
    client = make_redis(settings)
    try:
        pool = client.connection_pool
        assert pool.connection_class is SSLConnection
        assert pool.connection_kwargs["username"] == "riskstream"
        assert pool.connection_kwargs["password"] == "acl-pass"
        assert (pool.connection_kwargs["host"], pool.connection_kwargs["port"]) == (
            "redis.internal",
            6380,
        )
    finally:
        await client.aclose()


def test_secrets_in_the_urls_and_passwords_are_hidden_in_settings_output() -> None:
    settings = ServiceSettings(
        redis_url="rediss://riskstream:acl-pass@redis.internal:6380/2",
        kafka_sasl_password="s3cret",
    )
    shown = f"{settings!r} {settings.model_dump()}"
    assert "acl-pass" not in shown
    assert "s3cret" not in shown
