"""A wallet for the Mirror program: builds an instruction from the IDL, signs it over a recent
blockhash, sends it, waits until it is confirmed, and reads the program's accounts back.

What a caller can rely on:

- ``send`` returns only once the transaction is confirmed (the wallet's commitment) and succeeded.
- Every failure is a ``WalletError``. When the program (or the runtime executing it) refused the
  instruction, ``program_error`` names the error: the IDL's name for the program's own codes
  (``GrantExpired``), Anchor's for its framework codes (``AccountNotInitialized``, read from the
  logs), else the runtime's (``Custom(0)``, ``MissingRequiredSignature``). ``program_error is None``
  means the chain gave no answer about the instruction: the node was unreachable, the blockhash
  expired, confirmation timed out. Then the transaction may or may not have landed, and the caller
  should read the state it meant to change.
- A send that fails in transport is retried with the same signed transaction (by default the RPC
  policy of mirror_common.retry): one signature, so it lands at most once; "already processed" means an
  earlier try landed, and the wallet confirms that one.
- Accounts are read with the wallet's commitment, checked to be owned by the program, and decoded
  with the codec; an account that is not the program's or does not decode is a ``WalletError``.
"""

from __future__ import annotations

import asyncio
import re
import time
from collections.abc import Awaitable, Callable, Mapping, Sequence
from typing import Any, TypeVar

import base58
import httpx
from solana.exceptions import SolanaRpcException
from solana.rpc.async_api import AsyncClient
from solana.rpc.commitment import Commitment, Confirmed
from solana.rpc.core import RPCException, RPCNoResultException
from solana.rpc.models import MemcmpOpts, TxOpts
from solders.instruction import AccountMeta, Instruction
from solders.keypair import Keypair
from solders.message import Message
from solders.pubkey import Pubkey
from solders.rpc.errors import SendTransactionPreflightFailureMessage
from solders.signature import Signature
from solders.transaction import Transaction, VersionedTransaction
from solders.transaction_status import (
    InstructionErrorCustom,
    InstructionErrorFieldless,
    TransactionErrorFieldless,
    TransactionErrorInstructionError,
    TransactionErrorType,
)

from mirror_common import codec
from mirror_common.retry import RPC, Backoff, RetryPolicy

T = TypeVar("T")
TRANSPORT_ERRORS = (SolanaRpcException, httpx.HTTPError, OSError, asyncio.TimeoutError)
_ANCHOR_LOG = re.compile(r"Error Code: (\w+)\. Error Number: (\d+)\.")
_COMMITMENT_RANK = {"processed": 0, "confirmed": 1, "finalized": 2}


class WalletError(Exception):
    """A transaction or read that did not succeed; ``program_error`` is set when the program refused it."""

    def __init__(
        self,
        message: str,
        *,
        program_error: str | None = None,
        code: int | None = None,
        logs: Sequence[str] = (),
        signature: str | None = None,
        unreachable: bool = False,
    ) -> None:
        super().__init__(message)
        self.unreachable = unreachable  # the node did not answer: worth trying again later
        self.program_error = program_error
        self.code = code
        self.logs = list(logs)
        self.signature = signature


