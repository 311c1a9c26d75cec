"""SASL and TLS settings for a Kafka cluster reach every client the project makes."""

from __future__ import annotations

import asyncio
import ssl
from typing import Any

import faust
import pytest
from pydantic import SecretStr

from kernel.config import Settings
from kernel.errors import StackError
from kernel.kafka import producer, security_options
from processors.worker import faust_credentials


def test_the_embedded_broker_needs_nothing() -> None:
    assert security_options(None) == {}
    assert security_options(Settings()) == {}
    assert faust_credentials({}) is None


def test_sasl_over_tls_is_passed_through() -> None:
    settings = Settings(
        kafka="kafka-1:9093",
        kafka_security_protocol="SASL_SSL",
        kafka_sasl_mechanism="SCRAM-SHA-512",
        kafka_sasl_username="agentledger",
        kafka_sasl_password=SecretStr("s3cret-from-vault"),
    )
    options = security_options(settings)
    assert options["security_protocol"] == "SASL_SSL"
    assert options["sasl_mechanism"] == "SCRAM-SHA-512"
    assert options["sasl_plain_username"] == "agentledger"
    assert options["sasl_plain_password"] == "s3cret-from-vault"
    assert isinstance(options["ssl_context"], ssl.SSLContext)
    assert options["ssl_context"].verify_mode == ssl.CERT_REQUIRED

    async def made() -> Any:
        return producer("kafka-1:9093", settings)  # aiokafka wants a running loop

    client = asyncio.run(made())
    assert client.client._security_protocol == "SASL_SSL"
    assert client.client._sasl_mechanism == "SCRAM-SHA-512"
    credentials = faust_credentials(options)
    assert isinstance(credentials, faust.SASLCredentials)
    assert credentials.username == "agentledger"
    assert str(credentials.mechanism.value) == "SCRAM-SHA-512"
    # The password is a secret in the settings: it never shows in their text.
    assert "s3cret-from-vault" not in repr(settings)


def test_tls_alone_gives_faust_an_ssl_context() -> None:
    options = security_options(Settings(kafka="k:9093", kafka_security_protocol="SSL"))
    assert set(options) == {"security_protocol", "ssl_context"}
    assert isinstance(faust_credentials(options), faust.SSLCredentials)


def test_sasl_without_a_mechanism_says_what_to_set() -> None:
    settings = Settings(kafka="k:9092", kafka_security_protocol="SASL_PLAINTEXT")
    with pytest.raises(StackError, match="AGENTLEDGER_KAFKA_SASL_MECHANISM"):
        security_options(settings)
