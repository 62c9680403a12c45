"""The trainer daemon end to end: its own localnet, the indexer, PostgreSQL, Redis and the
embedded content store, with `python -m trainer` as a process (the "tiny" model size).

- the happy path: a sealed dataset → trained → ModelVersion on chain → the artifact loads
  with the chain's sha256; a second job continues from the first model (lineage); a
  private mirror's artifact is sealed to its owner and the inference key;
- poisoned inputs each end Failed on chain with their code while the daemon goes on;
- SIGKILL during training → resumed from the checkpoint, completed exactly once;
- a cancel while running → abandoned within seconds, the daemon goes on;
- two trainers, one job → one run;
- a job that asks to start fresh: trained from scratch (the latest model is not even
  fetched), published as the next version with no parent in its lineage, shown by the
  indexer and the API; the next job continues from it;
- PostgreSQL and the node out of reach (through a proxy that drops and refuses
  connections), before a job and while one trains; Kubo out of reach once a job is
  claimed; a claim that lands but cannot be confirmed: the daemon lives through each, no
  job is failed for it, each completes once;
- a full page of jobs no trainer may start (their mirror frozen) hides no one's job;
  requesters take turns, and a job requested while a queue trains is next.
"""

from __future__ import annotations

import asyncio
import json
import sys
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import asyncpg
import httpx
import pytest
import torch
from prometheus_client.parser import text_string_to_metric_families
from solana.rpc.async_api import AsyncClient
from solana.rpc.commitment import Confirmed
from solders.keypair import Keypair
from solders.pubkey import Pubkey

import trainer.artifact as artifacts
import trainer.infer as infer
import trainer.train as training
from mirror_common import codec
from mirror_common.config import REPO_ROOT, Settings
from mirror_common.ipfs import ContentStore, KuboStore, open_store
from mirror_common.ipfs.unixfs import compute_cid
from mirror_common.localnet import Localnet
from mirror_common.services import ChildProcess, Kubo, Redis, free_port
from mirror_common.wallet import Wallet
from tests.api_support import ApiProcess
from tests.conftest import dev_keypair, funded
from tests.indexer_support import IndexerProcess, RpcFilter, TcpProxy, eventually
from trainer.daemon import CANDIDATES
from trainer.envelope import open_sealed, seal, x25519_keypair_from_solana
from trainer.failures import FailCode
from trainer.model import ModelConfig

TEXT = ("Mirror Reality keeps my words. " * 40 + "\n").encode()
SHORT = {"epochs": 2, "seq_len": 32, "batch_size": 4, "learning_rate_micros": 3000, "start_fresh": False}
# ~45 steps: seconds of training
LONG = {"epochs": 150, "seq_len": 64, "batch_size": 64, "learning_rate_micros": 1000, "start_fresh": False}
LONGER = {**LONG, "epochs": 400}  # ~120 steps


@pytest.fixture(scope="module")
def node(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Localnet]:
    """A chain of its own: no job of another test is waiting on it for the daemon to pick up."""
    node = Localnet(slot_ms=100, finality_depth=2, log_path=tmp_path_factory.mktemp("trainer-node") / "node.log")
    node.start()
    yield node
    node.stop()


class TrainerProcess(ChildProcess):
    """``python -m trainer`` (a tiny model, checkpoints every 0.2 s) against its own node."""

    def __init__(self, node: Localnet, database: str, redis_url: str, data_dir: Path, name: str = "trainer", **env: str) -> None:
        env = {
            "MIRROR_RPC_URL": node.rpc_url,
            "MIRROR_WS_URL": "",
            "DATABASE_URL": database,
            "REDIS_URL": redis_url,
            "MIRROR_DATA_DIR": str(data_dir),
            "TRAINER_MODEL_SIZE": "tiny",
            "TRAINER_METRICS_PORT": "0",
            "TRAINER_LOG_JSON": "true",
            "TRAINER_POLL_S": "0.5",
            "TRAINER_CHECKPOINT_S": "0.2",
            "TRAINER_THREADS": "1",
            **env,
        }
        super().__init__([sys.executable, "-m", "trainer"], env, data_dir / f"{name}.log")

    def lines(self) -> list[dict[str, Any]]:
        return self.json_lines()

    def logged(self, event: str, job: str | None = None) -> list[dict[str, Any]]:
        """The log lines of ``event`` (about ``job`` when given)."""
        return [line for line in self.lines() if line.get("event") == event and (job is None or line.get("job") == job)]


