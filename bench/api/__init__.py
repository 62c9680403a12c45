"""API benchmark (issue 8, point 10): requests per second and latency beside a plain FastAPI route, subscription fan-out. See README.md."""
