"""`--ledger DIR` never loses what it acknowledged: after SIGTERM, SIGKILL, a torn
append or a failed write, a restart serves every account, signature, transaction and
log that the node acknowledged. A damaged ledger is refused untouched, with the byte
offset, and `--repair-ledger` keeps every intact record after saving a copy."""

from __future__ import annotations

import asyncio
import shutil
import signal
import subprocess
import sys
import zlib
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest
from solana.exceptions import SolanaRpcException
from solana.rpc.async_api import AsyncClient
from solana.rpc.commitment import Confirmed
from solana.rpc.core import RPCException
from solders.keypair import Keypair
from solders.pubkey import Pubkey
from solders.signature import Signature
from solders.transaction_status import UiRawMessage, UiTransaction

from mirror_common import codec
from mirror_common.config import REPO_ROOT
from mirror_common.localnet import Localnet
from tests.conftest import LAMPORTS_PER_SOL
from tests.test_localnet_rpc import transfer_tx


async def fund(client: AsyncClient, n: int) -> list[Keypair]:
    payers = [Keypair() for _ in range(n)]
    sigs = [(await client.request_airdrop(p.pubkey(), 10 * LAMPORTS_PER_SOL)).value for p in payers]
    for sig in sigs:
        await client.confirm_transaction(sig, Confirmed, sleep_seconds=0.05)
    return payers


async def test_ledger_survives_sigkill_under_load(tmp_path: Path) -> None:
    node = Localnet(ledger_dir=tmp_path / "ledger", slot_ms=50, finality_depth=2, log_path=tmp_path / "node.log")
    node.start()
    acknowledged: list[tuple[Signature, Pubkey, int]] = []
    target = Pubkey.new_unique()
    async with AsyncClient(node.rpc_url) as client:
        genesis = (await client.get_genesis_hash()).value
        payers = await fund(client, 4)

        async def sender(payer: Keypair, start: int) -> None:
            amount = start
            while True:
                amount += 1
                try:
                    tx = await transfer_tx(client, payer, target, amount)
                    sig = (await client.send_transaction(tx)).value
                except (httpx.HTTPError, RPCException, SolanaRpcException, OSError):
                    return  # the node is gone
                acknowledged.append((sig, target, amount))

        senders = [asyncio.create_task(sender(p, i * 1_000_000)) for i, p in enumerate(payers)]
        await asyncio.sleep(1.5)
        slot_before_kill = (await client.get_slot(Confirmed)).value
        assert node.process is not None
        node.process.send_signal(signal.SIGKILL)  # mid-stream, senders still going
        await asyncio.gather(*senders)
        node.process.wait()
    assert len(acknowledged) > 20, "the load did not get going"

    node.start()
    try:
        async with AsyncClient(node.rpc_url) as client:
            assert (await client.get_genesis_hash()).value == genesis
            assert (await client.get_slot(Confirmed)).value > slot_before_kill, "the slot must never go back"
            sigs = [s for s, _, _ in acknowledged]
            for i in range(0, len(sigs), 200):
                statuses = (await client.get_signature_statuses(sigs[i : i + 200], search_transaction_history=True)).value
                missing = [str(s) for s, st in zip(sigs[i : i + 200], statuses, strict=True) if st is None]
                assert not missing, f"acknowledged but lost after SIGKILL: {missing[:5]}"
            tx = (await client.get_transaction(sigs[-1], commitment=Confirmed)).value
            assert tx is not None and tx.transaction.meta is not None and tx.transaction.meta.log_messages
            # Account state agrees with the recorded history: the balance is the sum of
            # the transfers the ledger holds (acknowledged ones, plus any written but
            # not yet answered when the process died).
            history = (await client.get_signatures_for_address(target, limit=1000)).value
            assert {s.signature for s in history} >= set(sigs)
            total = 0
            for entry in history:
                got = (await client.get_transaction(entry.signature, commitment=Confirmed)).value
                assert got is not None and got.transaction.meta is not None
                sent = got.transaction.transaction
                assert isinstance(sent, UiTransaction) and isinstance(sent.message, UiRawMessage)
                idx = sent.message.account_keys.index(target)
                total += got.transaction.meta.post_balances[idx] - got.transaction.meta.pre_balances[idx]
            assert (await client.get_balance(target, Confirmed)).value == total
            # The node carries on from where it was.
            payer = payers[0]
            sig = (await client.send_transaction(await transfer_tx(client, payer, target, 1))).value
            await client.confirm_transaction(sig, Confirmed, sleep_seconds=0.05)
    finally:
        node.stop()