@dataclass
class Owner:
    """The owner's side: seal a dataset, store it, request training."""

    rpc: AsyncClient
    wallet: Wallet
    store: ContentStore
    keypair: Keypair
    trainer_key: bytes  # X25519 public key of the dev trainer

    async def mirror(self, mirror_id: int, visibility: str = "Public") -> Pubkey:
        mirror = codec.mirror_pda(self.keypair.pubkey(), mirror_id)
        await self.wallet.send(
            "create_mirror",
            {"mirror_id": mirror_id, "name": f"m{mirror_id}", "metadata_uri": "ipfs://m", "visibility": visibility},
            {"config": codec.config_pda(), "mirror": mirror, "creator": self.keypair.pubkey()},
            self.keypair,
        )
        return mirror

    async def request(
        self, mirror: Pubkey, *, data: bytes = TEXT, to: list[bytes] | None = None, cid: str | None = None, **params: int | bool
    ) -> Pubkey:
        if cid is None:
            cid = await self.store.put(seal(data, to or [self.trainer_key]))
        job_id = (await self.wallet.account(mirror))["job_count"]
        job = codec.job_pda(mirror, job_id)
        await self.wallet.send(
            "request_training",
            {"dataset_cid": cid, "params": {**SHORT, **params}},
            {"config": codec.config_pda(), "mirror": mirror, "job": job, "requester": self.keypair.pubkey()},
            self.keypair,
        )
        return job

    async def cancel(self, mirror: Pubkey, job: Pubkey) -> None:
        await self.wallet.send("cancel_training", {}, {"mirror": mirror, "job": job, "authority": self.keypair.pubkey()}, self.keypair)

    async def job(self, job: Pubkey) -> dict[str, Any]:
        return await self.wallet.account(job)

    async def another(self) -> Owner:
        """A second requester, with a wallet of its own, sharing this one's node and store."""
        return Owner(self.rpc, self.wallet, self.store, await funded(self.rpc, 5), self.trainer_key)


@dataclass
class Stack:
    node: Localnet
    database: str
    redis_url: str
    data_dir: Path
    owner: Owner
    db: asyncpg.Connection

    def trainer(self, name: str = "trainer", **env: str) -> TrainerProcess:
        return TrainerProcess(self.node, self.database, self.redis_url, self.data_dir, name, **env)

    def checkpoints(self, job: Pubkey) -> Path:
        """Where the dev trainer keeps ``job``'s checkpoints."""
        return self.data_dir / "trainer" / str(dev_keypair("trainer").pubkey()) / "checkpoints" / str(job)

    async def ended(self, job: Pubkey, timeout: float = 120) -> dict[str, Any]:
        async def done() -> dict[str, Any] | None:
            account = await self.owner.job(job)
            return account if account["status"] in ("Completed", "Failed", "Cancelled") else None

        result: dict[str, Any] = await eventually(done, what=f"job {job} ended", timeout=timeout)
        return result


@pytest.fixture
async def stack(node: Localnet, database: str, redis_server: Redis, tmp_path: Path) -> AsyncIterator[Stack]:
    indexer = IndexerProcess(node.rpc_url, database, redis_server.url, tmp_path / "indexer.log").start()
    rpc = AsyncClient(node.rpc_url, commitment=Confirmed)
    store = open_store(Settings(mirror_data_dir=tmp_path))
    db = await asyncpg.connect(database)
    try:
        trainer_key, _ = x25519_keypair_from_solana(dev_keypair("trainer"))
        owner = Owner(rpc, Wallet(rpc), store, await funded(rpc, 20), trainer_key)
        yield Stack(node, database, redis_server.url, tmp_path, owner, db)
    finally:
        await db.close()
        await store.close()
        await rpc.close()
        indexer.stop()


async def model_of(stack: Stack, mirror: Pubkey, version: int) -> dict[str, Any]:
    return await stack.owner.wallet.account(codec.model_pda(mirror, version))


