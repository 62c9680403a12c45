"""Prometheus metrics of the indexer (served by ``python -m indexer`` on INDEXER_METRICS_PORT)."""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Gauge


class Metrics:
    def __init__(self, registry: CollectorRegistry | None = None) -> None:
        self.registry = registry or CollectorRegistry()
        r = self.registry
        self.events = Counter("mirror_indexer_events_applied_total", "Events stored and applied, by event name", ["name"], registry=r)
        self.transactions = Counter(
            "mirror_indexer_transactions_total", "Transactions seen, by source and outcome", ["source", "outcome"], registry=r
        )
        self.skipped = Counter("mirror_indexer_skipped_total", "Items recorded in skipped_items, by reason", ["reason"], registry=r)
        self.poisoned = Counter(
            "mirror_indexer_poisoned_transactions_total",
            "Transactions refused after bounded retries and recorded as apply_error (alert on any)",
            registry=r,
        )
        self.errors = Counter("mirror_indexer_errors_total", "Errors, by component", ["component"], registry=r)
        self.reconnects = Counter("mirror_indexer_reconnects_total", "WebSocket reconnects", registry=r)
        self.published = Counter("mirror_indexer_published_total", "Events published to Redis", registry=r)
        self.slot_lag = Gauge(
            "mirror_indexer_slot_lag", "Slots the indexer is behind the node (0 when live with nothing queued)", registry=r
        )
        self.cursor_slot = Gauge("mirror_indexer_cursor_slot", "Slot of the confirmed cursor", registry=r)
        self.finalized_slot = Gauge("mirror_indexer_finalized_slot", "Slot up to which events are marked finalized", registry=r)
        self.backfill_total = Gauge("mirror_indexer_backfill_total", "Transactions to fetch in the current backfill", registry=r)
        self.backfill_done = Gauge("mirror_indexer_backfill_done", "Transactions fetched in the current backfill", registry=r)
