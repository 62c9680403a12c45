// Drives a Solana node with @solana/web3.js (v1), a client written by nobody
// here, through its public API only: airdrop, balance, a logs subscription, a
// transfer with a memo, confirmation, transaction history and a failed
// transaction. It proves mirror-localnet speaks the JSON-RPC/PubSub that
// clients written for solana-test-validator expect.
//
//   node client_check.mjs [RPC_URL [WS_URL]]
//   (or MIRROR_RPC_URL / MIRROR_WS_URL; the WS URL defaults to RPC port + 1)
//
// Success: one JSON line on stdout ({"ok": true, ...}), exit code 0.
// Failure: "client_check FAILED at <step>: <message>" on stderr, then the last
// JSON-RPC exchanges seen on the wire, exit code 1.

import { readFileSync } from 'node:fs';

import {
  Connection,
  Keypair,
  LAMPORTS_PER_SOL,
  PublicKey,
  SendTransactionError,
  SystemProgram,
  Transaction,
  TransactionInstruction,
} from '@solana/web3.js';

import { CheckError, subscriptionAcknowledged, withTimeout } from './harness.mjs';
import { base58Encode } from './mirror_idl.mjs';

const MEMO_PROGRAM_ID = new PublicKey('MemoSq4gqABAXKb96qnH8TysNcWxMyWCqXgDLGmfcHr');
const COMMITMENT = 'confirmed';
const AIRDROP_LAMPORTS = 2 * LAMPORTS_PER_SOL;
const TRANSFER_LAMPORTS = 10_000_000; // above the rent-exempt minimum of an empty account
const NOTIFICATION_TIMEOUT_MS = 15_000;
const OVERALL_TIMEOUT_MS = Number(process.env.CLIENT_CHECK_TIMEOUT_MS || 90_000);

const LIBRARY_VERSION = JSON.parse(
  readFileSync(new URL('./node_modules/@solana/web3.js/package.json', import.meta.url), 'utf8'),
).version;

function wsUrlFor(rpcUrl) {
  const url = new URL(rpcUrl);
  url.protocol = url.protocol === 'https:' ? 'wss:' : 'ws:';
  url.port = String(Number(url.port || (url.protocol === 'wss:' ? 443 : 80)) + 1);
  return url.toString().replace(/\/$/, '');
}

const rpcUrl = process.argv[2] || process.env.MIRROR_RPC_URL;
if (!rpcUrl) {
  console.error('usage: node client_check.mjs RPC_URL [WS_URL]  (or set MIRROR_RPC_URL [MIRROR_WS_URL])');
  process.exit(2);
}
const wsUrl = process.argv[3] || process.env.MIRROR_WS_URL || wsUrlFor(rpcUrl);

// ---- diagnostics: keep the last JSON-RPC exchanges to show on failure ----------

const exchanges = [];
async function recordingFetch(input, init) {
  const entry = { request: String(init?.body ?? ''), status: null, response: null };
  exchanges.push(entry);
  if (exchanges.length > 8) exchanges.shift();
  const res = await fetch(input, { method: init?.method, headers: init?.headers, body: init?.body });
  entry.status = res.status;
  entry.response = await res.clone().text();
  return res;
}

let currentStep = 'start';

function fail(message) {
  throw new CheckError(message);
}

function check(condition, message) {
  if (!condition) fail(message);
}

function short(value, max = 2000) {
  const text = typeof value === 'string' ? value : JSON.stringify(value);
  return text && text.length > max ? `${text.slice(0, max)}...` : text;
}

function report(error) {
  const message = error instanceof Error ? error.message : short(error);
  const lines = [`client_check FAILED at ${currentStep}: ${message}`];
  if (error && !(error instanceof CheckError)) {
    if (error.code !== undefined) lines.push(`  error code: ${error.code}`);
    if (error.data !== undefined) lines.push(`  error data: ${short(error.data)}`);
    if (error.logs !== undefined) lines.push(`  logs: ${short(error.logs)}`);
    if (error.stack) lines.push(`  stack: ${error.stack.split('\n').slice(1, 4).join(' | ')}`);
  }
  lines.push(`  rpc: ${rpcUrl}  ws: ${wsUrl}  @solana/web3.js ${LIBRARY_VERSION}`);
  lines.push('  last JSON-RPC exchanges (oldest first):');
  for (const { request, status, response } of exchanges) {
    lines.push(`    -> ${short(request, 800)}`);
    lines.push(`    <- [${status}] ${short(response, 1500)}`);
  }
  console.error(lines.join('\n'));
}