class Wallet:
    """Sends Mirror instructions and reads Mirror accounts through one JSON-RPC client."""

    def __init__(
        self,
        rpc: AsyncClient,
        *,
        commitment: Commitment = Confirmed,
        confirm_timeout: float = 60.0,
        poll_s: float = 0.05,
        preflight: bool = True,
        retry: RetryPolicy = RPC,
        program: codec.Codec | None = None,
    ) -> None:
        self.rpc = rpc
        self.retry = retry  # while the node is unreachable
        self.preflight = preflight  # False: the node does not simulate first; a refusal then comes from the landed transaction
        self.commitment = commitment
        self.confirm_timeout = confirm_timeout
        self.poll_s = poll_s
        self.program = program or codec.default_codec()
        self._error_names = {int(e["code"]): str(e["name"]) for e in self.program.idl.get("errors", [])}

    # -- sending ------------------------------------------------------------------------

    async def send(
        self,
        name: str,
        args: Mapping[str, Any],
        accounts: Mapping[str, Any],
        *signers: Keypair,
        remaining_accounts: Sequence[AccountMeta] = (),
    ) -> str:
        """Builds instruction ``name`` (IDL account order and flags), sends it signed by ``signers``
        (the first pays), and returns its signature once confirmed."""
        try:
            ix = self.program.build_instruction(name, args, accounts, remaining_accounts=remaining_accounts)
        except codec.CodecError as e:
            raise WalletError(f"{name}: {e}") from e
        return await self.send_instructions([ix], *signers, what=name)

    async def send_instructions(self, instructions: Sequence[Instruction], *signers: Keypair, what: str = "transaction") -> str:
        if not signers:
            raise WalletError(f"{what}: no signer to pay for it")
        latest = (await self._read(f"{what}: getLatestBlockhash", lambda: self.rpc.get_latest_blockhash(self.commitment))).value
        tx = VersionedTransaction.from_legacy(
            Transaction(list(signers), Message(list(instructions), signers[0].pubkey()), latest.blockhash)
        )
        signature = tx.signatures[0]
        await self._submit(tx, what)
        try:
            await self._confirm(signature, latest.last_valid_block_height, what)
        except WalletError as e:  # the node lost while confirming: the transaction may have landed, under this signature
            e.signature = e.signature or str(signature)
            raise
        return str(signature)

    async def _submit(self, tx: VersionedTransaction, what: str) -> None:
        backoff = Backoff(self.retry)
        opts = TxOpts(skip_confirmation=True, skip_preflight=not self.preflight, preflight_commitment=self.commitment)
        while True:
            try:
                await self.rpc.send_transaction(tx, opts=opts)
                return
            except RPCException as e:
                if "already been processed" in str(e):
                    return  # an earlier try of this very transaction landed
                raise self._refusal(e, what, str(tx.signatures[0])) from e
            except RPCNoResultException as e:
                raise WalletError(f"{what}: the node returned no signature: {e}", signature=str(tx.signatures[0])) from e
            except TRANSPORT_ERRORS as e:
                if backoff.exhausted:
                    raise WalletError(f"{what}: the node is unreachable: {e!r}", signature=str(tx.signatures[0]), unreachable=True) from e
                await backoff.wait()

    async def _confirm(self, signature: Signature, last_valid_block_height: int, what: str) -> None:
        deadline = time.monotonic() + self.confirm_timeout
        wanted = _COMMITMENT_RANK[str(self.commitment)]
        while True:
            statuses = await self._read(f"{what}: getSignatureStatuses", lambda: self.rpc.get_signature_statuses([signature]))
            status = statuses.value[0]
            if status is not None and status.err is not None:
                logs = await self._logs_of(signature)
                raise self._failure(status.err, logs, what, str(signature))
            if status is not None and status.confirmation_status is not None:
                if _COMMITMENT_RANK[str(status.confirmation_status).rsplit(".", 1)[-1].lower()] >= wanted:
                    return
            if time.monotonic() > deadline:
                raise WalletError(f"{what}: not confirmed within {self.confirm_timeout:.0f} s", signature=str(signature))
            if status is None:
                height = (await self._read(f"{what}: getBlockHeight", lambda: self.rpc.get_block_height(self.commitment))).value
                if height > last_valid_block_height:
                    raise WalletError(f"{what}: its blockhash expired before it landed", signature=str(signature))
            await asyncio.sleep(self.poll_s)

    async def _logs_of(self, signature: Signature) -> list[str]:
        try:
            tx = (await self.rpc.get_transaction(signature, commitment=Confirmed, max_supported_transaction_version=0)).value
        except (RPCException, *TRANSPORT_ERRORS):
            return []
        meta = tx.transaction.meta if tx is not None else None
        return list(meta.log_messages or []) if meta is not None else []

    def _refusal(self, e: RPCException, what: str, signature: str) -> WalletError:
        """The WalletError for an error reply to sendTransaction: a preflight failure names the program's error."""
        reply = e.args[0] if e.args else None
        if isinstance(reply, SendTransactionPreflightFailureMessage) and reply.data.err is not None:
            return self._failure(reply.data.err, list(reply.data.logs or []), what, signature)
        message = getattr(reply, "message", None) or str(e)
        return WalletError(f"{what}: refused by the node: {message}", signature=signature)

    def _failure(self, err: TransactionErrorType, logs: list[str], what: str, signature: str) -> WalletError:
        if not isinstance(err, TransactionErrorInstructionError):
            # Refused before any instruction ran (no account to pay the fee, blockhash unknown...):
            # an answer about the transaction, not about what the program thinks of it.
            name = str(err).rsplit(".", 1)[-1] if isinstance(err, TransactionErrorFieldless) else type(err).__name__
            return WalletError(f"{what}: the node refused the transaction: {name}", logs=logs, signature=signature)
        code: int | None = None
        inner = err.err
        if isinstance(inner, InstructionErrorCustom):
            code = int(inner.code)
            name = self._error_names.get(code) or _anchor_name(logs, code) or f"Custom({code})"
        elif isinstance(inner, InstructionErrorFieldless):
            name = str(inner).rsplit(".", 1)[-1]  # MissingRequiredSignature, ...
        else:
            name = type(inner).__name__.removeprefix("InstructionError")
        shown = f"{name} ({code})" if code is not None else name
        return WalletError(f"{what}: the program refused it: {shown}", program_error=name, code=code, logs=logs, signature=signature)

    # -- reading ------------------------------------------------------------------------

    async def account(self, address: Pubkey | str, account_type: str | None = None) -> dict[str, Any]:
        """The decoded fields of a Mirror account (of ``account_type`` if given); ``WalletError`` when there is none."""
        fields = await self.account_or_none(address, account_type)
        if fields is None:
            raise WalletError(f"no account at {address}")
        return fields

    async def account_or_none(self, address: Pubkey | str, account_type: str | None = None) -> dict[str, Any] | None:
        key = address if isinstance(address, Pubkey) else _pubkey(address)
        info = (await self._read(f"getAccountInfo {key}", lambda: self.rpc.get_account_info(key, self.commitment, encoding="base64"))).value
        if info is None:
            return None
        if info.owner != self.program.program_id:
            raise WalletError(f"{key} is owned by {info.owner}, not the Mirror program")
        return self._decode(key, info.data, account_type)

    async def program_accounts(self, account_type: str, *filters: MemcmpOpts) -> list[tuple[Pubkey, dict[str, Any]]]:
        """Every account of one IDL type (a memcmp on its discriminator), with more memcmp filters if given."""
        try:
            discriminator = self.program.account_discriminator(account_type)
        except codec.CodecError as e:
            raise WalletError(str(e)) from e
        by_type = MemcmpOpts(offset=0, bytes=base58.b58encode(discriminator).decode())
        reply = await self._read(
            f"getProgramAccounts {account_type}",
            lambda: self.rpc.get_program_accounts(self.program.program_id, self.commitment, encoding="base64", filters=[by_type, *filters]),
        )
        return [(a.pubkey, self._decode(a.pubkey, a.account.data, account_type)) for a in reply.value]

    async def chain_time(self) -> int:
        """The unix time of the latest block at the wallet's commitment: what the program's Clock says
        when it checks an expiry. ``WalletError`` when the node has no time for that slot."""
        slot = (await self._read("getSlot", lambda: self.rpc.get_slot(self.commitment))).value
        block_time = (await self._read(f"getBlockTime {slot}", lambda: self.rpc.get_block_time(slot))).value
        if block_time is None:
            raise WalletError(f"the node has no time for slot {slot}")
        return int(block_time)

    def _decode(self, key: Pubkey, data: bytes, account_type: str | None) -> dict[str, Any]:
        try:
            return self.program.decode_account(data, account_type).fields
        except codec.CodecError as e:
            raise WalletError(f"{key} is not a {account_type or 'Mirror account'}: {e}") from e

    async def _read(self, what: str, call: Callable[[], Awaitable[T]]) -> T:
        """One JSON-RPC read, retried while the node is unreachable (``retry``: mirror_common.retry.RPC by default)."""
        backoff = Backoff(self.retry)
        while True:
            try:
                return await call()
            except (RPCException, RPCNoResultException) as e:
                raise WalletError(f"{what}: {e}") from e
            except TRANSPORT_ERRORS as e:
                if backoff.exhausted:
                    raise WalletError(f"{what}: the node is unreachable: {e!r}", unreachable=True) from e
                await backoff.wait()


def _anchor_name(logs: Sequence[str], code: int) -> str | None:
    """Anchor logs ``Error Code: <Name>. Error Number: <n>.`` for every error it raises (framework ones too)."""
    for line in reversed(logs):
        match = _ANCHOR_LOG.search(line)
        if match and int(match.group(2)) == code:
            return match.group(1)
    return None


def _pubkey(address: str) -> Pubkey:
    try:
        return Pubkey.from_string(address)
    except ValueError as e:
        raise WalletError(f"{address!r} is not a base58 public key") from e
