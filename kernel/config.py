"""All settings in one typed object, read once, overridable by ``AGENTLEDGER_*`` variables."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Annotated, Any, Literal, NamedTuple

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    SecretStr,
    ValidationError,
    ValidationInfo,
    field_validator,
    model_validator,
)
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

from kernel.errors import ConfigError

_SOURCE_NAME = re.compile(r"^[a-z][a-z0-9_]*$")
_TOPIC_NAME = re.compile(r"^[A-Za-z0-9._-]{1,249}$")  # what Kafka accepts as a topic name


class RawTopic(NamedTuple):
    """A topic that shippers write one source's raw records to (``SOURCE=TOPIC``)."""

    source: str
    topic: str

    def __str__(self) -> str:
        return f"{self.source}={self.topic}"


def parse_raw_topic(text: str) -> RawTopic:
    """``okta=okta-logs`` as a ``RawTopic``; a ``ValueError`` that names the bad part.

    Whether the source exists is for the ingest layer to say (it holds the sources).
    """
    source, equals, topic = text.strip().partition("=")
    source, topic = source.strip(), topic.strip()
    if not equals or not source or not topic:
        raise ValueError(f"{text!r} is not SOURCE=TOPIC (example: okta=okta-logs)")
    if not _SOURCE_NAME.match(source):
        raise ValueError(f"{text!r}: {source!r} is not a source name (example: okta=okta-logs)")
    if not _TOPIC_NAME.match(topic) or topic in (".", ".."):
        raise ValueError(
            f"{text!r}: {topic!r} is not a Kafka topic name (letters, digits, '.', '_', '-', "
            "at most 249)"
        )
    return RawTopic(source, topic)


class SsfReceiver(BaseModel):
    """One Shared Signals stream: a receiver the transmitter sends each contraction's SET to.

    ``push`` receivers get ``POST url`` (RFC 8935) with ``authorization`` as the
    ``Authorization`` header when given; ``poll`` receivers fetch their SETs from
    ``POST /ssf/poll/NAME`` (RFC 8936), as one of ``pollers`` (API key or JWT caller names,
    e.g. ``key:okta-ssf``) when that list is given, else as any caller with the ``signals``
    role.
    """

    model_config = ConfigDict(extra="forbid", frozen=True)

    name: str = Field(pattern=r"^[A-Za-z0-9._-]{1,64}$")
    audience: str = Field(min_length=1, description="The SETs' `aud`: the receiver's own name.")
    delivery: Literal["push", "poll"] = "push"
    url: str | None = Field(default=None, description="Push endpoint (push only).")
    authorization: SecretStr | None = Field(
        default=None, description="The push request's Authorization header (push only)."
    )
    pollers: list[str] = Field(default_factory=list, description="Who may poll (poll only).")

    @model_validator(mode="after")
    def _delivery_has_its_parts(self) -> SsfReceiver:
        if self.delivery == "push":
            if not self.url or not self.url.startswith(("http://", "https://")):
                raise ValueError(f"receiver {self.name!r}: push needs an http(s) `url`")
            if self.pollers:
                raise ValueError(f"receiver {self.name!r}: `pollers` is for poll receivers")
        elif self.url or self.authorization:
            raise ValueError(
                f"receiver {self.name!r}: a poll receiver fetches its SETs; `url` and "
                "`authorization` are for push"
            )
        return self


