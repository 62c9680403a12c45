"""trainer: see README.md."""