async def test_ledger_survives_sigterm_with_program_state(tmp_path: Path) -> None:
    node = Localnet(ledger_dir=tmp_path / "ledger", slot_ms=50, finality_depth=2)
    node.start()
    async with AsyncClient(node.rpc_url) as client:
        await asyncio.sleep(1.0)  # ~20 empty slots after the bootstrap transactions
        before_slot = (await client.get_slot(Confirmed)).value
        accounts_before = {
            str(a.pubkey): bytes(a.account.data)
            for a in (await client.get_program_accounts(codec.default_codec().program_id, Confirmed, encoding="base64")).value
        }
        assert accounts_before, "bootstrap should have created Config and the dev Trainer"
    assert node.stop(signal.SIGTERM) == 0
    node.bootstrap = False  # nothing may be re-created: it must all come back from the ledger
    node.start()
    try:
        async with AsyncClient(node.rpc_url) as client:
            assert (await client.get_slot(Confirmed)).value > before_slot, "the slot must never go back"
            after = {
                str(a.pubkey): bytes(a.account.data)
                for a in (await client.get_program_accounts(codec.default_codec().program_id, Confirmed, encoding="base64")).value
            }
            assert after == accounts_before
    finally:
        node.stop()


async def test_with_a_ledger_notifications_follow_durability(tmp_path: Path) -> None:
    """Subscribers hear of a transaction only once its record is fsync'd (so a crash
    cannot take back something an indexer already stored); they do hear of it."""
    from solana.rpc.websocket_api import SolanaWsClient
    from solders.rpc.config import RpcTransactionLogsFilterMentions
    from solders.rpc.responses import LogsNotificationResult

    with Localnet(ledger_dir=tmp_path / "ledger", slot_ms=50) as node:
        async with AsyncClient(node.rpc_url) as client, SolanaWsClient(node.ws_url) as ws:
            (payer,) = await fund(client, 1)
            await ws.logs_subscribe(filter_=RpcTransactionLogsFilterMentions(payer.pubkey()), commitment=Confirmed)
            sig = (await client.send_transaction(await transfer_tx(client, payer, Pubkey.new_unique(), 5))).value
            note = await asyncio.wait_for(ws.recv(), 10)
            assert isinstance(note.result, LogsNotificationResult)
            assert note.result.value.signature == sig


# ---- damaged ledgers -------------------------------------------------------------
#
# The file format (localnet/src/ledger/scan.rs): b"MIRLEDGR", version u32 le, then
# frames [len u32][payload crc32][crc32 of those 8 bytes][bincode entry].

FILE_HEADER_LEN = 12
FRAME_HEADER_LEN = 12
TRANSACTION_VARIANT = (1).to_bytes(4, "little")  # Entry::Transaction


def frame(payload: bytes) -> bytes:
    head = len(payload).to_bytes(4, "little") + zlib.crc32(payload).to_bytes(4, "little")
    return head + zlib.crc32(head).to_bytes(4, "little") + payload


def frame_spans(data: bytes) -> list[tuple[int, int]]:
    """(start, end) of every frame of an intact ledger."""
    assert data[:8] == b"MIRLEDGR", "not a ledger in the current format"
    spans, pos = [], FILE_HEADER_LEN
    while pos < len(data):
        end = pos + FRAME_HEADER_LEN + int.from_bytes(data[pos : pos + 4], "little")
        assert end <= len(data), f"a frame at byte {pos} runs past the end"
        assert zlib.crc32(data[pos : pos + 8]) == int.from_bytes(data[pos + 8 : pos + 12], "little"), f"frame header at {pos}"
        assert zlib.crc32(data[pos + FRAME_HEADER_LEN : end]) == int.from_bytes(data[pos + 4 : pos + 8], "little"), f"frame at {pos}"
        spans.append((pos, end))
        pos = end
    return spans


