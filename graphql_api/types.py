"""The schema's object types: Mirror, AccessGrant, Trainer, TrainingJob, ModelVersion,
ChainEvent, Config, IndexerStatus, each built from one row of ``store``; TrainingProgress, from
the trainer's report in Redis (``trainer.progress``).

- Relay ``Node``: every object has a global ``id``, base64 of ``Type:key`` (the account
  address, or the event id), resolved back by ``Query.node``.
- ``commitment``: ChainEvent carries its own (chain_events.commitment). A projection row
  is FINALIZED when its ``last_slot`` (the slot of the newest event applied to it) is at
  or below the indexer's finalized cursor (``indexer_cursor``, read once per request),
  else CONFIRMED: every event that shaped the row is then final.
- Relations both ways go through the request's DataLoaders (``loaders.py``).
- Raw values: times are ``UnixTime`` (the chain's i64 seconds), u64 are ``U64``.
"""

from __future__ import annotations

import base64
import binascii
from enum import Enum
from typing import Any, TypeVar

import strawberry
from strawberry.scalars import JSON
from strawberry.types import Info

from graphql_api.errors import BadValue
from graphql_api.fields import field
from graphql_api.pagination import Connection, PageArgs, connection
from graphql_api.permissions import guarded, private
from graphql_api.scalars import I64, U64, Address, UnixTime
from graphql_api.store import events as event_sql
from graphql_api.store import grants as grant_sql
from graphql_api.store import jobs as job_sql
from graphql_api.store import models as model_sql
from trainer.progress import ProgressRecord


def global_id(type_name: str, key: str) -> str:
    return base64.urlsafe_b64encode(f"{type_name}:{key}".encode()).decode().rstrip("=")


def parse_global_id(value: str) -> tuple[str, str]:
    try:
        text = base64.urlsafe_b64decode(value + "=" * (-len(value) % 4)).decode()
    except (binascii.Error, UnicodeDecodeError, ValueError) as e:
        raise BadValue("invalid id") from e
    type_name, sep, key = text.partition(":")
    if not sep or not key or "\x00" in key:
        raise BadValue("invalid id")
    return type_name, key


@strawberry.enum
class Commitment(Enum):
    CONFIRMED = "confirmed"
    FINALIZED = "finalized"


@strawberry.enum
class Visibility(Enum):
    PUBLIC = "Public"
    PRIVATE = "Private"


@strawberry.enum
class MirrorStatus(Enum):
    ACTIVE = "Active"
    FROZEN = "Frozen"


@strawberry.enum
class JobStatus(Enum):
    REQUESTED = "Requested"
    RUNNING = "Running"
    COMPLETED = "Completed"
    FAILED = "Failed"
    CANCELLED = "Cancelled"


E = TypeVar("E", bound=Enum)


def member(kind: type[E], value: Any) -> E:
    """``kind(value)`` by one dict lookup: ``Enum.__call__`` runs Python code for each call, and a page of 100
    mirrors converts hundreds of column values."""
    found = kind._value2member_map_.get(value)
    return found if found is not None else kind(value)  # type: ignore[return-value]  # a member of kind; else raises


async def row_commitment(info: Info, last_slot: int) -> Commitment:
    cursors = await info.context.loaders.cursors()
    return Commitment.FINALIZED if last_slot <= cursors["finalized"] else Commitment.CONFIRMED


@strawberry.interface(description="Relay: an object with a global id, fetched again by Query.node.")
class Node:
    key: strawberry.Private[str]

    @field(description="Global id: base64 of Type:key.")
    def id(self) -> strawberry.ID:
        return strawberry.ID(global_id(type(self).__name__, self.key))