async def test_requested_to_trained_to_published_and_continued(stack: Stack) -> None:
    owner = stack.owner
    metrics_port = free_port()
    daemon = stack.trainer(TRAINER_METRICS_PORT=str(metrics_port)).start()
    try:
        mirror = await owner.mirror(1)
        first = await owner.request(mirror)
        job = await stack.ended(first)
        assert job["status"] == "Completed", (job, daemon.lines()[-5:])
        model = await model_of(stack, mirror, 1)
        assert model["model_cid"] == job["model_cid"] and model["weights_sha256"] == job["weights_sha256"]
        art = artifacts.load_artifact(await owner.store.get(model["model_cid"], 1 << 26), model["weights_sha256"])
        assert art.lineage["job"] == str(first) and art.lineage["parent_sha256"] is None and not art.lineage["fine_tuned"]
        assert job["metrics"]["tokens_trained"] > 0 and art.metrics["tokens_trained"] == job["metrics"]["tokens_trained"]
        assert daemon.logged("job_claimed", str(first))[0]["signature"]  # logs carry the job and the signatures
        assert (await completion_logged(daemon, first))[0]["signature"]

        # The next job of the mirror continues from its latest model.
        second = await owner.request(mirror)
        assert (await stack.ended(second))["status"] == "Completed"
        model2 = await model_of(stack, mirror, 2)
        art2 = artifacts.load_artifact(await owner.store.get(model2["model_cid"], 1 << 26), model2["weights_sha256"])
        assert art2.lineage["parent_sha256"] == model["weights_sha256"] and art2.lineage["fine_tuned"]
        assert art.lineage["start_fresh"] is False and art2.lineage["start_fresh"] is False

        # A private mirror's model is sealed to its owner and to the inference service.
        private = await owner.mirror(2, "Private")
        job3 = await owner.request(private)
        assert (await stack.ended(job3))["status"] == "Completed"
        model3 = await model_of(stack, private, 1)
        sealed = await owner.store.get(model3["model_cid"], 1 << 26)
        for kp in (owner.keypair, dev_keypair("inference")):
            _, secret = x25519_keypair_from_solana(kp)
            artifacts.load_artifact(open_sealed(sealed, secret), model3["weights_sha256"])
        with pytest.raises(artifacts.ArtifactError):
            artifacts.load_artifact(sealed, model3["weights_sha256"])  # not usable without a key: the sha256 is of the plaintext

        # The daemon's metrics: jobs by outcome and by chain state, tokens, the running gauge back at 0
        # (once the daemon has logged the last completion and looked at the queue again).
        tokens = sum([await _job_tokens(owner, j) for j in (first, second, job3)])

        async def scraped() -> dict[tuple[str, tuple[tuple[str, str], ...]], float] | None:
            samples = {
                (s.name, tuple(sorted(s.labels.items()))): s.value
                for family in text_string_to_metric_families(httpx.get(f"http://127.0.0.1:{metrics_port}/metrics", timeout=10).text)
                for s in family.samples
            }
            return samples if samples.get(("mirror_trainer_jobs_total", (("outcome", "completed"),))) == 3 else None

        samples = await eventually(scraped, what="three completions in the metrics")
        assert samples[("mirror_trainer_jobs_total", (("outcome", "claimed"),))] == 3
        assert samples[("mirror_trainer_tokens_total", ())] == tokens
        assert samples[("mirror_trainer_running", ())] == 0
        assert 0 < samples[("mirror_trainer_loss", ())] < 10
        assert ("mirror_trainer_open_jobs", (("status", "requested"),)) in samples
    finally:
        daemon.stop()

    # Published means visible: the indexed versions in GraphQL, and `ask` answers from the latest one, as
    # generating from the artifact here does; the private mirror's model is not served to a stranger.
    async def indexed() -> bool:
        return bool(
            await stack.db.fetchval("SELECT count(*) FROM model_versions WHERE mirror = ANY($1::text[])", [str(mirror), str(private)]) == 3
        )

    await eventually(indexed, what="the three versions indexed")
    api = ApiProcess(stack.database, stack.redis_url, stack.data_dir, API_RATE_IP="0").start()
    try:
        q = """query($m: Address!) {
                 mirror(address: $m) { modelVersions(first: 5) { edges { node { version modelCid weightsSha256 job { address } } } } }
               }"""
        versions = [e["node"] for e in (await api.query(q, m=str(mirror)))["mirror"]["modelVersions"]["edges"]]
        assert sorted((int(v["version"]), v["modelCid"], v["weightsSha256"], v["job"]["address"]) for v in versions) == [
            (1, model["model_cid"], model["weights_sha256"], str(first)),
            (2, model2["model_cid"], model2["weights_sha256"], str(second)),
        ]
        ask = "query($m: Address!, $p: String!) { ask(mirror: $m, prompt: $p, maxTokens: 24, temperature: 0) { text modelVersion tokens } }"
        # The first ask imports torch and loads the model: seconds, more on a busy machine than a client waits by default.
        answer = httpx.post(f"{api.url}/graphql", json={"query": ask, "variables": {"m": str(mirror), "p": "Mirror "}}, timeout=300).json()
        assert answer["data"]["ask"]["modelVersion"] == 2, answer
        assert answer["data"]["ask"]["text"] == infer.complete(infer.load_model(art2), "Mirror ", max_tokens=24, temperature=0.0)
        refused = api.post(ask, m=str(private), p="Mirror ").json()
        assert refused["data"]["ask"] is None and refused["errors"][0]["extensions"]["code"] == "forbidden", refused
    finally:
        api.stop()


async def start_by_hand(owner: Owner, trainer: Keypair, mirror: Pubkey, job: Pubkey) -> None:
    """``start_training`` sent as ``trainer``, not by a daemon."""
    await owner.wallet.send(
        "start_training",
        {},
        {
            "config": codec.config_pda(),
            "mirror": mirror,
            "job": job,
            "trainer": codec.trainer_pda(trainer.pubkey()),
            "authority": trainer.pubkey(),
        },
        trainer,
    )


async def complete_by_hand(owner: Owner, trainer: Keypair, mirror: Pubkey, job: Pubkey, version: int, cid: str, sha256: str) -> None:
    """``complete_training`` of a job ``trainer`` started, publishing ``version`` of the mirror as ``cid``/``sha256``."""
    await owner.wallet.send(
        "complete_training",
        {"version": version, "model_cid": cid, "weights_sha256": sha256, "metrics": {"final_loss_micros": 1, "tokens_trained": 1}},
        {
            "config": codec.config_pda(),
            "mirror": mirror,
            "job": job,
            "model": codec.model_pda(mirror, version),
            "trainer": codec.trainer_pda(trainer.pubkey()),
            "authority": trainer.pubkey(),
        },
        trainer,
    )


