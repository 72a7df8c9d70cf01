"""Builds the gRPC server. ``create_server`` returns it bound and not yet started."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

import grpc
from grpc_health.v1 import health, health_pb2, health_pb2_grpc
from grpc_reflection.v1alpha import reflection

from scanner import warmup
from scanner.addresses import host_port
from scanner.analytics.counter import ScanCounter
from scanner.api.hashwatch.v1 import scanner_pb2 as pb
from scanner.api.hashwatch.v1 import scanner_pb2_grpc as pb_grpc
from scanner.auth import TokenVerifier
from scanner.engine import ScanEngine
from scanner.hashpool.pool import HashPool
from scanner.recording import BlockReader
from scanner.rpc.interceptors.auth import AuthInterceptor
from scanner.rpc.interceptors.errors import ErrorInterceptor
from scanner.rpc.interceptors.lanes import LaneInterceptor, Lanes, StreamBoundInterceptor
from scanner.rpc.interceptors.logging import LoggingInterceptor
from scanner.rpc.interceptors.metrics import MetricsInterceptor
from scanner.rpc.interceptors.tracing import Tracing
from scanner.rpc.ratelimit import RateLimiter
from scanner.rpc.scanner_service import ScannerService
from scanner.rpc.service import Service
from scanner.rpc.tls import server_credentials
from scanner.settings import Settings

SCANNER_SERVICE = pb.DESCRIPTOR.services_by_name["Scanner"].full_name


@dataclass
class Server:
    grpc_server: grpc.Server
    port: int
    health: health.HealthServicer
    workers: ThreadPoolExecutor
    # OpenTelemetry, when HASHWATCH_OTEL_ENDPOINT is set.
    tracing: Tracing | None = None
    # The hashing processes, stopped once the last RPC has finished.
    pool: HashPool | None = None
    # The threads health checks and streams run on (scanner/rpc/interceptors/lanes.py).
    lanes: Lanes | None = None
    # Compiles and runs every kernel a scan uses (scanner/warmup.py).
    warm_up: Callable[[], None] | None = None

    def start(self, warm: bool = False) -> None:
        """Start answering. With ``warm`` (``hashwatch serve``), health turns SERVING only once
        every kernel a scan uses has run, so the first scan a load balancer sends costs what
        the tenth does; health answers NOT_SERVING meanwhile. Tests and embedders that start
        many servers go without: it costs about a second with numba's cache full."""
        self.grpc_server.start()
        if warm and self.warm_up is not None:
            self.warm_up()
        self.set_serving(True)

    def set_serving(self, serving: bool) -> None:
        status = (
            health_pb2.HealthCheckResponse.SERVING if serving else health_pb2.HealthCheckResponse.NOT_SERVING
        )
        for service in ("", SCANNER_SERVICE):
            self.health.set(service, status)

    def drain(self, grace_seconds: float) -> None:
        """Stop taking new work, let in-flight RPCs finish (up to the grace period), stop."""
        self.set_serving(False)
        self.grpc_server.stop(grace_seconds).wait()
        self.workers.shutdown(wait=True, cancel_futures=True)
        if self.lanes is not None:
            self.lanes.shutdown()
        if self.tracing is not None:
            self.tracing.shutdown()
        if self.pool is not None:
            self.pool.close()