async function step(name, fn) {
  currentStep = name;
  return await fn();
}

/** Logs notifications, keyed by signature, with waiters. */
class LogsInbox {
  constructor() {
    this.bySignature = new Map();
    this.waiters = new Map();
    this.count = 0;
  }
  push(logs, context) {
    this.count += 1;
    const item = { ...logs, slot: context?.slot };
    this.bySignature.set(logs.signature, item);
    const waiter = this.waiters.get(logs.signature);
    if (waiter) {
      this.waiters.delete(logs.signature);
      waiter(item);
    }
  }
  wait(signature, what) {
    const seen = this.bySignature.get(signature);
    if (seen) return Promise.resolve(seen);
    return withTimeout(new Promise((resolve) => this.waiters.set(signature, resolve)), NOTIFICATION_TIMEOUT_MS, what);
  }
}

function bs58Signature(tx) {
  return base58Encode(tx.signature);
}

/** The SignatureResult ({err}) of confirmTransaction with the blockhash strategy. */
async function confirm(connection, signature, blockhash, lastValidBlockHeight) {
  try {
    const result = await connection.confirmTransaction({ signature, blockhash, lastValidBlockHeight }, COMMITMENT);
    return result.value;
  } catch (error) {
    // web3.js v1 races signatureSubscribe against one getSignatureStatuses call:
    // when the status call wins for a failed transaction it rejects with the bare
    // TransactionError (e.g. {"InstructionError": [0, {"Custom": 1}]}) instead of
    // resolving with {err}. Either is what a validator gives this library.
    if (error !== null && typeof error === 'object' && !(error instanceof Error)) {
      return { err: error };
    }
    throw error;
  }
}

