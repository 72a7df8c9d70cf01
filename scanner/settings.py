"""Service settings: ``HASHWATCH_*`` environment variables, then command-line flags.

Validated once at start-up; a wrong value stops the process with a message that names the
variable. Nothing here has a credential baked in.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Annotated, Literal, TypeVar

from pydantic import Field, ValidationError, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from scanner.decode import DecodeLimits
from scanner.flood import FloodRules
from scanner.pipeline import HashingConfig, HashMode

MiB = 1024 * 1024
SettingsT = TypeVar("SettingsT", bound=BaseSettings)


class SettingsError(Exception):
    """Settings that cannot be used; the message is meant for the operator."""


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="HASHWATCH_", extra="ignore")

    data_dir: Path = Path("./var")
    # SQLAlchemy URL. Empty: an embedded SQLite database in data_dir.
    database_url: str = ""
    host: str = "127.0.0.1"
    port: Annotated[int, Field(ge=0, le=65535)] = 50051
    # Largest gRPC message accepted; real images are several MiB.
    max_message_bytes: Annotated[int, Field(ge=1 * MiB)] = 32 * MiB
    max_image_bytes: Annotated[int, Field(ge=1024)] = 32 * MiB
    max_pixels: Annotated[int, Field(ge=1024)] = 64_000_000
    max_frames: Annotated[int, Field(ge=1)] = 1000
    hash_mode: HashMode = HashMode.FAST
    # Threads serving RPCs (hashing releases the GIL only partly; see issue on multi-process).
    threads: Annotated[int, Field(ge=1, le=256)] = 8
    # Processes that decode and hash (scanner/hashpool); 0 hashes in the serving process.
    # Default: one per CPU this process may run on.
    hash_workers: Annotated[int, Field(ge=0, le=256)] = Field(default_factory=lambda: _usable_cpus())
    # Requests that may wait for a busy hashing process; past that, RESOURCE_EXHAUSTED.
    queue_size: Annotated[int, Field(ge=0, le=1024)] = 16
    # A hashing process still busy with one image after this long is killed (outcome TIMEOUT).
    hash_timeout_seconds: Annotated[float, Field(gt=0)] = 2.0
    # Memory (address space, MiB) a hashing process may add to its start size for one image; a
    # decode past it answers TOO_MANY_PIXELS. 0: no ceiling.
    hash_memory_mb: Annotated[int, Field(ge=0)] = 1024
    # Scans per second per customer_id (token bucket; 0: no limit), and the burst above it; the
    # same rate applies to Match requests per caller (scanner/rpc/ratelimit.py).
    rate_limit_per_second: Annotated[float, Field(ge=0)] = 0.0
    rate_limit_burst: Annotated[int, Field(ge=1)] = 100
    # Hashes one Match request may carry; past it INVALID_ARGUMENT, before any is read.
    max_match_hashes: Annotated[int, Field(ge=1, le=100_000)] = 1000
    # Streams (docs/operations.md#streams-and-connections). ScanStreams open at once; past it a
    # new one is refused RESOURCE_EXHAUSTED. Each holds two threads while open, idle or not.
    max_streams: Annotated[int, Field(ge=1, le=4096)] = 64
    # A ScanStream with no request (and nothing of its in flight) for this long is closed
    # UNAVAILABLE, so idle streams cannot hold the places busy clients need.
    stream_idle_seconds: Annotated[float, Field(gt=0)] = 60.0
    # Connections: closed (GOAWAY) after this long without an RPC, and after this long in all
    # (so clients spread over new replicas), the second with a grace for RPCs still running.
    # A stream therefore lives at most connection_max_age + connection_age_grace. 0: no limit.
    connection_idle_seconds: Annotated[float, Field(ge=0)] = 300.0
    connection_max_age_seconds: Annotated[float, Field(ge=0)] = 1800.0
    connection_age_grace_seconds: Annotated[float, Field(ge=0)] = 60.0
    # The server pings a connection quiet for this long and drops it when no answer comes in
    # 20 s: a client that vanished without closing frees its streams. 0: no pings.
    keepalive_seconds: Annotated[float, Field(ge=0)] = 60.0
    # Seconds in-flight RPCs get to finish after SIGTERM.
    grace_seconds: Annotated[float, Field(ge=0)] = 10.0
    # Seconds between health turning NOT_SERVING and the server refusing new RPCs, so load
    # balancers move traffic away before connections are refused.
    shutdown_delay_seconds: Annotated[float, Field(ge=0)] = 1.0
    # Seconds between looks at the database for list changes (applied to the index in place).
    list_poll_seconds: Annotated[float, Field(gt=0)] = 2.0
    # Seconds between writes of the per-customer scan counts kept in memory (docs/analytics.md):
    # a crash loses at most this much counting.
    analytics_flush_seconds: Annotated[float, Field(gt=0)] = 10.0
    log_level: str = "info"
    # Every RPC but health and reflection needs an API token (``hashwatch tokens create``).
    require_auth: bool = False
    log_json: bool = True
    # The analysts' review page (``hashwatch web``, or ``serve --web-port``).
    web_host: str = "127.0.0.1"
    web_port: Annotated[int, Field(ge=0, le=65535)] = 8080
    # Sessions end this long after login, or after this long without a request.
    web_session_minutes: Annotated[int, Field(ge=1, le=24 * 60)] = 8 * 60
    web_idle_minutes: Annotated[int, Field(ge=1, le=24 * 60)] = 30
    # TLS for the page itself; with it (or behind a TLS proxy, web_secure_cookies) cookies are Secure.
    web_tls_cert: Path | None = None
    web_tls_key: Path | None = None
    web_secure_cookies: bool = False
    # How many images one analyst may reveal (un-blur) per UTC day.
    review_daily_reveals: Annotated[int, Field(ge=0, le=10_000)] = 50
    # The verdict for a match while the database is away (the match is spooled to
    # <data_dir>/journal and recorded when it returns). "block" fails closed: known abuse
    # material is not served because a database is down.
    degraded_verdict: Literal["block", "allow"] = "block"
    # Flood protection (docs/matching.md): an entry that matched at least flood_min_distinct
    # distinct contents in the last flood_window_seconds, and flood_factor times the median of
    # its list's other matching entries, is held: its matches are queued for review, not blocked.
    flood_window_seconds: Annotated[float, Field(gt=0)] = 3600.0
    flood_factor: Annotated[float, Field(ge=1)] = 20.0
    flood_min_distinct: Annotated[int, Field(ge=1)] = 25
    # A scan whose customer_id names no enabled customer (docs/customers.md): "scan" it with
    # every list and the lists' thresholds, or "reject" it (not scanned, outcome UNKNOWN_CUSTOMER).
    unknown_customer: Literal["scan", "reject"] = "scan"
    # Seconds between looks at the database for customer changes (settings, enabled).
    customer_poll_seconds: Annotated[float, Field(gt=0)] = 2.0
    # Prometheus metrics on http://<metrics_host or host>:<metrics_port>/metrics; 0 turns it off.
    metrics_host: str = ""
    metrics_port: Annotated[int, Field(ge=0, le=65535)] = 9464
    # TLS for the gRPC port (PEM files). With tls_client_ca, clients must present a
    # certificate signed by it (mTLS).
    tls_cert: Path | None = None
    tls_key: Path | None = None
    tls_client_ca: Path | None = None
    # OpenTelemetry traces (the ``otel`` extra): the collector's OTLP/HTTP traces URL, e.g.
    # http://127.0.0.1:4318/v1/traces. Empty: off, and OpenTelemetry is not imported.
    otel_endpoint: str = ""
    otel_service_name: str = "hashwatch"

    @field_validator("log_level")
    @classmethod
    def _known_level(cls, value: str) -> str:
        if value.lower() not in {"debug", "info", "warning", "error"}:
            raise ValueError("must be one of debug, info, warning, error")
        return value.lower()

    @property
    def resolved_database_url(self) -> str:
        return self.database_url or f"sqlite:///{(self.data_dir / 'hashwatch.db').resolve()}"

    @property
    def flood(self) -> FloodRules:
        return FloodRules(self.flood_window_seconds, self.flood_factor, self.flood_min_distinct)

    @property
    def hashing(self) -> HashingConfig:
        limits = DecodeLimits(
            max_bytes=self.max_image_bytes, max_pixels=self.max_pixels, max_frames=self.max_frames
        )
        return HashingConfig(limits=limits, mode=self.hash_mode)


def _usable_cpus() -> int:
    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)


def load_settings(**overrides: object) -> Settings:
    """Environment first, then explicit overrides (from flags); ``None`` overrides are ignored."""
    return load(Settings, **overrides)


def load(cls: type[SettingsT], **overrides: object) -> SettingsT:
    given = {k: v for k, v in overrides.items() if v is not None}
    try:
        return cls.model_validate(given)
    except ValidationError as exc:
        problems = []
        for error in exc.errors():
            name = ".".join(str(p) for p in error["loc"])
            problems.append(f"HASHWATCH_{name.upper()} (--{name.replace('_', '-')}): {error['msg']}")
        raise SettingsError("invalid settings:\n  " + "\n  ".join(problems)) from None
