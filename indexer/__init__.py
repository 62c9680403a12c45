"""indexer: see README.md."""