async function main() {
  const connection = new Connection(rpcUrl, {
    commitment: COMMITMENT,
    wsEndpoint: wsUrl,
    fetch: recordingFetch,
    disableRetryOnRateLimit: true,
  });
  const summary = { ok: false, library: `@solana/web3.js@${LIBRARY_VERSION}`, rpc: rpcUrl, ws: wsUrl };

  const payer = Keypair.generate();
  const recipient = Keypair.generate().publicKey;
  summary.payer = payer.publicKey.toBase58();

  await step('getVersion', async () => {
    const version = await connection.getVersion();
    check(typeof version['solana-core'] === 'string', `getVersion has no solana-core: ${short(version)}`);
    summary.solanaCore = version['solana-core'];
  });

  // Subscribe before anything touches the payer, so no notification is missed.
  const inbox = new LogsInbox();
  const logsSubscription = await step('onLogs subscribe', async () => {
    const id = connection.onLogs(payer.publicKey, (logs, context) => inbox.push(logs, context), COMMITMENT);
    await subscriptionAcknowledged(connection, id, NOTIFICATION_TIMEOUT_MS, 'logsSubscribe to be acknowledged');
    return id;
  });

  await step('requestAirdrop', async () => {
    const { blockhash, lastValidBlockHeight } = await connection.getLatestBlockhash(COMMITMENT);
    const signature = await connection.requestAirdrop(payer.publicKey, AIRDROP_LAMPORTS);
    check(typeof signature === 'string' && signature.length > 0, `requestAirdrop returned ${short(signature)}`);
    currentStep = 'confirmTransaction (airdrop)';
    const status = await confirm(connection, signature, blockhash, lastValidBlockHeight);
    check(status.err === null, `airdrop ${signature} confirmed with err ${short(status.err)}`);
    summary.airdrop = signature;
  });

  const balanceBefore = await step('getBalance', async () => {
    const balance = await connection.getBalance(payer.publicKey, COMMITMENT);
    check(balance === AIRDROP_LAMPORTS, `getBalance = ${balance}, expected ${AIRDROP_LAMPORTS} after the airdrop`);
    return balance;
  });

  const memo = `mirror-localnet client check ${Date.now()}`;
  const transfer = await step('send transfer + memo', async () => {
    const { blockhash, lastValidBlockHeight } = await connection.getLatestBlockhash(COMMITMENT);
    const tx = new Transaction({ feePayer: payer.publicKey, blockhash, lastValidBlockHeight }).add(
      SystemProgram.transfer({ fromPubkey: payer.publicKey, toPubkey: recipient, lamports: TRANSFER_LAMPORTS }),
      new TransactionInstruction({
        programId: MEMO_PROGRAM_ID,
        keys: [{ pubkey: payer.publicKey, isSigner: true, isWritable: false }],
        data: Buffer.from(memo, 'utf8'),
      }),
    );
    const signature = await connection.sendTransaction(tx, [payer], { preflightCommitment: COMMITMENT });
    currentStep = 'confirmTransaction (transfer)';
    const status = await confirm(connection, signature, blockhash, lastValidBlockHeight);
    check(status.err === null, `transfer ${signature} confirmed with err ${short(status.err)}`);
    return signature;
  });
  summary.transfer = transfer;

  await step('logs notification (transfer)', async () => {
    const notification = await inbox.wait(transfer, `the logsNotification for ${transfer}`);
    check(notification.err === null, `logs notification err = ${short(notification.err)}`);
    check(Array.isArray(notification.logs), `logs notification has no logs array: ${short(notification)}`);
    check(
      notification.logs.some((line) => line.includes(`Program ${MEMO_PROGRAM_ID.toBase58()} success`)),
      `logs notification lacks the memo program's success line: ${short(notification.logs)}`,
    );
  });

  await step('getTransaction (transfer)', async () => {
    const tx = await connection.getTransaction(transfer, { commitment: COMMITMENT, maxSupportedTransactionVersion: 0 });
    check(tx !== null, `getTransaction(${transfer}) returned null after confirmation`);
    check(tx.version === 'legacy', `version = ${short(tx.version)}, expected "legacy"`);
    check(typeof tx.slot === 'number' && tx.slot > 0, `slot = ${tx.slot}`);
    check(typeof tx.blockTime === 'number', `blockTime = ${tx.blockTime}`);
    const { meta } = tx;
    check(meta && meta.err === null, `meta.err = ${short(meta?.err)}`);
    check(meta.fee === 5000, `meta.fee = ${meta.fee}, expected 5000 (one signature)`);
    const keys = tx.transaction.message.staticAccountKeys.map((k) => k.toBase58());
    const payerIndex = keys.indexOf(payer.publicKey.toBase58());
    const recipientIndex = keys.indexOf(recipient.toBase58());
    check(payerIndex === 0, `payer is account ${payerIndex}, expected 0: ${short(keys)}`);
    check(recipientIndex > 0, `recipient missing from account keys: ${short(keys)}`);
    check(
      meta.preBalances[payerIndex] - meta.postBalances[payerIndex] === TRANSFER_LAMPORTS + meta.fee,
      `payer balance moved by ${meta.preBalances[payerIndex] - meta.postBalances[payerIndex]}, expected ${TRANSFER_LAMPORTS + meta.fee}`,
    );
    check(
      meta.postBalances[recipientIndex] - meta.preBalances[recipientIndex] === TRANSFER_LAMPORTS,
      `recipient balance moved by ${meta.postBalances[recipientIndex] - meta.preBalances[recipientIndex]}`,
    );
    const logs = meta.logMessages ?? [];
    check(
      logs.includes('Program 11111111111111111111111111111111 invoke [1]') &&
        logs.includes('Program 11111111111111111111111111111111 success'),
      `meta.logMessages lack the system program invoke/success lines: ${short(logs)}`,
    );
    check(
      logs.includes(`Program ${MEMO_PROGRAM_ID.toBase58()} invoke [1]`) &&
        logs.some((line) => line.startsWith('Program log: Memo') && line.includes(memo)),
      `meta.logMessages lack the memo: ${short(logs)}`,
    );
    check(typeof meta.computeUnitsConsumed === 'number', `computeUnitsConsumed = ${meta.computeUnitsConsumed}`);
    summary.transferSlot = tx.slot;
    summary.transferLogs = logs.length;
  });

  await step('getBalance (after transfer)', async () => {
    const payerBalance = await connection.getBalance(payer.publicKey, COMMITMENT);
    const recipientBalance = await connection.getBalance(recipient, COMMITMENT);
    check(payerBalance === balanceBefore - TRANSFER_LAMPORTS - 5000, `payer balance ${payerBalance} after transfer`);
    check(recipientBalance === TRANSFER_LAMPORTS, `recipient balance ${recipientBalance}, expected ${TRANSFER_LAMPORTS}`);
  });

  await step('getSignaturesForAddress (transfer)', async () => {
    const list = await connection.getSignaturesForAddress(payer.publicKey, { limit: 10 }, COMMITMENT);
    const entry = list.find((e) => e.signature === transfer);
    check(entry, `getSignaturesForAddress(payer) does not list ${transfer}: ${short(list)}`);
    check(entry.err === null, `entry.err = ${short(entry.err)}`);
    check(list[0].signature === transfer, `newest entry is ${list[0].signature}, expected the transfer`);
    check(list.some((e) => e.signature === summary.airdrop), `the airdrop is not listed for the payer`);
  });

  const failed = await step('send failing transfer (skipPreflight)', async () => {
    const balance = await connection.getBalance(payer.publicKey, COMMITMENT);
    const { blockhash, lastValidBlockHeight } = await connection.getLatestBlockhash(COMMITMENT);
    const tx = new Transaction({ feePayer: payer.publicKey, blockhash, lastValidBlockHeight }).add(
      SystemProgram.transfer({ fromPubkey: payer.publicKey, toPubkey: recipient, lamports: balance + 1 }),
    );
    tx.sign(payer);
    const signature = await connection.sendRawTransaction(tx.serialize(), { skipPreflight: true });
    currentStep = 'confirmTransaction (failing transfer)';
    const status = await confirm(connection, signature, blockhash, lastValidBlockHeight);
    check(status.err !== null, `failing transfer ${signature} confirmed without err`);
    return { signature, balance, err: status.err };
  });
  summary.failed = failed.signature;
  summary.failedErr = failed.err;

  await step('getSignatureStatuses (failing transfer)', async () => {
    const { value } = await connection.getSignatureStatuses([failed.signature, transfer]);
    const [bad, good] = value;
    check(bad !== null, `getSignatureStatuses does not know ${failed.signature}`);
    check(bad.err !== null, `getSignatureStatuses err is null for the failing transfer`);
    check(
      JSON.stringify(bad.err) === JSON.stringify({ InstructionError: [0, { Custom: 1 }] }),
      `err = ${short(bad.err)}, expected {"InstructionError":[0,{"Custom":1}]} (SystemError::ResultWithNegativeLamports)`,
    );
    check(['confirmed', 'finalized'].includes(bad.confirmationStatus), `confirmationStatus = ${bad.confirmationStatus}`);
    check(good !== null && good.err === null, `transfer status = ${short(good)}`);
  });

  await step('getSignaturesForAddress (failing transfer)', async () => {
    const list = await connection.getSignaturesForAddress(payer.publicKey, { limit: 10 }, COMMITMENT);
    const entry = list.find((e) => e.signature === failed.signature);
    check(entry, `getSignaturesForAddress(payer) does not list ${failed.signature}: ${short(list)}`);
    check(entry.err !== null, `getSignaturesForAddress lists the failing transfer with err null`);
    check(list.length >= 3, `expected airdrop, transfer and failure for the payer, got ${list.length}`);
  });

  await step('getTransaction (failing transfer)', async () => {
    const tx = await connection.getTransaction(failed.signature, { commitment: COMMITMENT, maxSupportedTransactionVersion: 0 });
    check(tx !== null, `getTransaction(${failed.signature}) returned null`);
    check(tx.meta.err !== null, `meta.err is null for the failing transfer`);
    check(tx.meta.fee === 5000, `meta.fee = ${tx.meta.fee}`);
    check(
      (tx.meta.logMessages ?? []).some((line) => line.includes('insufficient lamports')),
      `meta.logMessages lack the system program's "insufficient lamports" line: ${short(tx.meta.logMessages)}`,
    );
    const balance = await connection.getBalance(payer.publicKey, COMMITMENT);
    check(balance === failed.balance - 5000, `payer balance ${balance} after the failure, expected only the fee charged`);
  });

  await step('logs notification (failing transfer)', async () => {
    const notification = await inbox.wait(failed.signature, `the logsNotification for ${failed.signature}`);
    check(notification.err !== null, `logs notification for the failing transfer has err null`);
  });

  await step('sendTransaction rejected by preflight', async () => {
    const balance = await connection.getBalance(payer.publicKey, COMMITMENT);
    const { blockhash } = await connection.getLatestBlockhash(COMMITMENT);
    const tx = new Transaction({ feePayer: payer.publicKey, recentBlockhash: blockhash }).add(
      SystemProgram.transfer({ fromPubkey: payer.publicKey, toPubkey: recipient, lamports: balance + 1 }),
    );
    tx.sign(payer);
    let rejected = null;
    try {
      await connection.sendRawTransaction(tx.serialize(), { skipPreflight: false, preflightCommitment: COMMITMENT });
    } catch (error) {
      rejected = error;
    }
    check(rejected instanceof SendTransactionError, `preflight did not reject the overdraft: ${rejected ?? 'no error'}`);
    check(
      rejected.message.includes('Transaction simulation failed: Error processing Instruction 0: custom program error: 0x1'),
      `SendTransactionError message = ${rejected.message}`,
    );
    const logs = rejected.logs ?? rejected.transactionLogs ?? [];
    check(
      logs.some((line) => line.includes('insufficient lamports')),
      `SendTransactionError logs lack "insufficient lamports": ${short(logs)}`,
    );
    const signature = bs58Signature(tx);
    const { value } = await connection.getSignatureStatuses([signature]);
    check(value[0] === null, `a transaction rejected by preflight was recorded: ${short(value[0])}`);
    check((await connection.getBalance(payer.publicKey, COMMITMENT)) === balance, `preflight rejection charged a fee`);
  });

  // Last, so that a failure here does not hide the checks above: Agave fills
  // `memo` from SPL Memo instructions as "[<data length>] <text>".
  await step('getSignaturesForAddress memo field', async () => {
    const list = await connection.getSignaturesForAddress(payer.publicKey, { limit: 10 }, COMMITMENT);
    const entry = list.find((e) => e.signature === transfer);
    check(entry, `getSignaturesForAddress(payer) no longer lists ${transfer}`);
    const expected = `[${Buffer.byteLength(memo, 'utf8')}] ${memo}`;
    check(
      entry.memo === expected,
      `getSignaturesForAddress memo = ${JSON.stringify(entry.memo)} for a transaction with a Memo instruction; ` +
        `a validator returns ${JSON.stringify(expected)}`,
    );
    const noMemo = list.find((e) => e.signature === failed.signature);
    check(noMemo.memo === null, `memo = ${JSON.stringify(noMemo.memo)} for a transaction without a memo`);
  });

  await step('removeOnLogsListener', async () => {
    await connection.removeOnLogsListener(logsSubscription);
  });

  summary.logsNotifications = inbox.count;
  summary.ok = true;
  return summary;
}

const watchdog = setTimeout(() => {
  report(new CheckError(`overall timeout of ${OVERALL_TIMEOUT_MS} ms`));
  process.exit(1);
}, OVERALL_TIMEOUT_MS);

try {
  const summary = await main();
  clearTimeout(watchdog);
  console.log(JSON.stringify(summary));
  process.exit(0); // the library keeps its WebSocket open
} catch (error) {
  clearTimeout(watchdog);
  report(error);
  process.exit(1);
}