def create_server(
    settings: Settings,
    engine: ScanEngine,
    blocks: BlockReader,
    auth: TokenVerifier | None = None,
    pool: HashPool | None = None,
    scan_counter: ScanCounter | None = None,
    services: Sequence[Service] = (),
) -> Server:
    """With ``auth``, every RPC but health and reflection needs a token with the right scope
    (``scanner.rpc.interceptors.auth``). ``services`` are served beside Scanner; one that needs
    authentication (the audit log, review, customers) is refused without it."""
    for service in services:
        if service.needs_auth and auth is None:
            raise ValueError(f"the {service.name} service is only served with authentication on")
    credentials = server_credentials(settings)  # before anything is started: a bad file stops here
    workers = ThreadPoolExecutor(max_workers=settings.threads, thread_name_prefix="scan")
    tracing = Tracing.from_settings(settings)
    # Every request hashing or waiting for a hashing process holds an RPC thread; with fewer
    # threads than that, requests would queue inside gRPC, unbounded and unseen, instead of
    # being refused at once when the pool's queue is full.
    admitted = pool.size + pool.queue_size if pool is not None else 0
    rpc_threads = max(settings.threads * 4, admitted + settings.threads)
    lanes = Lanes(settings.max_streams)
    grpc_server = grpc.server(
        ThreadPoolExecutor(max_workers=rpc_threads, thread_name_prefix="rpc"),
        # Outermost first: the access log and metrics see auth refusals and mapped errors too;
        # the lane (which threads run the RPC) is read off the outermost behaviour.
        interceptors=[LaneInterceptor(lanes)]
        + ([tracing.interceptor] if tracing is not None else [])
        + [LoggingInterceptor(), MetricsInterceptor()]
        + ([AuthInterceptor(auth)] if auth is not None else [])
        + [ErrorInterceptor(), StreamBoundInterceptor(lanes)],
        options=channel_options(settings),
        # Past this many RPCs at once (running or waiting for a thread), gRPC refuses new ones
        # RESOURCE_EXHAUSTED; the streams have bounds of their own below it.
        maximum_concurrent_rpcs=max(settings.threads * 64, rpc_threads * 2) + lanes.capacity,
    )
    limiter = match_limiter = None
    if settings.rate_limit_per_second > 0:
        limiter = RateLimiter(settings.rate_limit_per_second, settings.rate_limit_burst)
        match_limiter = RateLimiter(
            settings.rate_limit_per_second,
            settings.rate_limit_burst,
            key_name="caller",
            unit="Match requests",
        )
    scanner = ScannerService(
        engine,
        blocks,
        workers,
        limiter=limiter,
        counter=scan_counter,
        stream_idle_seconds=settings.stream_idle_seconds,
        max_match_hashes=settings.max_match_hashes,
        match_limiter=match_limiter,
    )
    pb_grpc.add_ScannerServicer_to_server(scanner, grpc_server)
    for service in services:
        service.add(service.servicer, grpc_server)
    health_servicer = health.HealthServicer(experimental_non_blocking=True)
    health_pb2_grpc.add_HealthServicer_to_server(health_servicer, grpc_server)
    reflection.enable_server_reflection(
        (
            SCANNER_SERVICE,
            *(service.name for service in services),
            health_pb2.DESCRIPTOR.services_by_name["Health"].full_name,
            reflection.SERVICE_NAME,
        ),
        grpc_server,
    )
    address = host_port(settings.host, settings.port)
    if credentials is None:
        port = grpc_server.add_insecure_port(address)
    else:
        port = grpc_server.add_secure_port(address, credentials)
    if port == 0:
        raise OSError(f"could not bind {address}")
    server = Server(
        grpc_server, port, health_servicer, workers, tracing, pool, lanes, lambda: warmup.warm_engine(engine)
    )
    server.set_serving(False)
    return server


# The shortest interval between a client's keepalive pings the server accepts; faster pingers
# are sent GOAWAY (gRPC's default, 5 minutes, would refuse the 10-30 s proxies commonly use).
MIN_CLIENT_PING_SECONDS = 10
KEEPALIVE_TIMEOUT_SECONDS = 20


def channel_options(settings: Settings) -> list[tuple[str, int]]:
    """gRPC's server arguments: message sizes, and how long connections may live and idle."""

    def ms(seconds: float) -> int:
        # 0 is "no limit", which gRPC spells as the largest int.
        return round(seconds * 1000) if seconds > 0 else 2**31 - 1

    return [
        ("grpc.max_receive_message_length", settings.max_message_bytes),
        ("grpc.max_send_message_length", settings.max_message_bytes),
        ("grpc.so_reuseport", 0),
        ("grpc.max_connection_idle_ms", ms(settings.connection_idle_seconds)),
        ("grpc.max_connection_age_ms", ms(settings.connection_max_age_seconds)),
        ("grpc.max_connection_age_grace_ms", ms(settings.connection_age_grace_seconds)),
        ("grpc.keepalive_time_ms", ms(settings.keepalive_seconds)),
        ("grpc.keepalive_timeout_ms", KEEPALIVE_TIMEOUT_SECONDS * 1000),
        ("grpc.keepalive_permit_without_calls", 1),
        ("grpc.http2.min_ping_interval_without_data_ms", MIN_CLIENT_PING_SECONDS * 1000),
        ("grpc.http2.max_ping_strikes", 2),
    ]