class Settings(BaseSettings):
    """Where the parts run and how the hot path batches.

    Every field can be set as ``AGENTLEDGER_<NAME>`` (e.g. ``AGENTLEDGER_KAFKA``).
    """

    model_config = SettingsConfigDict(env_prefix="AGENTLEDGER_", extra="ignore")

    data_dir: Path = Field(
        default=Path(".agentledger"),
        description="Directory of the embedded ledger (chDB data, broker and worker state).",
    )
    kafka: str | None = Field(
        default=None,
        description="Bootstrap address of an existing Kafka cluster; unset = embedded broker.",
    )
    clickhouse_url: str | None = Field(
        default=None,
        description="http(s)://user:password@host:port of a ClickHouse server; unset = chDB.",
    )
    database: str = Field(default="agentledger", pattern=r"^[A-Za-z_][A-Za-z0-9_]*$")
    topic_prefix: str = Field(default="ledger", pattern=r"^[A-Za-z0-9._-]+$")
    partitions: Annotated[int, Field(ge=1, le=256)] = 4
    http_host: str = "127.0.0.1"
    http_port: Annotated[int, Field(ge=0, le=65535)] = 0
    writer_password: SecretStr | None = None
    sql_user: str = Field(
        default="analyst",
        pattern=r"^[A-Za-z_][A-Za-z0-9_.-]*$",
        description="The analysts' user on the embedded ledger's ClickHouse HTTP interface.",
    )
    sql_password: SecretStr | None = Field(
        default=None,
        description="The analysts' password; unset = generated at first start and kept in "
        "DATA_DIR/secrets/sql_password (owner-only).",
    )
    fingerprint_key: SecretStr | None = Field(
        default=None,
        description="Key of the HMAC-SHA256 fingerprints that stand in for credentials; unset = "
        "generated at first start and kept in DATA_DIR/secrets/fingerprint.key (owner-only). "
        "Every ingest into one ledger must use the same key, or one token stops linking.",
    )
    api_key: SecretStr | None = Field(
        default=None,
        description="The API key this command line sends to the ledger's HTTP API; unset = "
        "the local admin key in DATA_DIR/secrets/cli.key.",
    )
    auth_jwks: str | None = Field(
        default=None,
        description="Verify bearer JWTs on the HTTP API against this JWKS (a file path, or an "
        "http(s) URL); unset = API keys only.",
    )
    auth_issuer: str | None = Field(default=None, description="Required `iss` of bearer JWTs.")
    auth_audience: str | None = Field(default=None, description="Required `aud` of bearer JWTs.")
    auth_roles_claim: str = Field(
        default="roles",
        description="The JWT claim listing the caller's roles (declare, analyst, ingest, "
        "signals, admin).",
    )
    otlp_max_body_bytes: Annotated[int, Field(ge=1024)] = Field(
        default=8 << 20,
        description="The largest OTLP/HTTP export request `POST /v1/traces` takes, as sent and "
        "once decompressed; a larger one is refused with 413 (lower the exporter's batch size).",
    )
    kafka_security_protocol: Literal["PLAINTEXT", "SSL", "SASL_PLAINTEXT", "SASL_SSL"] = "PLAINTEXT"
    kafka_sasl_mechanism: Literal["PLAIN", "SCRAM-SHA-256", "SCRAM-SHA-512"] | None = None
    kafka_sasl_username: str | None = None
    kafka_sasl_password: SecretStr | None = None
    kafka_ssl_cafile: Path | None = None
    kafka_ssl_certfile: Path | None = None
    kafka_ssl_keyfile: Path | None = None
    kafka_compression: Literal["lz4", "zstd", "gzip", "snappy", "none"] = Field(
        default="zstd",
        description="How ingest, the normalizer and the gateway compress the record batches "
        "they produce. The embedded broker keeps every batch in memory as it was sent, and a "
        "cluster stores and replicates it: the bench's 200,000 events took 72-75 MB of the "
        "broker's memory with zstd, 109 MB with lz4, 640 MB without. zstd is also the "
        "cheapest to produce (aiokafka compresses lz4 at its slow high-compression level). "
        "Consumers decompress whatever they read; `none` sends batches as they are.",
    )
    batch_max: Annotated[int, Field(ge=1)] = Field(
        default=2_500,
        description="The most events a worker (or the normalizer) reads and stitches as one "
        "batch. A batch is held several times over while it is decoded, stitched, scored and "
        "written, so this bounds the worker's memory: in the 200,000-event bench its peak was "
        "about 1,065 MB at 20,000, 810-840 MB at 5,000 and 756 MB at 2,500, at the same "
        "events/s; at 1,000 the ledger lookups and inserts of more batches cost more CPU.",
    )
    batch_wait_ms: Annotated[int, Field(ge=1)] = 200
    stitch_slice: Annotated[int, Field(ge=1)] = Field(
        default=250,
        description="Events the worker stitches and scores at a time. Between two slices of "
        "ledger.events it looks at the tool traffic lane (ledger.events.calls), and each slice "
        "of the lane's own batches has its contractions published as soon as it is scored: a "
        "drifting call waits for about one slice ahead of it and its own. Smaller slices "
        "answer sooner and cost more stitching per event.",
    )
    fetch_wait_ms: Annotated[int, Field(ge=1, le=5_000)] = Field(
        default=20,
        description="How long the broker may hold a worker's or the normalizer's fetch that "
        "finds nothing new. Short: a drifting action is read at once (the embedded broker "
        "answers only when the wait is over); long: fewer, larger batches when traffic is thin.",
    )
    session_window_s: Annotated[int, Field(ge=1)] = 1800
    digest_interval_s: Annotated[float, Field(gt=0, le=86_400)] = Field(
        default=60,
        description="How often each worker signs a digest of the raw events it wrote since "
        "its last (tamper evidence). Records newer than the last digest are protected by "
        "their hash chain alone: deleting the newest of them cannot be detected.",
    )
    evidence_dir: Path | None = Field(
        default=None,
        description="The data directory whose secrets hold the key that signs the digests "
        "and where its public key is published (`agentledger up` names its own to the "
        "workers; the data directory when unset).",
    )
    restitch_window_s: Annotated[int, Field(ge=1)] = Field(
        default=900,
        description="How long (event time) an action stays open to a new attribution label "
        "when its declaration, token grant or upstream session arrives late.",
    )
    exchange_idle_s: Annotated[float, Field(ge=0, le=3_600)] = Field(
        default=10.0,
        description="After this many seconds with no event read, the stitching worker takes "
        "what the stream sent as all there is: a token exchange that no key links and that "
        "some session's token accounts for is decided then instead of when the re-stitch "
        "window has passed it (0: only the window decides).",
    )
    workers: Annotated[int, Field(ge=1, le=16)] = 1
    ledger_merge_nice: Annotated[int, Field(ge=0, le=19)] = Field(
        default=10,
        description="The niceness `up` gives the embedded ledger's background threads "
        "(merges, scheduled tasks; Linux): they yield the CPU to the workers, so a large "
        "merge does not hold a contraction back. 0 leaves them as they are. A ClickHouse "
        "server is configured on its own.",
    )
    ingest_nice: Annotated[int, Field(ge=0, le=19)] = Field(
        default=5,
        description="How many nice levels `agentledger ingest` lowers itself by (Linux): a "
        "bulk ingest on the machine of the stack yields the CPU to the stitching worker, "
        "which bounds the pipeline on one core at most, and what it sends waits in the "
        "broker meanwhile. The live intake (the normalizer, the gateway) keeps its priority: "
        "a contraction waits on it. 0 leaves the ingest as it starts.",
    )
    drain_timeout_s: Annotated[float, Field(ge=0, le=3_600)] = Field(
        default=60.0,
        description="How long a stopping stack waits for its workers to write what the "
        "embedded broker (memory-only) still holds; `agentledger down --drain-timeout`.",
    )
    drift_scoring: bool = Field(
        default=True,
        description="Score each action for drift as it is stitched, and publish the policy's "
        "contractions on <prefix>.contractions.",
    )
    drift_model: Path | None = Field(
        default=None,
        description="A drift model file (skops); unset = the deployment's current model under "
        "DATA_DIR/models (`agentledger model train`), else the shipped default.",
    )
    policy_file: Path | None = Field(
        default=None,
        description="The drift policy (YAML: thresholds per agent or intent, decisions narrow, "
        "halt, revoke); unset = the built-in policy.",
    )
    # NoDecode: the variable is the option's own text, not JSON.
    raw_topics: Annotated[list[RawTopic], NoDecode] = Field(
        default_factory=list,
        description="Kafka topics that shippers write raw records to, each SOURCE=TOPIC, read "
        "by the stack's normalizer (as a variable: AGENTLEDGER_RAW_TOPICS="
        "okta=okta-logs,cloudtrail=ct-raw); unset = no normalizer.",
    )

    ssf_issuer: str | None = Field(
        default=None,
        description="The Shared Signals transmitter's issuer (`iss` of every SET and the base "
        "of its discovery document); unset = the API's own URL.",
    )
    # JSON: [{"name", "audience", "delivery": "push"|"poll", "url", "authorization", ...}]
    ssf_receivers: list[SsfReceiver] = Field(
        default_factory=list,
        description="The Shared Signals receivers each contraction is sent to as a CAEP SET "
        '(as a variable, a JSON list: AGENTLEDGER_SSF_RECEIVERS=\'[{"name": "idp", '
        '"audience": "https://idp.example", "url": "https://idp.example/ssf"}]\').',
    )
    ssf_push_timeout_s: Annotated[float, Field(gt=0, le=120)] = 10.0
    ssf_retry_base_s: Annotated[float, Field(gt=0, le=3600)] = Field(
        default=1.0, description="First wait before a failed push is tried again; doubles."
    )
    ssf_retry_cap_s: Annotated[float, Field(gt=0, le=86_400)] = 300.0
    ssf_retry_attempts: Annotated[int, Field(ge=1, le=100)] = Field(
        default=10, description="Push attempts per SET before it is recorded as failed."
    )
    ssf_poll_wait_s: Annotated[float, Field(ge=0, le=300)] = Field(
        default=20.0, description="Longest a poll without returnImmediately waits for a SET."
    )

    @field_validator("ssf_receivers")
    @classmethod
    def _receiver_names_are_unique(cls, value: list[SsfReceiver]) -> list[SsfReceiver]:
        names = [r.name for r in value]
        twice = sorted({n for n in names if names.count(n) > 1})
        if twice:
            raise ValueError(f"receiver names must be unique (twice: {', '.join(twice)})")
        return value

    @field_validator("ssf_issuer")
    @classmethod
    def _issuer_is_url(cls, value: str | None) -> str | None:
        if value is not None and not value.startswith(("http://", "https://")):
            raise ValueError("must be an http(s) URL (the transmitter's issuer)")
        return value.rstrip("/") if value else value

    @field_validator("kafka")
    @classmethod
    def _bootstrap_has_port(cls, value: str | None) -> str | None:
        if value is None:
            return None
        for server in value.split(","):
            host, _, port = server.strip().rpartition(":")
            if not host or not port.isdigit():
                raise ValueError(f"{server!r} is not HOST:PORT (example: kafka-1:9092)")
        return value

    @field_validator("raw_topics", mode="before")
    @classmethod
    def _raw_topics_from_text(cls, value: Any) -> Any:
        if isinstance(value, str):  # the variable: comma-separated SOURCE=TOPIC
            value = [part for part in value.split(",") if part.strip()]
        if isinstance(value, list | tuple):
            return [parse_raw_topic(v) if isinstance(v, str) else v for v in value]
        return value

    @field_validator("raw_topics")
    @classmethod
    def _raw_topics_are_outside_the_ledger(
        cls, value: list[RawTopic], info: ValidationInfo
    ) -> list[RawTopic]:
        """A topic under the ledger's own prefix would feed the normalizer what it wrote
        itself (``ledger.raw.okta``) or what it must not read; a topic named twice would be
        read twice, or as two formats at once."""
        prefix = info.data.get("topic_prefix")
        seen: dict[str, RawTopic] = {}
        for raw in value:
            if prefix and raw.topic.startswith(f"{prefix}."):
                raise ValueError(
                    f"{raw}: topics under {prefix + '.'!r} are the ledger's own; name the "
                    "topic the shippers write to"
                )
            if raw.topic in seen:
                raise ValueError(
                    f"topic {raw.topic!r} is named twice ({seen[raw.topic]}, {raw}); "
                    "one topic holds one source's records"
                )
            seen[raw.topic] = raw
        return value

    @field_validator("sql_user")
    @classmethod
    def _not_the_writer(cls, value: str) -> str:
        if value == "writer":
            raise ValueError("'writer' is the ledger's own user; analysts need another name")
        return value

    @field_validator("clickhouse_url")
    @classmethod
    def _url_is_http(cls, value: str | None) -> str | None:
        if value is not None and not value.startswith(("http://", "https://")):
            raise ValueError("must start with http:// or https:// (ClickHouse HTTP interface)")
        return value


def load_settings(**overrides: object) -> Settings:
    """Settings from the environment plus explicit overrides; a clear error when wrong."""
    given = {k: v for k, v in overrides.items() if v is not None}
    try:
        return Settings(**given)  # type: ignore[arg-type]
    except ValidationError as exc:
        problems = "; ".join(
            f"{'.'.join(str(p) for p in err['loc'])}: {err['msg']}" for err in exc.errors()
        )
        raise ConfigError(
            f"invalid settings ({problems}); set them as options or AGENTLEDGER_* variables"
        ) from exc
