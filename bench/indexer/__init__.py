"""Indexer benchmark (issue 4, point 7): backfill throughput beside COPY, live latency. See README.md."""