def record_signature(data: bytes, span: tuple[int, int]) -> Signature | None:
    """The first signature of a transaction record (variant, slot, block time, then
    the transaction: a one-byte signature count and the signatures)."""
    payload = data[span[0] + FRAME_HEADER_LEN : span[1]]
    if payload[:4] != TRANSACTION_VARIANT:
        return None
    return Signature.from_bytes(payload[21:85])


@dataclass
class AckedLedger:
    """A closed ledger holding 40 acknowledged transfers to `target`."""

    dir: Path
    payer: Keypair
    target: Pubkey
    transfers: list[tuple[Signature, int]]
    balance: int

    def copy(self, into: Path) -> Path:
        return Path(shutil.copytree(self.dir, into / "ledger"))


@pytest.fixture(scope="module")
async def acked_ledger(tmp_path_factory: pytest.TempPathFactory) -> AckedLedger:
    """The report's setup: 40 acknowledged transfers, then the node stopped."""
    ledger = tmp_path_factory.mktemp("acked") / "ledger"
    target = Pubkey.new_unique()
    transfers: list[tuple[Signature, int]] = []
    with Localnet(ledger_dir=ledger, slot_ms=50) as node:
        async with AsyncClient(node.rpc_url) as client:
            (payer,) = await fund(client, 1)
            for amount in range(1_000_000, 1_000_040):
                transfers.append(((await client.send_transaction(await transfer_tx(client, payer, target, amount))).value, amount))
            balance = (await client.get_balance(target, Confirmed)).value
    assert balance == sum(a for _, a in transfers)
    return AckedLedger(ledger, payer, target, transfers, balance)


