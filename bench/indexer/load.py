"""Filling a mirror-localnet with Mirror events, fast.

Every transaction is built with the shared IDL codec, signed with solders up front,
and sent base64 in JSON-RPC batches over several connections at once (the node runs
the requests of one batch one after another, each waiting for its ledger fsync, so
throughput comes from concurrent connections: their fsyncs are grouped).

The load is made of rounds. In a round every creator takes K new mirrors through
five phases, each a few multi-instruction transactions (packed up to the 1232-byte
packet limit), one event per instruction:

    create_mirror      MirrorCreated       (creator signs)
    update_mirror      MirrorUpdated       (creator signs)
    grant_access       AccessGranted       (creator signs)
    request_training   TrainRequested      (creator signs)
    start_training     TrainingStarted     (the dev trainer signs)

A phase starts once the previous one is answered (sendTransaction answers after
execution), so every instruction finds the accounts it needs.
"""

from __future__ import annotations

import asyncio
import base64
import json
import math
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
from solders.hash import Hash
from solders.instruction import Instruction
from solders.keypair import Keypair
from solders.message import Message
from solders.pubkey import Pubkey
from solders.transaction import Transaction

from mirror_common import codec
from mirror_common.config import REPO_ROOT

PACKET_DATA_SIZE = 1232  # bytes of a serialized transaction, as on Solana
LAMPORTS_PER_SOL = 1_000_000_000
DATASET_CID = "bafkreigh2akiscaildcqabsyg3dfr6chu3fgpregiymsck7e7aqa4s52zy"
PARAMS = {"epochs": 1, "seq_len": 32, "batch_size": 4, "learning_rate_micros": 1000, "start_fresh": False}
PHASES = ("create_mirror", "update_mirror", "grant_access", "request_training", "start_training")


def dev_keypair(name: str) -> Keypair:
    path = REPO_ROOT / "keys" / "dev" / f"localnet-{name}-keypair.json"
    return Keypair.from_bytes(bytes(json.loads(path.read_text())))


class RpcSendError(RuntimeError):
    pass


class Sender:
    """JSON-RPC batches over ``concurrency`` keep-alive connections."""

    def __init__(self, rpc_url: str, *, concurrency: int = 16, per_request: int = 8) -> None:
        self.url = rpc_url
        self.concurrency = concurrency
        self.per_request = per_request
        self.http = httpx.AsyncClient(
            timeout=120.0, limits=httpx.Limits(max_connections=concurrency, max_keepalive_connections=concurrency)
        )
        self._id = 0

    async def close(self) -> None:
        await self.http.aclose()

    async def call(self, method: str, *params: Any) -> Any:
        self._id += 1
        r = (await self.http.post(self.url, json={"jsonrpc": "2.0", "id": self._id, "method": method, "params": list(params)})).json()
        if "error" in r:
            raise RpcSendError(f"{method}: {r['error']}")
        return r["result"]

    async def blockhash(self) -> Hash:
        return Hash.from_string((await self.call("getLatestBlockhash", {"commitment": "confirmed"}))["value"]["blockhash"])

    async def batch(self, method: str, params_list: Sequence[list[Any]], on_done: Callable[[int], None] | None = None) -> list[Any]:
        """All calls, ``per_request`` to an HTTP request, ``concurrency`` requests in flight.
        Results in order; an entry is the error object when that call failed."""
        results: list[Any] = [None] * len(params_list)
        chunks = [range(i, min(i + self.per_request, len(params_list))) for i in range(0, len(params_list), self.per_request)]
        queue: asyncio.Queue[range] = asyncio.Queue()
        for c in chunks:
            queue.put_nowait(c)

        async def worker() -> None:
            while not queue.empty():
                idx = queue.get_nowait()
                body = [{"jsonrpc": "2.0", "id": i, "method": method, "params": params_list[i]} for i in idx]
                replies = (await self.http.post(self.url, json=body)).json()
                if isinstance(replies, dict):
                    raise RpcSendError(f"{method} batch refused: {replies.get('error')}")
                for rep in replies:
                    results[rep["id"]] = {"error": rep["error"]} if "error" in rep else rep["result"]
                if on_done:
                    on_done(len(idx))

        await asyncio.gather(*(worker() for _ in range(min(self.concurrency, len(chunks)))))
        return results

    async def send_transactions(self, txs: Sequence[bytes], on_done: Callable[[int], None] | None = None) -> list[Any]:
        params = [[base64.b64encode(t).decode(), {"encoding": "base64"}] for t in txs]
        return await self.batch("sendTransaction", params, on_done)


def pack(ixs: Sequence[Instruction], payer: Keypair, signers: Sequence[Keypair], blockhash: Hash, max_ixs: int) -> list[bytes]:
    """Signed transactions holding ``ixs`` in order, as many per transaction as fit."""
    out: list[bytes] = []
    i = 0
    while i < len(ixs):
        n = min(max_ixs, len(ixs) - i)
        while True:
            tx = bytes(Transaction(list(signers), Message(list(ixs[i : i + n]), payer.pubkey()), blockhash))
            if len(tx) <= PACKET_DATA_SIZE or n == 1:
                break
            n -= 1
        if len(tx) > PACKET_DATA_SIZE:
            raise ValueError(f"one instruction does not fit a packet ({len(tx)} bytes)")
        out.append(tx)
        i += n
    return out


