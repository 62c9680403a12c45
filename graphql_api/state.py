"""What the server holds for its lifetime: settings, the PostgreSQL pool, Redis, metrics,
the JWT secret, the subscriptions' event hub. Built once in the app's lifespan; each request reads it."""

from __future__ import annotations

import os
import secrets
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import redis.asyncio as aioredis
import structlog
from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest, multiprocess

from graphql_api.coalesce import Coalescer, ProgressReads
from graphql_api.fanout import SharedResults
from graphql_api.hub import EventHub
from mirror_common.config import Settings
from mirror_common.pg import Pool

if TYPE_CHECKING:
    from graphql_api.inference import Inference

log = structlog.get_logger("graphql_api")


class Metrics:
    """Prometheus metrics of one app (its own registry, so several apps can live in one process).
    With several workers (``PROMETHEUS_MULTIPROC_DIR``, set by ``python -m graphql_api``), each
    worker's values go to files that ``exposition`` sums across workers."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        self.requests = Counter(
            "mirror_api_requests", "GraphQL operations by name and outcome", ["operation", "outcome"], registry=self.registry
        )
        self.latency = Histogram(
            "mirror_api_request_seconds",
            "GraphQL operation latency",
            ["operation"],
            registry=self.registry,
            buckets=(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5),
        )
        self.subscriptions = Gauge(
            "mirror_api_subscriptions_active", "Open subscriptions", registry=self.registry, multiprocess_mode="livesum"
        )
        self.refusals = Counter("mirror_api_refusals", "Refused requests by reason", ["reason"], registry=self.registry)
        self.results_executed, self.results_shared = self._pair(
            "mirror_api_subscription_results",
            "Subscription results per event: executed for a subscriber, or shared from one with the same inputs (fanout.py)",
            "outcome",
            "executed",
            "shared",
        )
        self.batches_pushed, self.batches_queued = self._pair(
            "mirror_api_subscription_batches",
            "The event hub's batches per subscriber: pushed (sent from the hub's own task) or queued (for the subscription's task, hub.py)",
            "path",
            "pushed",
            "queued",
        )
        self.lookups, self.lookup_statements = self._pair(
            "mirror_api_lookups",
            "Lookups by key from requests, and the statements that served them (coalesce.py: concurrent requests share one)",
            "what",
            "lookup",
            "statement",
        )
        self.degraded = Counter(
            "mirror_api_degraded",
            "Requests served without one of their checks (the rate limit while Redis is down)",
            ["check"],
            registry=self.registry,
        )

    def _pair(self, name: str, documentation: str, label: str, first: str, second: str) -> tuple[Any, Any]:
        """A counter with one label and two values, as its two children."""
        counter = Counter(name, documentation, [label], registry=self.registry)
        return counter.labels(first), counter.labels(second)

    def lookup_counts(self) -> tuple[int, int]:
        """(statements, lookups) this process has counted (coalesce.py): what the tests and bench/api read."""
        statements = self.registry.get_sample_value("mirror_api_lookups_total", {"what": "statement"}) or 0
        lookups = self.registry.get_sample_value("mirror_api_lookups_total", {"what": "lookup"}) or 0
        return int(statements), int(lookups)

    def hub_batch(self, pushed: int, queued: int) -> None:
        if pushed:
            self.batches_pushed.inc(pushed)
        if queued:
            self.batches_queued.inc(queued)

    def close(self) -> None:
        """A worker that stops takes its live gauges (open subscriptions) out of the sum; its counters stay counted."""
        if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
            multiprocess.mark_process_dead(os.getpid())  # type: ignore[no-untyped-call]  # prometheus_client has no annotation here

    def exposition(self) -> bytes:
        """What ``/metrics`` answers: this app's metrics, or, with several workers, every worker's summed."""
        if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
            registry = CollectorRegistry()
            multiprocess.MultiProcessCollector(registry)  # type: ignore[no-untyped-call]  # nor here
            return generate_latest(registry)
        return generate_latest(self.registry)


@dataclass
class ApiState:
    settings: Settings
    pool: Pool
    redis: aioredis.Redis
    jwt_secret: str
    hub: EventHub  # the subscriptions' shared reader of new events
    metrics: Metrics = field(default_factory=Metrics)
    shared_results: SharedResults = field(default_factory=SharedResults)  # fan-out: one execution per event and inputs
    lookups: Coalescer = field(init=False)  # lookups by key, coalesced across requests (coalesce.py)
    progress_reads: ProgressReads = field(init=False)  # trainingProgress's Redis reads, shared per job (coalesce.py)
    inference: Inference | None = None  # ``ask``: set in the app's lifespan
    extra: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.lookups = Coalescer(self.pool, self.metrics)
        self.progress_reads = ProgressReads(self.redis)

    def after_hub_batch(self, pushed: int, queued: int) -> None:
        """Counted once per batch rather than per subscriber: what the hub's pushes did (hub.py, fanout.py)."""
        self.metrics.hub_batch(pushed, queued)
        shared, self.shared_results.shared_uncounted = self.shared_results.shared_uncounted, 0
        if shared:
            self.metrics.results_shared.inc(shared)


def jwt_secret(settings: Settings) -> str:
    """``API_JWT_SECRET``, or a random one kept (mode 0600) in MIRROR_DATA_DIR so tokens
    survive a restart. Never in the repository: .data/ is ignored."""
    if settings.api_jwt_secret:
        if len(settings.api_jwt_secret) < 32:
            raise ValueError("API_JWT_SECRET must be at least 32 characters")
        return settings.api_jwt_secret
    path = Path(settings.mirror_data_dir) / "api-jwt-secret"
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w") as f:
            f.write(secrets.token_hex(32))
        if not settings.api_dev:
            log.warning("jwt_secret_generated", path=str(path), hint="set API_JWT_SECRET in production")
    return path.read_text().strip()
