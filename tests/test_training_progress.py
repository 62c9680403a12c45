"""Training progress end to end (trainer/progress.py → Redis → graphql_api/progress.py → trainer/client.py),
over a real Redis, PostgreSQL, localnet, indexer, API and trainer process:

- the record's codec: what it writes it reads back (edge values too), and any other bytes are a
  ``ValueError``, never another exception (hypothesis);
- the reporter: at most a write a second and the last step's, with its TTL; tokens/s from consecutive
  reports (a resumed job is not shown faster than it trains); a Redis that takes connections and never
  answers slows no ``report`` and holds ``close`` for at most ``CLOSE_S``, with one warning;
- the daemon training a real job writes the key (step rising to steps, finite loss, TTL); Redis cut off
  and then taking connections without answering, mid-training: the job completes all the same;
- the API's ``trainingProgress`` query and subscription: the value in Redis, null for nothing or for a
  malformed value (no error), the clear address error; the subscription sends each change and ends
  once the job ends on chain, and no longer counts as open;
- the owner's ``follow`` shows the steps from the API, and falls back to the stages, saying so once,
  when the API cannot be reached (in process and as the command line).
"""

from __future__ import annotations

import asyncio
import io
import json
import math
import os
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import httpx
import pytest
import redis.asyncio as aioredis
import structlog
from hypothesis import example, given, settings
from hypothesis import strategies as st
from solana.rpc.async_api import AsyncClient
from solders.keypair import Keypair
from solders.pubkey import Pubkey

from mirror_common.config import REPO_ROOT
from mirror_common.localnet import Localnet
from mirror_common.services import Redis, free_port
from mirror_common.wallet import Wallet
from tests.api_support import ApiProcess, full_stack, sign_in
from tests.conftest import funded
from tests.indexer_support import MirrorLife, TcpProxy, eventually
from tests.test_api_subscriptions import Subscribed
from tests.test_trainer_e2e import LONGER, Stack, TrainerProcess, node, stack
from trainer.client import OwnerClient, Progress, ProgressApi
from trainer.progress import CLOSE_S, I64_MAX, TTL_S, ProgressRecord, ProgressReporter, progress_key

__all__ = ["node", "stack"]  # the trainer e2e's fixtures, used here as they are

JOB = str(Keypair().pubkey())
MIRROR = str(Keypair().pubkey())


def record(job: str = JOB, mirror: str = MIRROR, **fields: Any) -> ProgressRecord:
    values: dict[str, Any] = {"step": 3, "steps": 10, "tokens": 3 * 4096, "loss": 2.25, "tokens_per_second": 1500.5}
    return ProgressRecord(job=job, mirror=mirror, updated_at=int(time.time()), **{**values, **fields})


# -- the record --------------------------------------------------------------------------------


@given(
    step=st.integers(0, I64_MAX),
    extra=st.integers(0, I64_MAX),
    tokens=st.integers(0, I64_MAX),
    loss=st.none() | st.floats(allow_nan=False, allow_infinity=False),
    rate=st.none() | st.floats(min_value=0.0, allow_nan=False, allow_infinity=False),
    updated_at=st.integers(0, I64_MAX),
)
@example(step=0, extra=1, tokens=0, loss=5e-324, rate=0.0, updated_at=0)  # subnormal loss, zero everything
@example(step=I64_MAX, extra=0, tokens=I64_MAX, loss=-1.7976931348623157e308, rate=1.7976931348623157e308, updated_at=I64_MAX)
def test_a_record_reads_back_as_it_was_written(
    step: int, extra: int, tokens: int, loss: float | None, rate: float | None, updated_at: int
) -> None:
    steps = max(1, min(I64_MAX, step + extra))
    step = min(step, steps)
    written = ProgressRecord(JOB, MIRROR, step, steps, tokens, loss, rate, updated_at)
    assert ProgressRecord.decode(written.encode()) == written