@strawberry.type(description="A mirror: an AI model of a person. Private ones show only address, owner and visibility to others.")
class Mirror(Node):
    row: strawberry.Private[Any]
    visible: strawberry.Private[bool]
    address: Address
    owner: Address
    visibility: Visibility
    # Guarded (permissions.py): null unless the viewer may see the mirror. Set when the object is built, so that
    # reading one is an attribute read (Strawberry's fast path), not a resolver behind a permission extension.
    creator: Address | None = guarded()
    mirror_id: U64 | None = guarded()
    name: str | None = guarded()
    metadata_uri: str | None = guarded()
    status: MirrorStatus | None = guarded()
    model_version: I64 | None = guarded("The newest model version's number (0: none yet).")
    job_count: U64 | None = guarded()
    created_at: UnixTime | None = guarded()
    updated_at: UnixTime | None = guarded()
    created_slot: I64 | None = guarded()
    created_signature: str | None = guarded()

    @staticmethod
    def of(row: Any) -> Mirror:
        visible = bool(row["visible"])
        guarded = _mirror_guarded(row) if visible else _MIRROR_HIDDEN
        return Mirror(
            key=row["address"],
            row=row,
            visible=visible,
            address=row["address"],
            owner=row["owner"],
            visibility=member(Visibility, row["visibility"]),
            **guarded,
        )

    @field(extensions=private())
    async def commitment(self, info: Info) -> Commitment | None:
        return await row_commitment(info, self.row["last_slot"])

    @field(extensions=private(), description="Grants of this mirror, newest first.")
    async def grants(
        self, info: Info, first: int | None = None, after: str | None = None, last: int | None = None, before: str | None = None
    ) -> Connection[AccessGrant] | None:
        args = PageArgs.of(first, after, last, before)
        loaders = info.context.loaders
        rows = await loaders.grants_page.load((self.address, args))
        return connection(rows, args, grant_sql.ORDER, AccessGrant.of, lambda: loaders.grants_count.load(self.address))

    @field(extensions=private(), description="Training jobs of this mirror, newest first.")
    async def training_jobs(
        self, info: Info, first: int | None = None, after: str | None = None, last: int | None = None, before: str | None = None
    ) -> Connection[TrainingJob] | None:
        args = PageArgs.of(first, after, last, before)
        loaders = info.context.loaders
        rows = await loaders.jobs_page.load((self.address, args))
        return connection(rows, args, job_sql.ORDER, TrainingJob.of, lambda: loaders.jobs_count.load(self.address))

    @field(extensions=private(), description="Model versions of this mirror, newest version first.")
    async def model_versions(
        self, info: Info, first: int | None = None, after: str | None = None, last: int | None = None, before: str | None = None
    ) -> Connection[ModelVersion] | None:
        args = PageArgs.of(first, after, last, before)
        loaders = info.context.loaders
        rows = await loaders.models_page.load((self.address, args))
        return connection(rows, args, model_sql.VERSION_ORDER, ModelVersion.of, lambda: loaders.models_count.load(self.address))

    @field(extensions=private())
    async def latest_model(self, info: Info) -> ModelVersion | None:
        row = await info.context.loaders.latest_model.load(self.address)
        return ModelVersion.of(row) if row is not None else None

    @field(extensions=private(), description="Events naming this mirror, in the order the indexer committed them.")
    async def events(
        self, info: Info, first: int | None = None, after: str | None = None, last: int | None = None, before: str | None = None
    ) -> Connection[ChainEvent] | None:
        args = PageArgs.of(first, after, last, before)
        loaders = info.context.loaders
        rows = await loaders.events_page.load((self.address, args))
        return connection(rows, args, event_sql.ORDER, ChainEvent.of, lambda: loaders.events_count.load(self.address))


def _mirror_guarded(row: Any) -> dict[str, Any]:
    return {
        "creator": row["creator"],
        "mirror_id": row["mirror_id"],
        "name": row["name"],
        "metadata_uri": row["metadata_uri"],
        "status": member(MirrorStatus, row["status"]),
        "model_version": row["model_version"],
        "job_count": row["job_count"],
        "created_at": row["created_at_unix"],
        "updated_at": row["updated_at_unix"],
        "created_slot": row["created_slot"],
        "created_signature": row["created_signature"],
    }


# What a viewer who may not see the mirror reads of every guarded field.
_MIRROR_HIDDEN = dict.fromkeys(
    "creator mirror_id name metadata_uri status model_version job_count created_at updated_at created_slot created_signature".split()
)


async def load_mirror(info: Info, address: str) -> Mirror | None:
    row = await info.context.loaders.mirror.load(address)
    return Mirror.of(row) if row is not None else None


