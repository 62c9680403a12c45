"""What the trainer reads from and sends to the chain. The chain is the arbiter: a job is
ours once ``start_training`` lands, and it is finished once ``complete_training`` or
``fail_training`` lands; the read models only tell us where to look."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from solders.keypair import Keypair
from solders.pubkey import Pubkey

from mirror_common import codec
from mirror_common.wallet import Wallet, WalletError
from trainer.failures import FailCode


@dataclass(frozen=True, slots=True)
class JobParams:
    epochs: int
    seq_len: int
    batch_size: int
    learning_rate_micros: int
    start_fresh: bool  # train from scratch, not from the mirror's latest model


@dataclass(frozen=True, slots=True)
class ChainJob:
    """A TrainingJob account as the chain holds it now."""

    address: str
    mirror: str
    job_id: int
    requester: str
    dataset_cid: str
    params: JobParams
    status: str
    trainer: str | None
    model_cid: str = ""  # set by complete_training

    @staticmethod
    def of(address: str, fields: dict[str, Any]) -> ChainJob:
        p = fields["params"]
        return ChainJob(
            address=address,
            mirror=str(fields["mirror"]),
            job_id=int(fields["job_id"]),
            requester=str(fields["requester"]),
            dataset_cid=str(fields["dataset_cid"]),
            params=JobParams(
                int(p["epochs"]), int(p["seq_len"]), int(p["batch_size"]), int(p["learning_rate_micros"]), bool(p["start_fresh"])
            ),
            status=str(fields["status"]),
            trainer=_started_by(fields.get("trainer")),
            model_cid=str(fields.get("model_cid") or ""),
        )


def _started_by(value: Any) -> str | None:
    """The job's trainer; the default key (all zeros) until a trainer starts it."""
    text = str(value) if value else ""
    return None if text in ("", str(Pubkey.default())) else text


@dataclass(frozen=True, slots=True)
class ChainMirror:
    address: str
    owner: str
    visibility: str
    status: str
    model_version: int


class TrainerChain:
    def __init__(self, wallet: Wallet, authority: Keypair) -> None:
        self.wallet = wallet
        self.authority = authority
        self.trainer_account = codec.trainer_pda(authority.pubkey())
        self.config = codec.config_pda()

    async def job(self, address: str) -> ChainJob | None:
        fields = await self.wallet.account_or_none(Pubkey.from_string(address))
        return ChainJob.of(address, fields) if fields is not None else None

    async def mirror(self, address: str) -> ChainMirror:
        fields = await self.wallet.account(Pubkey.from_string(address))
        return ChainMirror(address, str(fields["owner"]), str(fields["visibility"]), str(fields["status"]), int(fields["model_version"]))

    async def claim(self, job: ChainJob) -> str | None:
        """Sends start_training; the signature, or None when the chain says no (taken, cancelled, frozen)."""
        try:
            return await self.wallet.send(
                "start_training",
                {},
                {
                    "config": self.config,
                    "mirror": Pubkey.from_string(job.mirror),
                    "job": Pubkey.from_string(job.address),
                    "trainer": self.trainer_account,
                    "authority": self.authority.pubkey(),
                },
                self.authority,
            )
        except WalletError as e:
            if e.program_error is None:
                raise  # the node is unreachable or the like: not an answer about the job
            return None

    async def complete(self, job: ChainJob, version: int, model_cid: str, weights_sha256: str, loss_micros: int, tokens: int) -> str:
        return await self.wallet.send(
            "complete_training",
            {
                "version": version,
                "model_cid": model_cid,
                "weights_sha256": weights_sha256,
                "metrics": {"final_loss_micros": loss_micros, "tokens_trained": tokens},
            },
            {
                "config": self.config,
                "mirror": Pubkey.from_string(job.mirror),
                "job": Pubkey.from_string(job.address),
                "model": codec.model_pda(job.mirror, version),
                "trainer": self.trainer_account,
                "authority": self.authority.pubkey(),
            },
            self.authority,
        )

    async def fail(self, job: ChainJob, code: FailCode) -> str:
        return await self.wallet.send(
            "fail_training",
            {"reason_code": int(code)},
            {"job": Pubkey.from_string(job.address), "trainer": self.trainer_account, "authority": self.authority.pubkey()},
            self.authority,
        )

    async def model_cid(self, mirror: str, version: int) -> tuple[str, str] | None:
        """The (cid, weights_sha256) of a mirror's model version, from chain."""
        fields = await self.wallet.account_or_none(codec.model_pda(mirror, version))
        return (str(fields["model_cid"]), str(fields["weights_sha256"])) if fields is not None else None