async def tampered_mirror(owner: Owner, mirror_id: int) -> Pubkey:
    """A mirror whose version 1 names a file that is not the weights its sha256 says (published
    by the trainer key by hand; call it before a daemon runs, or the daemon claims the job)."""
    tampered = await owner.mirror(mirror_id)
    job0 = await owner.request(tampered)
    await start_by_hand(owner, dev_keypair("trainer"), tampered, job0)
    cid = await owner.store.put(b"not the weights the chain names")
    await complete_by_hand(owner, dev_keypair("trainer"), tampered, job0, 1, cid, "ab" * 32)
    return tampered


async def test_poisoned_inputs_fail_with_their_code_and_the_daemon_goes_on(stack: Stack) -> None:
    owner = stack.owner
    mirror = await owner.mirror(3)

    # A mirror whose latest model's sha256 on chain does not match its file (published by the
    # trainer key before the daemon starts).
    tampered = await tampered_mirror(owner, 4)

    other_key, _ = x25519_keypair_from_solana(Keypair())
    cases = {
        "missing cid": (await owner.request(mirror, cid=compute_cid(b"never stored")), FailCode.DATASET_UNAVAILABLE),
        "sealed to another key": (await owner.request(mirror, to=[other_key]), FailCode.DATASET_DECRYPT),
        "not an envelope": (await owner.request(mirror, cid=await owner.store.put(TEXT)), FailCode.DATASET_DECRYPT),
        "oversized": (await owner.request(mirror, data=b"a" * 30_000), FailCode.DATASET_INVALID),
        "binary junk": (await owner.request(mirror, data=bytes(range(256)) * 8), FailCode.DATASET_INVALID),
        "empty": (await owner.request(mirror, data=b""), FailCode.DATASET_INVALID),
        "base model sha256 mismatch": (await owner.request(tampered), FailCode.TRAINING_ERROR),
    }
    good = await owner.request(mirror)

    daemon = stack.trainer(TRAINER_MAX_DATASET="20000").start()
    try:
        for what, (job, code) in cases.items():
            account = await stack.ended(job)
            assert (account["status"], account["failure_code"]) == ("Failed", int(code)), (what, account)

            async def failure_logged(job: Pubkey = job) -> list[dict[str, Any]]:
                return daemon.logged("job_failed", str(job))  # written after the transaction: maybe a moment after

            await eventually(failure_logged, what=f"{what}: job_failed logged")
        assert (await stack.ended(good))["status"] == "Completed"
        assert daemon.process is not None and daemon.process.poll() is None  # still serving
    finally:
        daemon.stop()


async def test_a_job_that_asks_to_start_fresh_trains_from_scratch(stack: Stack) -> None:
    owner = stack.owner
    # Version 1 of this mirror is a file that fails its sha256: continuing from it cannot work,
    # so a fresh start that completes shows the latest model was not even fetched.
    mirror = await tampered_mirror(owner, 6)
    continued = await owner.request(mirror)
    daemon = stack.trainer().start()
    try:
        failed = await stack.ended(continued)
        assert (failed["status"], failed["failure_code"]) == ("Failed", int(FailCode.TRAINING_ERROR)), failed

        async def failure_logged() -> list[dict[str, Any]]:
            return daemon.logged("job_failed", str(continued))

        assert (await eventually(failure_logged, what="the failure logged"))[0]["reason"] == "base_model_invalid"

        # Two jobs waiting when the daemon starts: the fresh start, then one without start_fresh. The daemon
        # takes a mirror's jobs in the order they were asked for (job_id within a second), so the second
        # continues from the fresh model, not from the broken one.
        daemon.stop()
        fresh = await owner.request(mirror, start_fresh=True)
        following = await owner.request(mirror)
        daemon = stack.trainer().start()
        assert (await owner.job(fresh))["params"]["start_fresh"] is True
        job = await stack.ended(fresh)
        assert job["status"] == "Completed", (job, daemon.lines()[-5:])
        assert (await owner.wallet.account(mirror))["model_version"] == 2  # the next version, as any job
        model2 = await model_of(stack, mirror, 2)
        assert model2["job"] == str(fresh) and model2["weights_sha256"] == job["weights_sha256"]
        art2 = artifacts.load_artifact(await owner.store.get(model2["model_cid"], 1 << 26), model2["weights_sha256"])
        assert art2.lineage == {"parent_sha256": None, "start_fresh": True, "job": str(fresh), "fine_tuned": False}
        assert not daemon.logged("job_failed", str(fresh))

        # The following job continued from the fresh model; its weights are not the fresh ones.
        assert (await stack.ended(following))["status"] == "Completed"
        model3 = await model_of(stack, mirror, 3)
        art3 = artifacts.load_artifact(await owner.store.get(model3["model_cid"], 1 << 26), model3["weights_sha256"])
        assert art3.lineage == {"parent_sha256": model2["weights_sha256"], "start_fresh": False, "job": str(following), "fine_tuned": True}
        assert art3.config == art2.config and set(art3.weights) == set(art2.weights)
        assert any(not torch.equal(art2.weights[k], art3.weights[k]) for k in art2.weights)
    finally:
        daemon.stop()

    # The read side: the indexer stored the flag, the lineage view shows no parent for the
    # fresh version, and the API answers startFresh.
    async def indexed() -> bool:
        n = await stack.db.fetchval("SELECT count(*) FROM model_versions WHERE mirror = $1", str(mirror))
        return bool(n == 3)

    await eventually(indexed, what="the three versions indexed")
    flags = await stack.db.fetch("SELECT address, start_fresh FROM training_jobs WHERE mirror = $1", str(mirror))
    assert {r["address"]: r["start_fresh"] for r in flags} == {
        str(codec.job_pda(mirror, 0)): False,
        str(continued): False,
        str(fresh): True,
        str(following): False,
    }
    lineage = await stack.db.fetch(
        "SELECT version, parent_version, start_fresh FROM analytics.model_lineage WHERE mirror = $1 ORDER BY version", str(mirror)
    )
    assert [tuple(r) for r in lineage] == [(1, None, False), (2, None, True), (3, 2, False)]
    api = ApiProcess(stack.database, stack.redis_url, stack.data_dir).start()
    try:
        q = "query($m: Address!) { trainingJobs(filter: {mirror: $m}, first: 10) { edges { node { address startFresh status } } } }"
        jobs = {e["node"]["address"]: e["node"] for e in (await api.query(q, m=str(mirror)))["trainingJobs"]["edges"]}
        assert {a: (j["startFresh"], j["status"]) for a, j in jobs.items()} == {
            str(codec.job_pda(mirror, 0)): (False, "COMPLETED"),
            str(continued): (False, "FAILED"),
            str(fresh): (True, "COMPLETED"),
            str(following): (False, "COMPLETED"),
        }
    finally:
        api.stop()