@dataclass
class LoadPlan:
    """What a load put on chain; saved beside a cached ledger so a rerun can reuse it."""

    events: int = 0  # Mirror events sent by the load (one per instruction), bootstrap excluded
    transactions: int = 0
    per_round: int = 6  # mirrors per creator per round
    creators: list[str] = field(default_factory=list)  # base58 secret keys (throwaway, bench-only)
    mirrors: list[int] = field(default_factory=list)  # mirrors created per creator (ids 0..n-1)
    by_event: dict[str, int] = field(default_factory=dict)
    seconds: float = 0.0

    def keypairs(self) -> list[Keypair]:
        return [Keypair.from_base58_string(s) for s in self.creators]

    def save(self, path: Path) -> None:
        path.write_text(json.dumps(self.__dict__, indent=1))

    @classmethod
    def read(cls, path: Path) -> LoadPlan:
        return cls(**json.loads(path.read_text()))


EVENT_OF = {
    "create_mirror": "MirrorCreated",
    "update_mirror": "MirrorUpdated",
    "grant_access": "AccessGranted",
    "request_training": "TrainRequested",
    "start_training": "TrainingStarted",
}


class Progress:
    def __init__(self, total: int, what: str, stream: Any = sys.stderr) -> None:
        self.total = total
        self.what = what
        self.done = 0
        self.started = time.monotonic()
        self.stream = stream
        self.tty = stream.isatty()
        self._last = 0.0

    def add(self, n: int) -> None:
        self.done += n
        now = time.monotonic()
        if now - self._last >= (0.25 if self.tty else 5.0) or self.done >= self.total:
            self._last = now
            self.show()

    def show(self, final: bool = False) -> None:
        el = max(time.monotonic() - self.started, 1e-9)
        pct = 100.0 * self.done / max(self.total, 1)
        line = f"  {self.what}: {self.done:,}/{self.total:,} ({pct:5.1f}%) {self.done / el:,.0f}/s {el:6.1f}s"
        if self.tty:
            self.stream.write("\r" + line + ("\n" if final else ""))
        else:
            self.stream.write(line + "\n")
        self.stream.flush()