@strawberry.type(description="An AccessGrant account: permissions a mirror's owner gave a wallet.")
class AccessGrant(Node):
    row: strawberry.Private[Any]
    address: Address
    grantee: Address
    permissions: int = strawberry.field(description="Bits: VIEW=1 INFER=2 TRAIN=4 MANAGE=8.")
    granted_by: Address
    effective: bool = strawberry.field(description="Counts now: not revoked, not expired, and granted_by is still the owner.")
    expires_at: UnixTime | None = strawberry.field(description="null: never expires (0 on chain).")
    granted_at: UnixTime
    updated_at: UnixTime
    revoked_at: UnixTime | None
    revoked_by: Address | None

    @staticmethod
    def of(row: Any) -> AccessGrant:
        return AccessGrant(
            key=row["address"],
            row=row,
            address=row["address"],
            grantee=row["grantee"],
            permissions=row["permissions"],
            granted_by=row["granted_by"],
            effective=bool(row["effective"]),
            expires_at=row["expires_at_unix"] or None,
            granted_at=row["granted_at_unix"],
            updated_at=row["updated_at_unix"],
            revoked_at=row["revoked_at_unix"],
            revoked_by=row["revoked_by"],
        )

    @strawberry.field
    def can_view(self) -> bool:
        return bool(self.permissions & 1)

    @strawberry.field
    def can_infer(self) -> bool:
        return bool(self.permissions & 2)

    @strawberry.field
    def can_train(self) -> bool:
        return bool(self.permissions & 4)

    @strawberry.field
    def can_manage(self) -> bool:
        return bool(self.permissions & 8)

    @strawberry.field
    async def mirror(self, info: Info) -> Mirror | None:
        return await load_mirror(info, self.row["mirror"])

    @strawberry.field
    async def commitment(self, info: Info) -> Commitment:
        return await row_commitment(info, self.row["last_slot"])


@strawberry.type(description="A training job of a mirror.")
class TrainingJob(Node):
    row: strawberry.Private[Any]
    address: Address
    job_id: U64
    requester: Address
    dataset_cid: str
    epochs: int
    seq_len: int
    batch_size: int
    learning_rate_micros: I64
    start_fresh: bool = strawberry.field(
        description="The requester asked for a model trained from scratch rather than a continuation of the mirror's latest version."
    )
    status: JobStatus
    trainer: Address | None = strawberry.field(description="The trainer authority that started it.")
    model_cid: str | None
    weights_sha256: str | None
    final_loss_micros: U64 | None
    tokens_trained: U64 | None
    failure_code: int | None
    cancelled_by: Address | None
    requested_at: UnixTime
    started_at: UnixTime | None
    finished_at: UnixTime | None

    @staticmethod
    def of(row: Any) -> TrainingJob:
        return TrainingJob(
            key=row["address"],
            row=row,
            address=row["address"],
            job_id=row["job_id"],
            requester=row["requester"],
            dataset_cid=row["dataset_cid"],
            epochs=row["epochs"],
            seq_len=row["seq_len"],
            batch_size=row["batch_size"],
            learning_rate_micros=row["learning_rate_micros"],
            start_fresh=row["start_fresh"],
            status=member(JobStatus, row["status"]),
            trainer=row["trainer"],
            model_cid=row["model_cid"],
            weights_sha256=row["weights_sha256"],
            final_loss_micros=row["final_loss_micros"],
            tokens_trained=row["tokens_trained"],
            failure_code=row["failure_code"],
            cancelled_by=row["cancelled_by"],
            requested_at=row["requested_at_unix"],
            started_at=row["started_at_unix"],
            finished_at=row["finished_at_unix"],
        )

    @strawberry.field
    async def mirror(self, info: Info) -> Mirror | None:
        return await load_mirror(info, self.row["mirror"])

    @field(description="The model version this job produced, once completed.")
    async def model_version(self, info: Info) -> ModelVersion | None:
        row = await info.context.loaders.model_by_job.load(self.address)
        return ModelVersion.of(row) if row is not None else None

    @strawberry.field
    async def commitment(self, info: Info) -> Commitment:
        return await row_commitment(info, self.row["last_slot"])


@strawberry.type(description="A published model version of a mirror.")
class ModelVersion(Node):
    row: strawberry.Private[Any]
    address: Address
    version: I64
    model_cid: str
    weights_sha256: str
    final_loss_micros: U64
    tokens_trained: U64
    created_at: UnixTime

    @staticmethod
    def of(row: Any) -> ModelVersion:
        return ModelVersion(
            key=row["address"],
            row=row,
            address=row["address"],
            version=row["version"],
            model_cid=row["model_cid"],
            weights_sha256=row["weights_sha256"],
            final_loss_micros=row["final_loss_micros"],
            tokens_trained=row["tokens_trained"],
            created_at=row["created_at_unix"],
        )

    @strawberry.field
    async def mirror(self, info: Info) -> Mirror | None:
        return await load_mirror(info, self.row["mirror"])

    @strawberry.field
    async def job(self, info: Info) -> TrainingJob | None:
        row = await info.context.loaders.job.load(self.row["job"])
        return TrainingJob.of(row) if row is not None else None

    @strawberry.field
    async def commitment(self, info: Info) -> Commitment:
        return await row_commitment(info, self.row["last_slot"])


