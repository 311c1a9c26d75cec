"""Record batches the project produces travel compressed, as ``kafka_compression`` says."""

from __future__ import annotations

import asyncio

import orjson
import pytest

from kernel.config import Settings
from kernel.kafka import producer

# A log line much like the ledger's own traffic: the same names again and again.
_RECORD = orjson.dumps(
    {
        "eventType": "AssumeRoleWithWebIdentity",
        "eventSource": "sts.amazonaws.com",
        "userIdentity": {"type": "WebIdentityUser", "principalId": "accounts.example:agent"},
        "requestParameters": {"roleArn": "arn:aws:iam::123456789012:role/agent-reader"},
    }
)


def _batch_size(settings: Settings | None, records: int = 200) -> int:
    """Bytes of one record batch of ``records`` such lines, built by the project's producer."""

    async def build() -> int:
        made = producer("127.0.0.1:1", settings)  # never started: only its batch builder
        try:
            batch = made.create_batch()
            for number in range(records):
                value = _RECORD + str(number).encode()
                assert batch.append(key=None, value=value, timestamp=None, headers=[]) is not None
            batch.close()
            return len(batch._builder.build())
        finally:
            await made.stop()

    return asyncio.run(build())


def test_batches_are_compressed_by_default() -> None:
    plain = _batch_size(Settings(kafka_compression="none"))
    assert plain > 200 * len(_RECORD)
    assert _batch_size(None) < plain / 5
    assert _batch_size(Settings()) < plain / 5


@pytest.mark.parametrize("codec", ["lz4", "zstd", "gzip", "snappy"])
def test_every_codec_offered_is_installed(codec: str) -> None:
    plain = _batch_size(Settings(kafka_compression="none"))
    assert _batch_size(Settings(kafka_compression=codec)) < plain / 2  # type: ignore[arg-type]


def test_an_unknown_codec_is_refused_by_name() -> None:
    with pytest.raises(ValueError, match="kafka_compression"):
        Settings(kafka_compression="brotli")  # type: ignore[arg-type]