async def test_sigkill_during_training_resumes_and_completes_exactly_once(stack: Stack) -> None:
    owner = stack.owner
    mirror = await owner.mirror(5)
    job = await owner.request(mirror, **LONG)
    daemon = stack.trainer().start()
    checkpoint = stack.checkpoints(job) / "checkpoint.pt"
    try:
        await eventually(lambda: _exists(checkpoint), what="a checkpoint", timeout=60)
        daemon.kill()
        assert (await owner.job(job))["status"] == "Running"
        daemon = stack.trainer("trainer-2").start()
        account = await stack.ended(job)
        assert account["status"] == "Completed"
        assert daemon.logged("job_resumed", str(job))
        finished = daemon.logged("training_finished", str(job))
        assert len(finished) == 1 and 0 < finished[0]["resumed_from_step"] < finished[0]["steps"], finished  # from the checkpoint
        completed = await stack.db.fetchval(
            "SELECT count(*) FROM chain_events WHERE name = 'TrainingCompleted' AND payload->>'job' = $1", str(job)
        )
        assert completed in (0, 1)  # the indexer may not have it yet; never two
        assert (await owner.wallet.account(mirror))["model_version"] == 1
        assert await owner.wallet.account_or_none(codec.model_pda(mirror, 2)) is None
        assert not checkpoint.parent.exists()  # cleaned up once published
    finally:
        daemon.stop()


async def test_a_cancel_while_running_is_abandoned_within_seconds(stack: Stack) -> None:
    owner = stack.owner
    mirror = await owner.mirror(6)
    job = await owner.request(mirror, **LONG)
    daemon = stack.trainer().start()
    try:
        await eventually(lambda: _status(owner, job, "Running"), what="training started", timeout=60)
        await owner.cancel(mirror, job)
        await eventually(lambda: _true(daemon.logged("job_abandoned", str(job))), what="abandoned", timeout=15)
        assert (await owner.job(job))["status"] == "Cancelled"
        # Stopped while training, not after: nothing trained to the end, nothing stored.
        assert not daemon.logged("training_finished", str(job)) and not daemon.logged("artifact_stored", str(job))
        after = await owner.request(mirror)
        assert (await stack.ended(after))["status"] == "Completed"  # and the daemon goes on
    finally:
        daemon.stop()


async def another_trainer(owner: Owner, key_file: Path) -> Keypair:
    """A second trainer, registered by the dev admin and funded; its keypair file written to ``key_file``."""
    admin = dev_keypair("admin")
    second = Keypair()
    await asyncio.to_thread(key_file.write_text, json.dumps(list(bytes(second))))
    second_key, _ = x25519_keypair_from_solana(second)
    await owner.wallet.send(
        "register_trainer",
        {"authority": second.pubkey(), "encryption_key": second_key.hex()},
        {"config": codec.config_pda(), "trainer": codec.trainer_pda(second.pubkey()), "admin": admin.pubkey()},
        admin,
    )
    sig = await owner.rpc.request_airdrop(second.pubkey(), 2_000_000_000)
    await owner.rpc.confirm_transaction(sig.value, commitment=Confirmed)
    return second