@strawberry.type(description="One decoded event of the Mirror program, as the indexer stored it.")
class ChainEvent(Node):
    row: strawberry.Private[Any]
    event_id: I64 = strawberry.field(description="chain_events.id: the order of commit; a subscription's cursor.")
    signature: str
    event_index: int
    slot: I64
    block_time: UnixTime | None
    name: str
    data: JSON
    commitment: Commitment

    @staticmethod
    def of(row: Any) -> ChainEvent:
        return ChainEvent(
            key=str(row["id"]),
            row=row,
            event_id=row["id"],
            signature=row["signature"],
            event_index=row["event_index"],
            slot=row["slot"],
            block_time=row["block_time_unix"],
            name=row["name"],
            data=row["payload"],
            commitment=member(Commitment, row["commitment"]),
        )

    @strawberry.field
    async def mirror(self, info: Info) -> Mirror | None:
        address = self.row["mirror"]
        return await load_mirror(info, address) if address else None


@strawberry.type(description="A registered trainer.")
class Trainer(Node):
    row: strawberry.Private[Any]
    address: Address
    authority: Address
    encryption_key: str = strawberry.field(description="X25519 public key, hex: datasets are sealed to it.")
    active: bool
    registered_at: UnixTime
    updated_at: UnixTime

    @staticmethod
    def of(row: Any) -> Trainer:
        return Trainer(
            key=row["address"],
            row=row,
            address=row["address"],
            authority=row["authority"],
            encryption_key=row["encryption_key"],
            active=row["active"],
            registered_at=row["registered_at_unix"],
            updated_at=row["updated_at_unix"],
        )

    @strawberry.field
    async def commitment(self, info: Info) -> Commitment:
        return await row_commitment(info, self.row["last_slot"])


@strawberry.type(description="The program's Config account.")
class Config(Node):
    row: strawberry.Private[Any]
    address: Address
    admin: Address
    pending_admin: Address | None
    paused: bool
    created_at: UnixTime
    updated_at: UnixTime

    @staticmethod
    def of(row: Any) -> Config:
        return Config(
            key=row["address"],
            row=row,
            address=row["address"],
            admin=row["admin"],
            pending_admin=row["pending_admin"],
            paused=row["paused"],
            created_at=row["created_at_unix"],
            updated_at=row["updated_at_unix"],
        )

    @strawberry.field
    async def commitment(self, info: Info) -> Commitment:
        return await row_commitment(info, self.row["last_slot"])


@strawberry.type(description="Where the indexer stands.")
class IndexerStatus:
    cursor_slot: I64 = strawberry.field(description="Every transaction up to this slot is applied (confirmed).")
    finalized_slot: I64 = strawberry.field(description="Every event up to this slot is marked finalized.")
    chain_slot: I64 | None = strawberry.field(description="The node's confirmed slot; null when the node does not answer.")
    lag: I64 | None = strawberry.field(description="chain_slot - cursor_slot.")


@strawberry.type(
    description="A training job's progress as its trainer last reported it (about once a second while it trains; "
    "kept an hour after the last report). Not on chain: what the trainer says, not what it proves."
)
class TrainingProgress:
    job: Address
    mirror: Address
    step: I64 = strawberry.field(description="Optimiser steps done (of `steps`).")
    steps: I64 = strawberry.field(description="Steps the job trains in all.")
    tokens: I64 = strawberry.field(description="Tokens trained so far.")
    loss: float | None = strawberry.field(description="The loss of step `step`.")
    tokens_per_second: float | None = strawberry.field(description="Since the trainer's previous report; null in its first.")
    updated_at: UnixTime = strawberry.field(description="When the trainer reported this.")

    @staticmethod
    def of(record: ProgressRecord) -> TrainingProgress:
        return TrainingProgress(
            job=Address(record.job),
            mirror=Address(record.mirror),
            step=I64(record.step),
            steps=I64(record.steps),
            tokens=I64(record.tokens),
            loss=record.loss,
            tokens_per_second=record.tokens_per_second,
            updated_at=UnixTime(record.updated_at),
        )
