"""Prometheus metrics of the trainer daemon (``TRAINER_METRICS_PORT``)."""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Gauge


class TrainerMetrics:
    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        self.jobs = Counter(
            "mirror_trainer_jobs",
            "Jobs by outcome (claimed, completed, failed, abandoned, lost; deferred: put aside to try again)",
            ["outcome"],
            registry=self.registry,
        )
        self.failures = Counter(
            "mirror_trainer_failures", "Failed jobs by on-chain code and reason", ["code", "reason"], registry=self.registry
        )
        self.open_jobs = Gauge(
            "mirror_trainer_open_jobs",
            "Jobs by chain state in the read models: requested (waiting), running (any trainer)",
            ["status"],
            registry=self.registry,
        )
        self.running = Gauge("mirror_trainer_running", "Jobs training now", registry=self.registry)
        self.tokens_per_second = Gauge("mirror_trainer_tokens_per_second", "Training throughput of the current job", registry=self.registry)
        self.loss = Gauge("mirror_trainer_loss", "Training loss of the current job (last step)", registry=self.registry)
        self.tokens = Counter("mirror_trainer_tokens", "Tokens trained, all jobs", registry=self.registry)