HOSTILE = [
    b"",
    b"\xff\xfe",  # not UTF-8
    b"[" * 5000,  # past the size limit
    b"[" * 4000,  # nested deeper than the parser goes
    b"null",
    b'"text"',
    json.dumps({**json.loads(record().encode()), "loss": None}).replace("null", "NaN").encode(),
    json.dumps({**json.loads(record().encode()), "loss": 1e999}).encode(),  # inf once parsed
    json.dumps({**json.loads(record().encode()), "step": 11}).encode(),  # past steps
    json.dumps({**json.loads(record().encode()), "steps": 0, "step": 0}).encode(),
    json.dumps({**json.loads(record().encode()), "step": True}).encode(),
    json.dumps({**json.loads(record().encode()), "tokens": 2**63}).encode(),
    json.dumps({**json.loads(record().encode()), "tokens": -1}).encode(),
    json.dumps({**json.loads(record().encode()), "tokens_per_second": -0.5}).encode(),
    json.dumps({**json.loads(record().encode()), "updated_at": 1.5}).encode(),
    json.dumps({**json.loads(record().encode()), "job": "\U0001d510" * 11}).encode(),  # 4-byte UTF-8, too short
    json.dumps({**json.loads(record().encode()), "job": "\U0001d510" * 32}).encode(),  # 4-byte UTF-8, an address's length
    json.dumps({**json.loads(record().encode()), "job": "\ud800" * 32}).encode(),  # lone surrogates, once parsed
    json.dumps({**json.loads(record().encode()), "loss": 10**400}).encode(),  # an int no float holds (OverflowError)
    json.dumps({**json.loads(record().encode()), "tokens_per_second": -(10**400)}).encode(),
    json.dumps({**json.loads(record().encode()), "mirror": "0" * 44}).encode(),  # not base58
    json.dumps({**json.loads(record().encode()), "job": None}).encode(),
]


@pytest.mark.parametrize("raw", HOSTILE, ids=range(len(HOSTILE)))
def test_anything_else_is_a_value_error(raw: bytes) -> None:
    with pytest.raises(ValueError):
        ProgressRecord.decode(raw)


JSON = st.recursive(
    st.none() | st.booleans() | st.floats() | st.integers() | st.text(),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=20), inner, max_size=8),
)
# Records with one field changed to anything: the decoder's checks, field by field.
ALMOST = st.builds(
    lambda name, value: json.dumps({**json.loads(record().encode()), name: value}),
    st.sampled_from(list(json.loads(record().encode()))),
    JSON,
)


@given(st.binary(max_size=300) | JSON.map(lambda v: json.dumps(v).encode()) | ALMOST.map(str.encode))
@settings(max_examples=300)
def test_no_bytes_raise_anything_but_a_value_error(raw: bytes) -> None:
    try:
        ProgressRecord.decode(raw)
    except ValueError:
        pass


# -- the reporter ------------------------------------------------------------------------------


async def test_the_reporter_writes_once_a_second_and_the_last_step_with_its_ttl(redis_server: Redis) -> None:
    client = aioredis.from_url(redis_server.url)
    job = str(Keypair().pubkey())
    writes: list[bytes] = []
    try:
        reporter = ProgressReporter(redis_server.url, job, MIRROR)
        await client.delete(progress_key(job))

        async def watch() -> None:
            while True:
                value = await client.get(progress_key(job))
                if value is not None and (not writes or writes[-1] != value):
                    writes.append(value)
                await asyncio.sleep(0.01)

        watcher = asyncio.create_task(watch())
        # A job resumed at step 1000 of 1300: the tokens count the steps before the checkpoint.
        tokens_per_step = 512

        def train() -> None:
            for step in range(1001, 1301):
                time.sleep(0.01)  # ~100 steps a second: ~51,200 tokens/s
                reporter.report(step, 1300, 1.0 / step, step * tokens_per_step)

        started = time.monotonic()
        await asyncio.to_thread(train)
        elapsed = time.monotonic() - started
        await reporter.close()
        await asyncio.sleep(0.1)
        watcher.cancel()
        final = ProgressRecord.decode(await client.get(progress_key(job)))
        assert final.step == final.steps == 1300 and final.tokens == 1300 * tokens_per_step and final.loss == pytest.approx(1 / 1300)
        assert 0 < await client.ttl(progress_key(job)) <= TTL_S
        seen = [ProgressRecord.decode(w) for w in writes]
        assert len(seen) <= math.ceil(elapsed) + 2, [r.step for r in seen]  # a second apart, and the last
        assert [r.step for r in seen] == sorted(r.step for r in seen) and seen[0].tokens_per_second is None
        # After the first: tokens added / time between reports, not tokens / time since the resume.
        true_rate = 300 * tokens_per_step / elapsed
        for r in seen[1:-1]:
            assert r.tokens_per_second is not None and true_rate / 3 < r.tokens_per_second < true_rate * 3, (r, true_rate)
    finally:
        await client.aclose()


