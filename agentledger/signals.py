"""The Shared Signals transmitter as ``agentledger up`` runs it: in the API's process (the
poll endpoint and the push streams share its queues), with the deployment's signing key, the
ledger's ``ssf_sets`` outbox, and its own consumer group on ``ledger.contractions``.

The JWKS and discovery document are served whether or not receivers are configured; the
topic is read only when some are.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from typing import Any

from enforce.ssf import SetSigner, signing_key
from enforce.ssf_delivery import RetryPolicy, http_poster
from enforce.ssf_transmitter import LedgerOutbox, Transmitter, consume_contractions
from kernel.config import Settings
from kernel.errors import StackError
from kernel.kafka import batch_consumer, security_options
from kernel.topics import Topics
from ledger.store import LedgerStore

log = logging.getLogger(__name__)


class SignalsService:
    def __init__(self, settings: Settings, store: LedgerStore, bootstrap: str, api_url: str):
        import httpx

        self.settings = settings
        self.bootstrap = bootstrap
        self.topics = Topics(settings.topic_prefix)
        # No redirects: one would carry a receiver's Authorization header to another host.
        self._client = httpx.AsyncClient(
            timeout=settings.ssf_push_timeout_s, follow_redirects=False
        )
        self.transmitter = Transmitter(
            SetSigner(signing_key(settings.data_dir)),
            settings.ssf_issuer or api_url,
            settings.ssf_receivers,
            LedgerOutbox(store),
            post=http_poster(self._client),
            policy=RetryPolicy(
                base_s=settings.ssf_retry_base_s,
                cap_s=settings.ssf_retry_cap_s,
                attempts=settings.ssf_retry_attempts,
            ),
            poll_wait_s=settings.ssf_poll_wait_s,
        )
        self._consumer: Any = None
        self._task: asyncio.Task[None] | None = None
        self.contractions_read = 0
        self.sets_made = 0

    def _count(self, read: int, made: int) -> None:
        self.contractions_read += read
        self.sets_made += made

    async def start(self) -> None:
        await self.transmitter.start()
        if not self.settings.ssf_receivers:
            return
        from aiokafka.errors import KafkaError

        self._consumer = batch_consumer(
            self.bootstrap,
            self.topics.signals_group,
            self.topics.contractions,
            security=security_options(self.settings),
        )
        try:
            await self._consumer.start()
        except KafkaError as exc:
            raise StackError(f"cannot read {self.topics.contractions}: {exc}") from exc
        self._task = asyncio.create_task(self._consume(), name="ssf-contractions")

    async def _consume(self) -> None:
        try:
            await consume_contractions(self.transmitter, self._consumer, on_batch=self._count)
        except asyncio.CancelledError:
            raise
        except Exception:  # say so in the log; the API and the rest of the stack go on
            log.exception("the Shared Signals consumer stopped")
            raise

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await self._task
            self._task = None
        if self._consumer is not None:
            with contextlib.suppress(Exception):
                await self._consumer.stop()
            self._consumer = None
        await self.transmitter.stop()
        await self._client.aclose()

    def status(self) -> dict[str, Any]:
        return {
            "issuer": self.transmitter.issuer,
            "kid": self.transmitter.signer.kid,
            "contractions_read": self.contractions_read,
            "sets_made": self.sets_made,
            "waiting": self.transmitter.waiting(),
            "consumer_alive": self._task is not None and not self._task.done(),
        }
