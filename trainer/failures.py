"""Why a job failed: the on-chain ``fail_training`` reason codes (programs/mirror/src/constants.rs,
``FAIL_*``) and the finer reason the daemon logs and counts beside each.

| code | name                | when |
| ---- | ------------------- | ---- |
| 1    | DATASET_UNAVAILABLE | the dataset CID does not resolve, is not a CID, its blocks do not match it, or its DAG |
|      |                     | is malformed (zero-size links, sizes that lie, more blocks than its size needs)         |
| 2    | DATASET_DECRYPT     | not an envelope, not sealed to this trainer, or tampered with |
| 3    | DATASET_INVALID     | empty, larger than ``TRAINER_MAX_DATASET``, not UTF-8, too short to train on |
| 4    | TRAINING_ERROR      | training raised, or the mirror's latest model (the base) fails its sha256 or does not load |
| 5    | ARTIFACT_UPLOAD     | the model could not be stored |
| 6    | MIRROR_FROZEN       | the mirror was frozen while the job ran (complete_training refuses it) |
| 255  | OTHER               | anything else: the job is failed rather than left Running |
"""

from __future__ import annotations

from enum import IntEnum


class FailCode(IntEnum):
    DATASET_UNAVAILABLE = 1
    DATASET_DECRYPT = 2
    DATASET_INVALID = 3
    TRAINING_ERROR = 4
    ARTIFACT_UPLOAD = 5
    MIRROR_FROZEN = 6
    OTHER = 255


class JobFailed(Exception):
    """A job cannot finish: fail it on chain with ``code``; ``reason`` is the finer cause (logs, metrics)."""

    def __init__(self, code: FailCode, reason: str, detail: str = "") -> None:
        super().__init__(f"{code.name}: {reason}{': ' + detail if detail else ''}")
        self.code = code
        self.reason = reason
        self.detail = detail


class JobAbandoned(Exception):
    """The job ended on chain while we worked on it (cancelled, or another outcome): drop it, send nothing."""


class JobDeferred(Exception):
    """The job cannot go on now for a reason of ours (the content store out of reach): it stays ours
    and Running, and is resumed, from its last checkpoint, after a delay."""