async def test_a_redis_that_never_answers_slows_no_report_and_close_is_bounded(redis_server: Redis) -> None:
    stalling, url = await TcpProxy.in_front_of(redis_server.url)
    stalling.stall = True
    job = str(Keypair().pubkey())
    with structlog.testing.capture_logs() as events:
        reporter = ProgressReporter(url, job, MIRROR, interval_s=0.0)  # every report goes to the writer
        slowest = 0.0

        def train() -> None:
            nonlocal slowest
            for step in range(1, 201):
                started = time.perf_counter()
                reporter.report(step, 200, 2.0, step * 64)
                slowest = max(slowest, time.perf_counter() - started)
                time.sleep(0.01)

        await asyncio.to_thread(train)
        started = time.monotonic()
        await reporter.close()
        closing = time.monotonic() - started
    await stalling.close()
    assert slowest < 0.05, slowest  # never waits on Redis (a write here takes a second to fail)
    assert closing < CLOSE_S + 0.5, closing
    warnings = [e for e in events if e["event"] == "training_progress_unreported"]
    assert len(warnings) == 1 and warnings[0]["job"] == job, events  # once per job, however many writes failed


# -- the daemon --------------------------------------------------------------------------------


async def _record_of(client: aioredis.Redis, job: Pubkey) -> ProgressRecord | None:
    raw = await client.get(progress_key(str(job)))
    return ProgressRecord.decode(raw) if raw is not None else None


async def test_the_daemon_reports_a_training_job_s_progress(stack: Stack) -> None:
    owner = stack.owner
    client = aioredis.from_url(stack.redis_url)
    mirror = await owner.mirror(40)
    job = await owner.request(mirror, **LONGER)
    daemon = stack.trainer().start()
    seen: list[ProgressRecord] = []
    try:

        async def finished() -> bool:
            found = await _record_of(client, job)
            if found is not None and (not seen or found != seen[-1]):
                seen.append(found)
            return found is not None and found.step == found.steps

        await eventually(finished, what="the last step reported", timeout=180)
        assert (await stack.ended(job))["status"] == "Completed", daemon.lines()[-5:]
        assert len(seen) >= 3, seen  # several reports on the way
        assert [r.step for r in seen] == sorted(r.step for r in seen) and len({r.step for r in seen}) == len(seen)
        assert all(r.job == str(job) and r.mirror == str(mirror) and r.loss is not None and math.isfinite(r.loss) for r in seen)
        assert all(r.tokens_per_second is None or r.tokens_per_second > 0 for r in seen)
        assert seen[-1].tokens == (await owner.job(job))["metrics"]["tokens_trained"]
        assert 0 < await client.ttl(progress_key(str(job))) <= TTL_S
        assert not daemon.logged("training_progress_unreported")
    finally:
        daemon.stop()
        await client.aclose()


async def test_redis_cut_off_mid_training_does_not_stop_the_job(stack: Stack) -> None:
    owner = stack.owner
    client = aioredis.from_url(stack.redis_url)
    stalling, url = await TcpProxy.in_front_of(stack.redis_url)
    mirror = await owner.mirror(41)
    job = await owner.request(mirror, **LONGER)
    daemon = TrainerProcess(stack.node, stack.database, url, stack.data_dir).start()
    try:
        first = await eventually(lambda: _record_of(client, job), what="a first report", timeout=120)
        assert first.step < first.steps
        # Cut off, and from then on taken but never answered: each write waits out its timeout.
        stalling.stall = True
        stalling.cut()
        assert (await stack.ended(job, timeout=240))["status"] == "Completed", daemon.lines()[-5:]
        assert daemon.logged("job_completed", str(job))
        last = await _record_of(client, job)
        assert last is not None and last.step < last.steps  # nothing written since the cut
        assert len(daemon.logged("training_progress_unreported", str(job))) == 1
    finally:
        daemon.stop()
        await stalling.close()
        await client.aclose()