async def test_two_trainers_one_job_one_run(stack: Stack, tmp_path: Path) -> None:
    owner = stack.owner
    second_key, _ = x25519_keypair_from_solana(await another_trainer(owner, tmp_path / "second.json"))
    mirror = await owner.mirror(7)
    daemons = [stack.trainer("a").start(), stack.trainer("b", MIRROR_TRAINER_KEYPAIR=str(tmp_path / "second.json")).start()]
    try:
        jobs = [await owner.request(mirror, to=[owner.trainer_key, second_key]) for _ in range(3)]
        for job in jobs:
            assert (await stack.ended(job))["status"] == "Completed"
            claims = [d for d in daemons if d.logged("job_claimed", str(job))]
            assert len(claims) == 1, [d.log_path.name for d in claims]
        assert (await owner.wallet.account(mirror))["model_version"] == 3
    finally:
        for d in daemons:
            d.stop()


async def test_a_model_whose_base_moved_while_it_trained_is_trained_again_from_the_latest(stack: Stack, tmp_path: Path) -> None:
    """Another trainer publishes a version of the mirror while the daemon trains the mirror's next job from
    the version before: the daemon does not publish a model that says it continues from a version that is
    no longer the latest (analytics.model_lineage would name the wrong parent); it trains again from the new one."""
    owner = stack.owner
    other = await another_trainer(owner, tmp_path / "other.json")
    mirror = await owner.mirror(15)
    slow = await owner.request(mirror, **LONGER)
    quick = await owner.request(mirror)
    await start_by_hand(owner, other, mirror, quick)  # the other trainer has this one
    config = ModelConfig.named("tiny")
    result = await asyncio.to_thread(training.train, TEXT, training.TrainingParams(2, 32, 4, 3000), config, seed=7)
    blob, sha256 = artifacts.build_artifact(result, config, job=str(quick), lineage={"parent_sha256": None, "start_fresh": False})
    cid = await owner.store.put(blob)

    daemon = stack.trainer().start()
    try:
        await eventually(lambda: _true(daemon.logged("job_claimed", str(slow))), what="the slow job claimed", timeout=60)
        await complete_by_hand(owner, other, mirror, quick, 1, cid, sha256)  # version 1, while the slow job trains from none
        assert not daemon.logged("training_finished", str(slow)), "trained before version 1 was out: the test shows nothing"
        account = await stack.ended(slow)
        assert account["status"] == "Completed", daemon.lines()[-5:]
        assert [line["latest"] for line in daemon.logged("base_model_moved", str(slow))] == [1]
        model2 = await model_of(stack, mirror, 2)
        art2 = artifacts.load_artifact(await owner.store.get(model2["model_cid"], 1 << 26), model2["weights_sha256"])
        assert art2.lineage["parent_sha256"] == sha256 and art2.lineage["fine_tuned"]
    finally:
        daemon.stop()


async def test_a_mirror_frozen_while_its_job_trains_fails_the_job_at_once(stack: Stack) -> None:
    """complete_training refuses a frozen mirror's model: training stops within seconds, the job fails
    MIRROR_FROZEN, instead of training to the end for nothing."""
    owner = stack.owner
    mirror = await owner.mirror(16)
    job = await owner.request(mirror, **LONGER)
    daemon = stack.trainer().start()
    try:
        await eventually(lambda: _true(daemon.logged("job_claimed", str(job))), what="claimed", timeout=60)
        await owner.wallet.send("freeze_mirror", {}, {"mirror": mirror, "owner": owner.keypair.pubkey()}, owner.keypair)
        account = await stack.ended(job)
        assert (account["status"], account["failure_code"]) == ("Failed", int(FailCode.MIRROR_FROZEN)), account
        assert not daemon.logged("training_finished", str(job)) and not daemon.logged("artifact_stored", str(job))
    finally:
        daemon.stop()


async def test_a_completion_whose_confirmation_is_lost_is_logged_as_completed(stack: Stack) -> None:
    """complete_training lands but its confirmation never comes (getSignatureStatuses refused): the job is
    Completed by us with our model, so the daemon says so (job_completed with the signature), not abandoned."""
    owner = stack.owner
    node = await RpcFilter(stack.node.rpc_url).start()
    daemon = stack.trainer(MIRROR_RPC_URL=node.url).start()
    try:
        mirror = await owner.mirror(17)
        job = await owner.request(mirror, **LONG)
        await eventually(lambda: _true(daemon.logged("job_claimed", str(job))), what="claimed", timeout=60)
        node.blocked = {"getSignatureStatuses"}
        assert (await stack.ended(job))["status"] == "Completed"
        completed = await completion_logged(daemon, job)
        assert len(completed) == 1 and completed[0]["signature"], completed
        assert not daemon.logged("job_abandoned", str(job)) and node.refused > 0
    finally:
        daemon.stop()
        await node.close()