async def load(
    rpc_url: str, events: int, *, per_round: int = 6, concurrency: int = 16, per_request: int = 8, quiet: bool = False
) -> LoadPlan:
    """Sends at least ``events`` Mirror events (rounded up to whole creator-phases)."""
    c = codec.default_codec()
    trainer = dev_keypair("trainer")
    config = c.config_pda()
    trainer_account = c.trainer_pda(trainer.pubkey())
    per_creator_round = per_round * len(PHASES)
    creators_n = max(1, min(200, math.ceil(events / per_creator_round)))
    rounds = math.ceil(events / (creators_n * per_creator_round))
    creators = [Keypair() for _ in range(creators_n)]
    grantees = [Keypair().pubkey() for _ in range(8)]
    plan = LoadPlan(per_round=per_round, creators=[str(k) for k in creators], mirrors=[0] * creators_n)
    sender = Sender(rpc_url, concurrency=concurrency, per_request=per_request)
    started = time.monotonic()
    out = sys.stderr
    try:
        # Rent for each round's accounts (mirror, grant, job: well under 0.01 SOL each) and fees.
        sol = 10 + rounds
        replies = await sender.batch("requestAirdrop", [[str(k.pubkey()), sol * LAMPORTS_PER_SOL] for k in creators])
        bad = [r for r in replies if isinstance(r, dict) and "error" in r]
        if bad:
            raise RpcSendError(f"requestAirdrop: {bad[0]}")
        total_events = creators_n * rounds * per_creator_round
        if not quiet:
            print(
                f"loading {total_events:,} events: {creators_n} creators x {rounds} rounds x {per_round} mirrors x "
                f"{len(PHASES)} phases ({', '.join(PHASES)})",
                file=out,
            )
        progress = Progress(total_events, "events sent")
        for r in range(rounds):
            ids = list(range(r * per_round, (r + 1) * per_round))
            for phase in PHASES:
                bh = await sender.blockhash()
                txs: list[bytes] = []
                for ci, kp in enumerate(creators):
                    owner = kp.pubkey()
                    ixs: list[Instruction] = []
                    for j, mid in enumerate(ids):
                        mirror = c.mirror_pda(owner, mid)
                        if phase == "create_mirror":
                            ixs.append(
                                c.build_instruction(
                                    phase,
                                    {
                                        "mirror_id": mid,
                                        "name": f"bench {ci}/{mid}",
                                        "metadata_uri": f"ipfs://bench/{ci}/{mid}",
                                        "visibility": "Public" if mid % 2 else "Private",
                                    },
                                    {"config": config, "mirror": mirror, "creator": owner},
                                )
                            )
                        elif phase == "update_mirror":
                            ixs.append(
                                c.build_instruction(
                                    phase,
                                    {"name": f"bench {ci}/{mid} v2", "metadata_uri": None, "visibility": None},
                                    {"config": config, "mirror": mirror, "authority": owner},
                                )
                            )
                        elif phase == "grant_access":
                            grantee = grantees[j % len(grantees)]
                            ixs.append(
                                c.build_instruction(
                                    phase,
                                    {"grantee": grantee, "permissions": 1 | 2, "expires_at": 0},
                                    {"config": config, "mirror": mirror, "grant": c.grant_pda(mirror, grantee), "owner": owner},
                                )
                            )
                        elif phase == "request_training":
                            ixs.append(
                                c.build_instruction(
                                    phase,
                                    {"dataset_cid": DATASET_CID, "params": PARAMS},
                                    {"config": config, "mirror": mirror, "job": c.job_pda(mirror, 0), "requester": owner},
                                )
                            )
                        else:
                            ixs.append(
                                c.build_instruction(
                                    phase,
                                    {},
                                    {
                                        "config": config,
                                        "mirror": mirror,
                                        "job": c.job_pda(mirror, 0),
                                        "trainer": trainer_account,
                                        "authority": trainer.pubkey(),
                                    },
                                )
                            )
                    signer = trainer if phase == "start_training" else kp
                    packed = pack(ixs, signer, [signer], bh, per_round)
                    txs.extend(packed)
                ev_per_tx = per_round * creators_n / len(txs)
                replies = await sender.send_transactions(txs, lambda n, ev_per_tx=ev_per_tx: progress.add(round(n * ev_per_tx)))
                bad = [rep for rep in replies if isinstance(rep, dict) and "error" in rep]
                if bad:
                    raise RpcSendError(f"{phase} round {r}: {len(bad)} of {len(txs)} transactions refused, first: {bad[0]['error']}")
                plan.transactions += len(txs)
                plan.events += per_round * creators_n
                plan.by_event[EVENT_OF[phase]] = plan.by_event.get(EVENT_OF[phase], 0) + per_round * creators_n
            plan.mirrors = [(r + 1) * per_round] * creators_n
        if not quiet and progress.tty:
            progress.done = plan.events
            progress.show(final=True)
    finally:
        await sender.close()
    plan.seconds = time.monotonic() - started
    return plan


def live_transactions(plan: LoadPlan, count: int, blockhash: Hash) -> list[tuple[str, bytes]]:
    """``count`` one-instruction transactions on the loaded mirrors, rotating through
    update, grant (to a new grantee), request_training (the mirror's next job) and
    create (a new mirror); (event name, signed bytes)."""
    c = codec.default_codec()
    config = c.config_pda()
    creators = plan.keypairs()
    next_job: dict[tuple[int, int], int] = {}
    out: list[tuple[str, bytes]] = []
    new_id = 1_000_000_000
    for i in range(count):
        ci = i % len(creators)
        kp = creators[ci]
        owner = kp.pubkey()
        mid = (i // len(creators)) % max(plan.mirrors[ci], 1)
        mirror = c.mirror_pda(owner, mid)
        kind = i % 4
        if kind == 0 or plan.mirrors[ci] == 0:
            name, ix = (
                "MirrorCreated",
                c.build_instruction(
                    "create_mirror",
                    {
                        "mirror_id": new_id + i,
                        "name": f"live {i}",
                        "metadata_uri": f"ipfs://live/{i}",
                        "visibility": "Public",
                    },
                    {"config": config, "mirror": c.mirror_pda(owner, new_id + i), "creator": owner},
                ),
            )
        elif kind == 1:
            name, ix = (
                "MirrorUpdated",
                c.build_instruction(
                    "update_mirror",
                    {"name": f"live {i}", "metadata_uri": None, "visibility": None},
                    {"config": config, "mirror": mirror, "authority": owner},
                ),
            )
        elif kind == 2:
            grantee = Pubkey.from_bytes(bytes(Keypair().pubkey()))
            name, ix = (
                "AccessGranted",
                c.build_instruction(
                    "grant_access",
                    {"grantee": grantee, "permissions": 1, "expires_at": 0},
                    {"config": config, "mirror": mirror, "grant": c.grant_pda(mirror, grantee), "owner": owner},
                ),
            )
        else:
            job_id = next_job.get((ci, mid), 1)
            next_job[(ci, mid)] = job_id + 1
            name, ix = (
                "TrainRequested",
                c.build_instruction(
                    "request_training",
                    {"dataset_cid": DATASET_CID, "params": PARAMS},
                    {"config": config, "mirror": mirror, "job": c.job_pda(mirror, job_id), "requester": owner},
                ),
            )
        out.append((name, bytes(Transaction([kp], Message([ix], owner), blockhash))))
    return out