# -- the API -----------------------------------------------------------------------------------

QUERY = "query($j: Address!) { trainingProgress(job: $j) { job mirror step steps tokens loss tokensPerSecond updatedAt } }"
SUBSCRIPTION = "subscription($j: Address!) { trainingProgress(job: $j) { step steps loss } }"


def _open_subscriptions(api: ApiProcess) -> float:
    for line in httpx.get(f"{api.url}/metrics").text.splitlines():
        if line.startswith("mirror_api_subscriptions_active "):
            return float(line.split()[1])
    raise AssertionError("no mirror_api_subscriptions_active")


async def test_the_api_serves_progress_and_the_subscription_ends_with_the_job(
    rpc: AsyncClient, localnet: Localnet, trainer: Keypair, database: str, redis_server: Redis, tmp_path: Path
) -> None:
    client = aioredis.from_url(redis_server.url)
    async with full_stack(localnet.rpc_url, database, redis_server.url, tmp_path) as s:
        api, db = s.api, s.db
        life = MirrorLife(rpc, trainer)
        owner = await funded(rpc, 5)
        mirror = await life.create(owner, 40, "Progress", "Private")  # progress is seen as the job is: by its owner here
        job = await life.request(owner, mirror, 0)
        key = progress_key(str(job))
        await eventually(lambda: db.fetchval("SELECT count(*) FROM training_jobs WHERE address = $1", str(job)), what="job indexed")
        token = sign_in(api, owner)

        assert (await api.query(QUERY, token, j=str(job)))["trainingProgress"] is None  # nothing known
        written = record(str(job), str(mirror), step=0, loss=5e-324, tokens=0, tokens_per_second=None)
        await client.set(key, written.encode())

        async def owner_reads(expected: Any) -> bool:  # a job's key is read at most once a second: the value may lag that much
            return bool(api.post(QUERY, token, j=str(job)).json() == {"data": {"trainingProgress": expected}})

        await eventually(
            lambda: owner_reads(
                {
                    "job": str(job),
                    "mirror": str(mirror),
                    "step": "0",
                    "steps": "10",
                    "tokens": "0",
                    "loss": 5e-324,
                    "tokensPerSecond": None,
                    "updatedAt": str(written.updated_at),
                }
            ),
            what="the owner reads the value written",
        )
        for stranger in (None, sign_in(api, Keypair())):  # a private mirror's job: not theirs to see, nor its progress
            assert (await api.query(QUERY, stranger, j=str(job)))["trainingProgress"] is None
        for bad in (b"{not json", b'{"job": 1}', record(str(Keypair().pubkey()), str(mirror)).encode()):  # the last names another job
            await client.set(key, record(str(job), str(mirror), step=1).encode())
            await eventually(lambda: _not(owner_reads(None)), what="a good value read")
            await client.set(key, bad)
            await eventually(lambda: owner_reads(None), what=f"{bad[:20]!r} read as null")
        answer = api.post(QUERY, j="not-an-address").json()
        assert "Address must be a base58 public key" in answer["errors"][0]["message"] and answer["data"] is None, answer
        assert "training_progress_malformed" in api.log()

        # The subscription: the value now, each change, then the end once the job ends on chain.
        await client.delete(key)
        async with Subscribed(api, SUBSCRIPTION, token, j=str(job)) as live, Subscribed(api, SUBSCRIPTION, j=str(job)) as stranger:
            assert live.items == [{"trainingProgress": None}]
            await eventually(lambda: _done(stranger), what="a stranger's subscription ended at once", timeout=15)
            assert stranger.items == [{"trainingProgress": None}] and stranger.error is None

            # Twenty more subscribers of the job: the API reads its key once a second for them all, not once each.
            more = [Subscribed(api, SUBSCRIPTION, token, j=str(job)) for _ in range(20)]
            await asyncio.gather(*(one.__aenter__() for one in more))
            await client.config_resetstat()
            await asyncio.sleep(3)
            gets = int((await client.info("commandstats")).get("cmdstat_get", {}).get("calls", 0))
            assert gets <= 8, gets  # one a second (and a read's edge); 60 if each subscriber read for itself
            for one in more:
                await one.__aexit__()

            async def only_one_open() -> bool:
                return _open_subscriptions(api) == 1

            await eventually(only_one_open, what="the twenty closed", timeout=15)
            await life.start(mirror, job)
            await client.set(key, record(str(job), str(mirror), step=1).encode())
            await live.count(2, "step 1")
            await client.set(key, b"\x00garbage")
            await live.count(3, "null for a malformed value")
            await client.set(key, record(str(job), str(mirror), step=2).encode())
            await live.count(4, "step 2")
            assert _open_subscriptions(api) == 1
            await life.complete(mirror, job, 1)
            await eventually(lambda: _done(live), what="the subscription ended with the job", timeout=30)
            assert live.error is None, live.error
            got_steps = [i["trainingProgress"] and i["trainingProgress"]["step"] for i in live.items]
            assert got_steps == [None, "1", None, "2"], got_steps
        assert _open_subscriptions(api) == 0

        # A job that has ended (or that the indexer does not know): the value now, and the end.
        for ended in (str(job), str(Keypair().pubkey())):
            async with Subscribed(api, SUBSCRIPTION, token, j=ended) as once:
                await eventually(lambda: _done(once), what="an ended job's subscription ended", timeout=15)
                assert len(once.items) == 1 and once.error is None
    await client.aclose()