async def test_the_node_and_the_database_out_of_reach_are_waited_out(stack: Stack) -> None:
    """Cut off from PostgreSQL and from the node, before a job and while one trains: the daemon
    lives through both, and each job completes exactly once when they are back."""
    owner = stack.owner
    pg, database = await TcpProxy.in_front_of(stack.database)
    node, rpc_url = await TcpProxy.in_front_of(stack.node.rpc_url)
    daemon = stack.trainer(MIRROR_RPC_URL=rpc_url, DATABASE_URL=database).start()
    try:
        mirror = await owner.mirror(8)
        await eventually(lambda: _true(daemon.logged("trainer_started")), what="the daemon up", timeout=60)

        # 1. Both out of reach before the job: it waits, then is claimed once both are back.
        pg.refuse = node.refuse = True
        pg.cut()
        node.cut()
        first = await owner.request(mirror)
        await eventually(lambda: _true(daemon.logged("trainer_database_lost")), what="the database missed", timeout=30)
        pg.refuse = False
        await eventually(lambda: _true(daemon.logged("job_read_failed", str(first))), what="the node missed", timeout=30)
        assert (await owner.job(first))["status"] == "Requested"
        node.refuse = False
        assert (await stack.ended(first))["status"] == "Completed", daemon.lines()[-5:]

        # 2. The node out of reach while a job trains: training ends, publishing cannot; the job
        #    stays ours and Running, and is resumed and published once the node is back.
        second = await owner.request(mirror, **LONG)
        await eventually(lambda: _true(daemon.logged("job_claimed", str(second))), what="claimed", timeout=60)
        node.refuse = True
        node.cut()
        await eventually(lambda: _true(daemon.logged("job_transaction_failed", str(second))), what="publishing failed", timeout=120)
        assert (await owner.job(second))["status"] == "Running"
        node.refuse = False
        assert (await stack.ended(second))["status"] == "Completed", daemon.lines()[-5:]
        assert daemon.logged("job_resumed", str(second)) and len(await completion_logged(daemon, second)) == 1
        assert (await owner.wallet.account(mirror))["model_version"] == 2

        # 3. The same, but the owner cancels the job while it waits for the node: its checkpoints go.
        third = await owner.request(mirror, **LONG)
        checkpoints = stack.checkpoints(third)
        await eventually(lambda: _true(daemon.logged("job_claimed", str(third))), what="claimed", timeout=60)
        node.refuse = True
        node.cut()
        await eventually(lambda: _true(daemon.logged("job_transaction_failed", str(third))), what="publishing failed", timeout=120)
        assert checkpoints.exists()
        await owner.cancel(mirror, third)
        await eventually(lambda: _true(daemon.logged("checkpoints_dropped", str(third))), what="checkpoints dropped", timeout=30)
        assert not checkpoints.exists()
        node.refuse = False
        assert (await owner.job(third))["status"] == "Cancelled" and daemon.alive()
    finally:
        daemon.stop()
        await node.close()
        await pg.close()


async def test_a_claim_whose_confirmation_is_lost_is_resumed_not_sent_again(stack: Stack) -> None:
    """start_training lands, but the daemon cannot confirm it (the node answers 503 to
    getSignatureStatuses): the job is put aside, found Running for us at the next look, and resumed;
    no second claim is sent, and the job completes once."""
    owner = stack.owner
    node = await RpcFilter(stack.node.rpc_url).start()
    daemon = stack.trainer(MIRROR_RPC_URL=node.url).start()
    try:
        mirror = await owner.mirror(14)
        node.blocked = {"getSignatureStatuses"}
        job = await owner.request(mirror)
        await eventually(lambda: _true(daemon.logged("job_claim_unsure", str(job))), what="the claim unconfirmed", timeout=60)
        account = await owner.job(job)
        assert account["status"] == "Running" and str(account["trainer"]) == str(dev_keypair("trainer").pubkey())
        node.blocked = set()
        assert (await stack.ended(job))["status"] == "Completed", daemon.lines()[-5:]
        assert daemon.logged("job_resumed", str(job)) and not daemon.logged("job_claimed", str(job))
        assert len(await completion_logged(daemon, job)) == 1 and node.refused > 0
    finally:
        daemon.stop()
        await node.close()


async def test_the_content_store_out_of_reach_defers_the_job_and_fails_nothing(stack: Stack, kubo: Kubo) -> None:
    """Kubo out of reach once a job is claimed: the job is not failed (it stays ours and Running) and
    completes once Kubo is back, its model stored there."""
    owner = stack.owner
    proxy = await TcpProxy(kubo.api_port).start()
    store = KuboStore(kubo.url)
    daemon = stack.trainer(IPFS_API_URL=f"http://127.0.0.1:{proxy.port}").start()
    try:
        mirror = await owner.mirror(9)
        proxy.refuse = True
        job = await owner.request(mirror, cid=await store.put(seal(TEXT, [owner.trainer_key])))
        await eventually(lambda: _true(daemon.logged("job_deferred", str(job))), what="the job deferred", timeout=60)
        assert (await owner.job(job))["status"] == "Running"
        assert not daemon.logged("job_failed", str(job))
        proxy.refuse = False
        account = await stack.ended(job)
        assert account["status"] == "Completed", daemon.lines()[-5:]
        assert await store.has(account["model_cid"])
        assert len(await completion_logged(daemon, job)) == 1 and daemon.alive()
    finally:
        daemon.stop()
        await store.close()
        await proxy.close()


