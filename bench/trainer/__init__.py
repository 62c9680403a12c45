"""Trainer benchmark (issue 9, point 7): training tokens/s and MFU beside a plain eager baseline, inference with and
without the KV cache. See README.md."""