async def _not(check: Any) -> bool:
    return not await check


async def _done(subscribed: Subscribed) -> bool:
    return subscribed._task.done()


# -- the owner's client --------------------------------------------------------------------------


async def test_follow_shows_steps_from_the_api_and_falls_back_to_stages_without_it(
    rpc: AsyncClient, localnet: Localnet, trainer: Keypair, database: str, redis_server: Redis, tmp_path: Path
) -> None:
    client = aioredis.from_url(redis_server.url)
    async with full_stack(localnet.rpc_url, database, redis_server.url, tmp_path) as s:
        life = MirrorLife(rpc, trainer)
        owner = await funded(rpc, 5)
        mirror = await life.create(owner, 41, "Follow", "Public")
        job = await life.request(owner, mirror, 0)
        await life.start(mirror, job)
        key = progress_key(str(job))
        await client.set(key, record(str(job), str(mirror), step=3, steps=45, loss=2.3456, tokens_per_second=1234.0).encode())
        await eventually(lambda: s.api.query(QUERY, j=str(job)), what="the API answers")

        dead = f"http://127.0.0.1:{free_port()}/graphql"  # nothing listens there
        with_api, without = io.StringIO(), io.StringIO()
        owner_client = OwnerClient(Wallet(rpc), None, None)  # type: ignore[arg-type]  # following needs no content store
        async with httpx.AsyncClient() as http:

            async def follow(url: str, out: io.StringIO) -> str:
                with Progress(str(job), out, line_every_s=0) as display:
                    final = await owner_client.follow(
                        str(job),
                        display.change,
                        poll_s=0.1,
                        progress=ProgressApi(url, http, display.api_unavailable),
                        on_progress=display.reported,
                    )
                return final.status

            following = asyncio.gather(follow(f"{s.api.url}/graphql", with_api), follow(dead, without))
            await eventually(lambda: _shows(with_api, "step 3/45"), what="step 3 shown")
            await client.set(key, record(str(job), str(mirror), step=9, steps=45, loss=2.0, tokens_per_second=1300.0).encode())
            await eventually(lambda: _shows(with_api, "step 9/45"), what="step 9 shown")
            await asyncio.sleep(0.5)  # several more polls of the dead API
            await life.complete(mirror, job, 1)
            assert await asyncio.wait_for(following, 60) == ["Completed", "Completed"]

        shown = with_api.getvalue()
        assert "step 3/45, loss 2.3456, 1,234 tokens/s" in shown and "step 9/45, loss 2.0000, 1,300 tokens/s" in shown, shown
        assert "Completed: model" in shown and "unavailable" not in shown
        fallback = without.getvalue()
        assert fallback.count("training progress unavailable from the API") == 1, fallback  # once, not once a poll
        assert "Running: claimed by trainer" in fallback and "Completed: model" in fallback and "step " not in fallback

        # A private mirror's job: the owner's client signs in (SIWS) and sees its steps; without a wallet, nothing.
        private = await life.create(owner, 42, "Hidden", "Private")
        hidden = await life.request(owner, private, 0)
        await life.start(private, hidden)
        await client.set(progress_key(str(hidden)), record(str(hidden), str(private), step=5, steps=45).encode())
        async with httpx.AsyncClient() as http:
            signed = ProgressApi(f"{s.api.url}/graphql", http, signer=owner)
            anonymous = ProgressApi(f"{s.api.url}/graphql", http)

            async def owner_sees() -> Any:
                return await signed.read(str(hidden))

            assert (await eventually(owner_sees, what="the owner sees the private job's progress")).step == 5
            assert await anonymous.read(str(hidden)) is None and anonymous.available  # answered: nothing to show
            stranger = ProgressApi(f"{s.api.url}/graphql", http, signer=Keypair())
            assert await stranger.read(str(hidden)) is None and stranger.available

        # The command line: --api names the API; the first report is a line at once off a terminal.
        second = await life.request(owner, mirror, 1)
        await life.start(mirror, second)
        await client.set(progress_key(str(second)), record(str(second), str(mirror), step=7, steps=45).encode())
        env = {**os.environ, "MIRROR_RPC_URL": localnet.rpc_url, "MIRROR_DATA_DIR": str(tmp_path), "IPFS_API_URL": ""}
        command = [sys.executable, "-m", "trainer.client", "follow", "--job", str(second), "--poll", "0.1", "--api"]
        followers = {name: _cli([*command, url], env) for name, url in (("api", f"{s.api.url}/graphql"), ("dead", dead))}
        shown_by = {"api": await _read_until(followers["api"], "step 7/45"), "dead": await _read_until(followers["dead"], "unavailable")}
        await asyncio.sleep(0.5)  # more polls
        await life.complete(mirror, second, 2)
        for name, process in followers.items():
            out, err = await asyncio.to_thread(process.communicate, timeout=60)
            text = shown_by[name] + err
            assert process.returncode == 0 and out.startswith("Completed: model"), (name, out, text)
            assert text.count("training progress unavailable from the API") == (name == "dead"), (name, text)
            assert ("step 7/45" in text) == (name == "api"), (name, text)
    await client.aclose()


async def _shows(out: io.StringIO, text: str) -> bool:
    return text in out.getvalue()


def _cli(command: list[str], env: dict[str, str]) -> subprocess.Popen[str]:
    return subprocess.Popen(command, cwd=REPO_ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


async def _read_until(process: subprocess.Popen[str], text: str) -> str:
    """What the follow display wrote (stderr) up to the first line with ``text``."""
    assert process.stderr is not None
    lines: list[str] = []
    while not lines or text not in lines[-1]:
        line = await asyncio.wait_for(asyncio.to_thread(process.stderr.readline), 60)
        assert line, f"ended before {text!r}: {lines}"
        lines.append(line)
    return "".join(lines)


async def test_a_malformed_api_url_is_unavailable_not_a_crash() -> None:
    """``ProgressApi.read`` never raises: an --api that httpx cannot even parse is told once, like an API that is down."""
    told: list[str] = []
    async with httpx.AsyncClient() as http:
        api = ProgressApi("http://[::1", http, told.append, signer=Keypair())
        assert await api.read(str(Keypair().pubkey())) is None
        assert await api.read(str(Keypair().pubkey())) is None
    assert len(told) == 1 and not api.available, told