async def test_a_job_requested_while_a_queue_trains_is_next_not_last(stack: Stack) -> None:
    """After each job the daemon looks at the job table again: a job requested by someone else while
    one requester's queue is being worked through is taken next, not after the whole queue."""
    owner = stack.owner
    other = await owner.another()
    cid = await owner.store.put(seal(TEXT, [owner.trainer_key]))
    busy = await owner.mirror(12)
    queue = [await owner.request(busy, cid=cid, **(LONGER if n == 0 else {})) for n in range(3)]
    daemon = stack.trainer().start()
    try:
        await eventually(lambda: _true(daemon.logged("job_claimed", str(queue[0]))), what="the queue's first job claimed", timeout=60)
        late = await other.request(await other.mirror(1), cid=cid)
        await eventually(lambda: stack.db.fetchval("SELECT count(*) = 1 FROM training_jobs WHERE address = $1", str(late)), what="indexed")
        assert (await owner.job(queue[0]))["status"] == "Running"  # requested while the queue's first job trained
        for job in (*queue, late):
            assert (await stack.ended(job))["status"] == "Completed"
        assert _claims(daemon) == [str(queue[0]), str(late), str(queue[1]), str(queue[2])]
    finally:
        daemon.stop()


async def test_requesters_take_turns_the_one_served_least_recently_first(stack: Stack) -> None:
    """Each requester's next job in turn: a requester whose job was just trained waits behind one
    who has not been served, though its next job is older."""
    owner = stack.owner
    other = await owner.another()
    cid = await owner.store.put(seal(TEXT, [owner.trainer_key]))
    busy = await owner.mirror(13)
    queue = [await owner.request(busy, cid=cid) for _ in range(3)]
    first = stack.trainer("first").start("--max-jobs", "1")
    try:
        assert (await stack.ended(queue[0]))["status"] == "Completed"
        await eventually(lambda: _true(not first.alive()), what="the first daemon done with its one job", timeout=30)
    finally:
        first.stop()
    late = await other.request(await other.mirror(2), cid=cid)
    await eventually(
        lambda: stack.db.fetchval(
            "SELECT count(*) = 2 FROM training_jobs WHERE (address = $1 AND status = 'Completed') OR address = $2", str(queue[0]), str(late)
        ),
        what="the read models up to date",
    )
    daemon = stack.trainer("second").start()
    try:
        for job in (*queue[1:], late):
            assert (await stack.ended(job))["status"] == "Completed"
        assert _claims(daemon) == [str(late), str(queue[1]), str(queue[2])]
    finally:
        daemon.stop()


def _claims(daemon: TrainerProcess) -> list[str]:
    return [line["job"] for line in daemon.lines() if line.get("event") == "job_claimed"]


async def test_jobs_no_trainer_may_start_do_not_hide_everyone_else_s(stack: Stack) -> None:
    """Anyone can leave Requested jobs that no trainer may start: request them, then freeze the mirror.
    A full page of them (the daemon reads the oldest CANDIDATES open jobs) used to fill every look at
    the job table, each refused again and again, and no later job of anyone was ever seen. Now they
    are not even tried, and the next job of another mirror completes. (Last in the module: the stuck
    jobs stay on this chain.)"""
    owner = stack.owner
    frozen = await owner.mirror(10)
    cid = await owner.store.put(seal(TEXT, [owner.trainer_key]))
    stuck = [await owner.request(frozen, cid=cid) for _ in range(CANDIDATES)]
    await owner.wallet.send("freeze_mirror", {}, {"mirror": frozen, "owner": owner.keypair.pubkey()}, owner.keypair)
    await eventually(
        lambda: stack.db.fetchval("SELECT status = 'Frozen' FROM mirrors WHERE address = $1", str(frozen)), what="frozen", timeout=60
    )
    job = await owner.request(await owner.mirror(11), cid=cid)
    daemon = stack.trainer().start()
    try:
        assert (await stack.ended(job))["status"] == "Completed", daemon.lines()[-5:]
        assert not any(daemon.logged("job_claim_lost", str(j)) for j in stuck)
        assert {(await owner.job(j))["status"] for j in (stuck[0], stuck[-1])} == {"Requested"}
    finally:
        daemon.stop()


async def completion_logged(daemon: TrainerProcess, job: Pubkey) -> list[dict[str, Any]]:
    """The daemon's job_completed lines for ``job``, once there is one: the chain shows the job Completed a
    moment before the daemon, still confirming its transaction, logs it."""

    async def lines() -> list[dict[str, Any]]:
        return daemon.logged("job_completed", str(job))

    found: list[dict[str, Any]] = await eventually(lines, what=f"job_completed logged for {job}", timeout=30)
    return found


async def _job_tokens(owner: Owner, job: Pubkey) -> int:
    return int((await owner.job(job))["metrics"]["tokens_trained"])


async def _exists(path: Path) -> bool:
    return await asyncio.to_thread(path.exists)


async def _true(value: Any) -> bool:
    return bool(value)


async def _status(owner: Owner, job: Pubkey, status: str) -> bool:
    return bool((await owner.job(job))["status"] == status)


def test_fail_codes_are_the_program_s() -> None:
    idl = json.loads((REPO_ROOT / "idl" / "mirror.json").read_text())
    constants = {c["name"]: int(c["value"]) for c in idl["constants"] if c["name"].startswith("FAIL_")}
    assert constants == {f"FAIL_{code.name}": int(code) for code in FailCode}