def refused(ledger: Path, *extra: str) -> str:
    """Runs the node on `ledger`; it must exit non-zero. Returns what it wrote."""
    node = Localnet(ledger_dir=ledger, bootstrap=False, slot_ms=50, extra_args=extra)
    proc = subprocess.Popen(node.command(), cwd=REPO_ROOT, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    try:
        out, _ = proc.communicate(timeout=30)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.communicate()
        pytest.fail("the node kept running on a ledger it must refuse")
    text = out.decode(errors="replace")
    assert proc.returncode != 0, text
    return text


async def missing_signatures(client: AsyncClient, sigs: list[Signature]) -> list[Signature]:
    statuses = (await client.get_signature_statuses(sigs, search_transaction_history=True)).value
    return [s for s, st in zip(sigs, statuses, strict=True) if st is None]


def backups(ledger: Path) -> list[Path]:
    return sorted(ledger.glob("ledger.log.bak-*"))


async def test_a_corrupt_middle_record_is_refused_then_repaired(acked_ledger: AckedLedger, tmp_path: Path) -> None:
    """The report: a byte flipped a third of the way in. The node refuses to start and
    names the offset, the file is untouched; --repair-ledger saves a copy and loses only
    the damaged record."""
    ledger = acked_ledger.copy(tmp_path)
    log = ledger / "ledger.log"
    data = bytearray(log.read_bytes())
    acked = {sig for sig, _ in acked_ledger.transfers}
    victim = next(s for s in frame_spans(bytes(data)) if s[1] > len(data) // 3 and record_signature(bytes(data), s) in acked)
    victim_sig = record_signature(bytes(data), victim)
    data[(victim[0] + FRAME_HEADER_LEN + victim[1]) // 2] ^= 0x20
    log.write_bytes(data)

    out = refused(ledger)
    assert f"ledger {log} is damaged at byte {victim[0]}" in out, out
    assert "fails its checksum" in out and "--repair-ledger" in out, out
    assert log.read_bytes() == data, "a refused ledger must be left as it is"
    assert not backups(ledger)

    node_log = tmp_path / "node.log"
    with Localnet(ledger_dir=ledger, bootstrap=False, slot_ms=50, log_path=node_log, extra_args=("--repair-ledger",)) as node:
        async with AsyncClient(node.rpc_url) as client:
            sigs = [s for s, _ in acked_ledger.transfers]
            assert await missing_signatures(client, sigs) == [victim_sig], "only the damaged record may be lost"
            # Later records carry the accounts' full post-state, so the balance holds.
            assert (await client.get_balance(acked_ledger.target, Confirmed)).value == acked_ledger.balance
            tx = (await client.get_transaction(sigs[-1], commitment=Confirmed)).value
            assert tx is not None and tx.transaction.meta is not None and tx.transaction.meta.log_messages
    (backup,) = backups(ledger)
    assert backup.read_bytes() == data, "the backup is the damaged file as it was"
    logged = node_log.read_text()
    assert "dropping damaged bytes" in logged and f'"offset":{victim[0]}' in logged, logged
    assert "ledger repaired" in logged and str(backup) in logged, logged
    # The repaired ledger is clean: it starts without the flag.
    with Localnet(ledger_dir=ledger, bootstrap=False, slot_ms=50) as node:
        async with AsyncClient(node.rpc_url) as client:
            assert await missing_signatures(client, sigs) == [victim_sig]


async def test_a_record_that_passes_its_crc_but_does_not_decode_is_refused(acked_ledger: AckedLedger, tmp_path: Path) -> None:
    ledger = acked_ledger.copy(tmp_path)
    log = ledger / "ledger.log"
    data = log.read_bytes()
    at = next(start for start, _ in frame_spans(data) if start > len(data) // 3)
    damaged = data[:at] + frame(b"\xff" * 40) + data[at:]
    log.write_bytes(damaged)

    out = refused(ledger)
    assert f"is damaged at byte {at}: a 40-byte record passes its checksum but does not decode" in out, out
    assert log.read_bytes() == damaged

    with Localnet(ledger_dir=ledger, bootstrap=False, slot_ms=50, extra_args=("--repair-ledger",)) as node:
        async with AsyncClient(node.rpc_url) as client:
            assert await missing_signatures(client, [s for s, _ in acked_ledger.transfers]) == []
            assert (await client.get_balance(acked_ledger.target, Confirmed)).value == acked_ledger.balance
    assert [b.read_bytes() for b in backups(ledger)] == [damaged]
    repaired = log.read_bytes()
    assert repaired.startswith(data), "the repair drops exactly the bad frame"
    frame_spans(repaired)  # and what the node appended since (slot progress) is whole


async def test_a_torn_tail_is_cut_and_everything_acknowledged_stays(acked_ledger: AckedLedger, tmp_path: Path) -> None:
    """What a crash mid-append leaves: part of a frame header, or a whole header with
    part of its payload. Never acknowledged, so it is cut and the node starts."""
    ledger = acked_ledger.copy(tmp_path)
    log = ledger / "ledger.log"
    data = log.read_bytes()
    last_tx = next(s for s in reversed(frame_spans(data)) if record_signature(data, s) is not None)
    record = data[last_tx[0] : last_tx[1]]
    for torn in (record[:7], record[: len(record) // 2]):
        with log.open("ab") as f:
            f.write(torn)
        before = log.read_bytes()[: -len(torn)]
        with Localnet(ledger_dir=ledger, bootstrap=False, slot_ms=50) as node:
            async with AsyncClient(node.rpc_url) as client:
                assert await missing_signatures(client, [s for s, _ in acked_ledger.transfers]) == []
                assert (await client.get_balance(acked_ledger.target, Confirmed)).value == acked_ledger.balance
        after = log.read_bytes()
        assert after.startswith(before), "only the torn append may be cut"
        frame_spans(after)  # the torn bytes are gone: every frame from there on is whole
    assert not backups(ledger)


def test_unknown_format_versions_are_refused(acked_ledger: AckedLedger, tmp_path: Path) -> None:
    ledger = acked_ledger.copy(tmp_path)
    log = ledger / "ledger.log"
    data = log.read_bytes()
    other_version = data[:8] + (9).to_bytes(4, "little") + data[12:]
    log.write_bytes(other_version)
    out = refused(ledger, "--repair-ledger")
    assert f"ledger {log} is format version 9; this node reads version 2" in out, out
    assert log.read_bytes() == other_version
    # A version 1 ledger had no header: its first bytes are a record length.
    headerless = data[FILE_HEADER_LEN:]
    log.write_bytes(headerless)
    out = refused(ledger)
    assert "does not start with the ledger header" in out and "delete the ledger directory" in out, out
    assert log.read_bytes() == headerless


# ---- a write that fails ------------------------------------------------------------

FSIZE_WRAPPER = """#!{python}
# Runs the node with its file size limited to {limit} bytes, so the ledger append that
# crosses it fails with EFBIG (SIGXFSZ ignored, as the kernel then returns the error).
import os, resource, signal
signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
resource.setrlimit(resource.RLIMIT_FSIZE, ({limit}, {limit}))
os.execv({binary!r}, [{binary!r}, *__import__("sys").argv[1:]])
"""


async def test_a_failed_write_is_never_acknowledged(acked_ledger: AckedLedger, tmp_path: Path) -> None:
    """The ledger file cannot grow past a limit: the transfer whose record crosses it
    gets an error, the node stops (non-zero), and a restarted node holds exactly what
    was acknowledged."""
    ledger = acked_ledger.copy(tmp_path)
    log = ledger / "ledger.log"
    data = log.read_bytes()
    tx_frame = max(end - start for start, end in frame_spans(data))
    limit = len(data) + tx_frame * 7 // 2  # room for about three more transfers
    wrapper = tmp_path / "limited-localnet"
    real_binary = str(Localnet().binary)
    wrapper.write_text(FSIZE_WRAPPER.format(python=sys.executable, limit=limit, binary=real_binary))
    wrapper.chmod(0o755)

    node_log = tmp_path / "node.log"
    # Slow slots: every slot's block is a small record too, and the room left is
    # meant for the transfers.
    node = Localnet(ledger_dir=ledger, bootstrap=False, slot_ms=1_000, binary=wrapper, log_path=node_log)
    node.start()
    acked: list[tuple[Signature, int]] = []
    failed: tuple[Signature, Exception] | None = None
    try:
        async with AsyncClient(node.rpc_url) as client:
            for amount in range(2_000_000, 2_000_020):
                tx = await transfer_tx(client, acked_ledger.payer, acked_ledger.target, amount)
                try:
                    acked.append(((await client.send_transaction(tx)).value, amount))
                except (RPCException, SolanaRpcException) as err:
                    failed = (tx.signatures[0], err)
                    break
        assert failed is not None, f"20 transfers fit under a {limit}-byte limit"
        assert acked, "the limit left no room at all: the test does not exercise a partial write"
        assert isinstance(failed[1], RPCException) and "ledger" in str(failed[1]), failed[1]
        assert node.process is not None
        assert node.process.wait(timeout=15) != 0, "the node must stop after a failed ledger write"
    finally:
        node.stop()
    logged = node_log.read_text()
    assert "ledger write failed" in logged and "File too large" in logged, logged
    assert log.stat().st_size <= limit

    with Localnet(ledger_dir=ledger, bootstrap=False, slot_ms=50) as node:
        async with AsyncClient(node.rpc_url) as client:
            every_acked = [s for s, _ in acked_ledger.transfers + acked]
            assert await missing_signatures(client, every_acked) == [], "acknowledged, then lost"
            assert await missing_signatures(client, [failed[0]]) == [failed[0]], "answered with an error, yet replayed"
            expected = acked_ledger.balance + sum(a for _, a in acked)
            assert (await client.get_balance(acked_ledger.target, Confirmed)).value == expected
            # The node carries on, on a ledger that can grow again.
            sig = (await client.send_transaction(await transfer_tx(client, acked_ledger.payer, acked_ledger.target, 1))).value
            assert await missing_signatures(client, [sig]) == []
