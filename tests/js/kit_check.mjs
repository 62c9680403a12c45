// @solana/kit (web3.js v2) against a Solana node: every HTTP method of Agave's
// JSON-RPC through kit's typed RPC, and its subscriptions (slot, root, logs,
// account, signature, program, block), the way solana-test-validator answers
// them on a one-node cluster. The SPL Token and System instructions are built
// by hand (kit ships no program clients); a v0 transfer pays a priority fee.
//
//   node kit_check.mjs RPC_URL [WS_URL]      (see harness.mjs)
//
// The summary lists every RPC method called (`methods`) and every
// subscription that delivered (`subscriptions`).

import { setMaxListeners } from 'node:events';

import {
  AccountRole,
  address,
  appendTransactionMessageInstructions,
  compileTransaction,
  createDefaultRpcTransport,
  createKeyPairSignerFromBytes,
  createSolanaRpcFromTransport,
  createSolanaRpcSubscriptions_UNSTABLE,
  createTransactionMessage,
  generateKeyPairSigner,
  getAddressEncoder,
  getBase58Decoder,
  getBase64Decoder,
  getBase64Encoder,
  getBase64EncodedWireTransaction,
  getSignatureFromTransaction,
  getU32Encoder,
  getU64Encoder,
  getProgramDerivedAddress,
  isSolanaError,
  lamports,
  pipe,
  setTransactionMessageComputeUnitLimit,
  setTransactionMessageComputeUnitPrice,
  setTransactionMessageFeePayerSigner,
  setTransactionMessageLifetimeUsingBlockhash,
  signTransactionMessageWithSigners,
} from '@solana/kit';

import { check, eventually, fail, packageVersion, run, sameJson, short } from './harness.mjs';
import { base58Decode, devKeypairBytes, mirrorLife, PROGRAM_ID } from './mirror_idl.mjs';

const COMMITMENT = 'confirmed';
const NOTIFICATION_TIMEOUT_MS = 15_000;
const SYSTEM = address('11111111111111111111111111111111');
const TOKEN = address('TokenkegQfeZyiNwAJbNbGKPFXCWuBvf9Ss623VQ5DA');
const MEMO = address('MemoSq4gqABAXKb96qnH8TysNcWxMyWCqXgDLGmfcHr');
const COMPUTE_BUDGET = address('ComputeBudget111111111111111111111111111111');
const SOL = 1_000_000_000n;
const TRANSFER = 7_000_000n;
const CU_LIMIT = 200_000;
const CU_PRICE = 1_000n; // micro-lamports per CU: a 200 lamport priority fee at the limit above
const DECIMALS = 6;

const u8 = (n) => Uint8Array.of(n);
const u32 = (n) => getU32Encoder().encode(n);
const u64 = (n) => getU64Encoder().encode(n);
const key = (a) => getAddressEncoder().encode(a);
const concat = (...parts) => {
  const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
  let at = 0;
  for (const p of parts) {
    out.set(p, at);
    at += p.length;
  }
  return out;
};

const ix = {
  transfer: (from, to, amount) => ({
    programAddress: SYSTEM,
    accounts: [
      { address: from.address, role: AccountRole.WRITABLE_SIGNER, signer: from },
      { address: to, role: AccountRole.WRITABLE },
    ],
    data: concat(u32(2), u64(amount)),
  }),
  createAccount: (from, account, rent, space, owner) => ({
    programAddress: SYSTEM,
    accounts: [
      { address: from.address, role: AccountRole.WRITABLE_SIGNER, signer: from },
      { address: account.address, role: AccountRole.WRITABLE_SIGNER, signer: account },
    ],
    data: concat(u32(0), u64(rent), u64(BigInt(space)), key(owner)),
  }),
  memo: (signer, text) => ({
    programAddress: MEMO,
    accounts: [{ address: signer.address, role: AccountRole.READONLY_SIGNER, signer }],
    data: new TextEncoder().encode(text),
  }),
  initializeMint2: (mint, authority) => ({
    programAddress: TOKEN,
    accounts: [{ address: mint, role: AccountRole.WRITABLE }],
    data: concat(u8(20), u8(DECIMALS), key(authority), u8(0)),
  }),
  initializeAccount3: (account, mint, owner) => ({
    programAddress: TOKEN,
    accounts: [
      { address: account, role: AccountRole.WRITABLE },
      { address: mint, role: AccountRole.READONLY },
    ],
    data: concat(u8(18), key(owner)),
  }),
  mintTo: (mint, account, authority, amount) => ({
    programAddress: TOKEN,
    accounts: [
      { address: mint, role: AccountRole.WRITABLE },
      { address: account, role: AccountRole.WRITABLE },
      { address: authority.address, role: AccountRole.READONLY_SIGNER, signer: authority },
    ],
    data: concat(u8(7), u64(amount)),
  }),
  approve: (account, delegate, owner, amount) => ({
    programAddress: TOKEN,
    accounts: [
      { address: account, role: AccountRole.WRITABLE },
      { address: delegate, role: AccountRole.READONLY },
      { address: owner.address, role: AccountRole.READONLY_SIGNER, signer: owner },
    ],
    data: concat(u8(4), u64(amount)),
  }),
};

/** The first byte of base58 data. */
function base58First(text) {
  return base58Decode(text)[0];
}

/** The JSON-RPC error code of a kit SolanaError (its context.__code), else undefined. */
function rpcCode(error) {
  return isSolanaError(error) ? error.context?.__code : undefined;
}

async function rejects(promise) {
  try {
    await promise;
  } catch (error) {
    return error;
  }
  return fail('expected the call to be refused, it succeeded');
}

/** Reads one kit subscription in the background into `items`. */
function collect(name, subscribing, abort, received) {
  const items = [];
  received[name] = items;
  return subscribing.then((stream) => {
    (async () => {
      try {
        for await (const note of stream) items.push(note);
      } catch (error) {
        if (!abort.signal.aborted) items.error = error;
      }
    })();
    return items;
  });
}

async function waitFor(items, predicate, what) {
  return eventually(
    () => {
      if (items.error) fail(`${what}: the subscription failed: ${items.error}`);
      return items.find(predicate);
    },
    NOTIFICATION_TIMEOUT_MS,
    what,
  );
}

run('kit_check', { '@solana/kit': packageVersion('@solana/kit') }, async (ctx) => {
  const { step, attempt, summary } = ctx;
  const methods = new Set();
  const base = createDefaultRpcTransport({ url: ctx.rpcUrl });
  const rpc = createSolanaRpcFromTransport(async (config) => {
    const entry = { request: short(config.payload, 800), status: 200, response: null };
    methods.add(config.payload.method);
    ctx.exchanges.push(entry);
    if (ctx.exchanges.length > 8) ctx.exchanges.shift();
    try {
      const response = await base(config);
      entry.response = short(response, 1500);
      return response;
    } catch (error) {
      entry.status = 'error';
      entry.response = String(error);
      throw error;
    }
  });
  const subscriptions = createSolanaRpcSubscriptions_UNSTABLE(ctx.wsUrl);
  const abort = new AbortController();
  setMaxListeners(100, abort.signal); // one listener per subscription
  const received = {};
  const call = (name, fn) => ctx.attempt(`rpc.${name}`, fn);

  const payer = await generateKeyPairSigner();
  const recipient = (await generateKeyPairSigner()).address;

  // ---- cluster: the node is the one validator, leader and vote account -------------------------

  const identity = await call('getIdentity', async () => {
    const { identity } = await rpc.getIdentity().send();
    check(typeof identity === 'string' && identity.length >= 32, `identity = ${short(identity)}`);
    return identity;
  });
  summary.identity = identity;

  await call('getVersion', async () => {
    const version = await rpc.getVersion().send();
    check(typeof version['solana-core'] === 'string' && typeof version['feature-set'] === 'number', `getVersion = ${short(version)}`);
  });
  await call('getHealth', async () => check((await rpc.getHealth().send()) === 'ok', 'getHealth is not "ok"'));
  await call('getGenesisHash', async () => {
    const hash = await rpc.getGenesisHash().send();
    check(typeof hash === 'string' && hash.length >= 32, `genesis hash = ${short(hash)}`);
  });
  await call('getClusterNodes', async () => {
    const nodes = await rpc.getClusterNodes().send();
    check(nodes.length === 1 && nodes[0].pubkey === identity, `cluster nodes = ${short(nodes)}`);
    check(typeof nodes[0].version === 'string' && nodes[0].rpc !== undefined, `cluster node = ${short(nodes[0])}`);
  });
  const epochInfo = await call('getEpochInfo', async () => rpc.getEpochInfo({ commitment: COMMITMENT }).send());
  await call('getEpochSchedule', async () => {
    const schedule = await rpc.getEpochSchedule().send();
    for (const k of ['slotsPerEpoch', 'leaderScheduleSlotOffset', 'firstNormalEpoch', 'firstNormalSlot']) {
      check(typeof schedule[k] === 'bigint', `epochSchedule.${k} = ${short(schedule[k])}`);
    }
    check(typeof schedule.warmup === 'boolean', `epochSchedule.warmup = ${schedule.warmup}`);
    if (!schedule.warmup) check(schedule.slotsPerEpoch === epochInfo.slotsInEpoch, `slotsPerEpoch ${schedule.slotsPerEpoch} != slotsInEpoch ${epochInfo.slotsInEpoch}`);
  });
  await call('getSlotLeader', async () => check((await rpc.getSlotLeader().send()) === identity, 'the slot leader is not the node'));
  await call('getSlotLeaders', async () => {
    const slot = await rpc.getSlot().send();
    const leaders = await rpc.getSlotLeaders(slot, 5).send();
    check(leaders.length === 5 && leaders.every((l) => l === identity), `slot leaders = ${short(leaders)}`);
  });
  await call('getLeaderSchedule', async () => {
    const schedule = await rpc.getLeaderSchedule(null).send();
    check(Object.keys(schedule).length === 1 && Array.isArray(schedule[identity]), `leader schedule keys = ${short(Object.keys(schedule))}`);
    const mine = await rpc.getLeaderSchedule(null, { identity }).send();
    check(mine[identity].length === schedule[identity].length, 'leader schedule by identity differs');
  });
  await call('getVoteAccounts', async () => {
    const { current, delinquent } = await rpc.getVoteAccounts().send();
    check(current.length === 1 && delinquent.length === 0, `vote accounts = ${short({ current, delinquent })}`);
    check(current[0].nodePubkey === identity && current[0].activatedStake > 0n, `vote account = ${short(current[0])}`);
    check(current[0].epochVoteAccount === true && typeof current[0].votePubkey === 'string', `vote account = ${short(current[0])}`);
  });
  await call('getBlockProduction', async () => {
    const { value } = await rpc.getBlockProduction().send();
    const mine = value.byIdentity[identity];
    check(Array.isArray(mine) && mine.length === 2 && mine[1] <= mine[0] && mine[1] > 0n, `byIdentity = ${short(value.byIdentity)}`);
    check(value.range.firstSlot <= value.range.lastSlot, `range = ${short(value.range)}`);
  });
  await call('getSupply', async () => {
    const { value } = await rpc.getSupply().send();
    check(value.total > 0n && value.total === value.circulating + value.nonCirculating, `supply = ${short(value)}`);
    check(Array.isArray(value.nonCirculatingAccounts), `nonCirculatingAccounts = ${short(value.nonCirculatingAccounts)}`);
    const bare = await rpc.getSupply({ excludeNonCirculatingAccountsList: true }).send();
    check(bare.value.nonCirculatingAccounts.length === 0, 'excludeNonCirculatingAccountsList ignored');
  });
  await call('getInflationGovernor', async () => {
    const g = await rpc.getInflationGovernor().send();
    // solana-test-validator's genesis has Inflation::default().
    check(g.initial === 0.08 && g.terminal === 0.015 && g.taper === 0.15 && g.foundation === 0.05 && g.foundationTerm === 7, `governor = ${short(g)}`);
  });
  await call('getInflationRate', async () => {
    const r = await rpc.getInflationRate().send();
    check(r.epoch === epochInfo.epoch, `inflation rate epoch ${r.epoch} != ${epochInfo.epoch}`);
    check(Math.abs(r.total - (r.validator + r.foundation)) < 1e-12 && r.total > 0, `inflation rate = ${short(r)}`);
  });
  await call('getStakeMinimumDelegation', async () => {
    const { value } = await rpc.getStakeMinimumDelegation().send();
    check(value === 1n || value === SOL, `stake minimum delegation = ${value}`);
  });
  await call('getMinimumBalanceForRentExemption', async () => {
    check((await rpc.getMinimumBalanceForRentExemption(0n).send()) === 890_880n, 'rent-exempt minimum of 0 bytes');
    check((await rpc.getMinimumBalanceForRentExemption(165n).send()) === 2_039_280n, 'rent-exempt minimum of 165 bytes');
  });
  await call('getHighestSnapshotSlot', async () => {
    try {
      const s = await rpc.getHighestSnapshotSlot().send();
      check(typeof s.full === 'bigint', `highest snapshot = ${short(s)}`);
    } catch (error) {
      // Agave before its first snapshot: RpcCustomError::NoSnapshot.
      check(rpcCode(error) === -32008, `getHighestSnapshotSlot: ${error}`);
    }
  });
  for (const name of ['getMaxRetransmitSlot', 'getMaxShredInsertSlot', 'getFirstAvailableBlock', 'minimumLedgerSlot', 'getTransactionCount', 'getBlockHeight', 'getSlot']) {
    summary[name] = await call(name, async () => {
      const value = await rpc[name]().send();
      check(typeof value === 'bigint' && value >= 0n, `${name} = ${short(value)}`);
      return value;
    });
  }
  await call('getRecentPerformanceSamples', async () => {
    const samples = await rpc.getRecentPerformanceSamples(5).send();
    check(Array.isArray(samples) && samples.length <= 5, `samples = ${short(samples)}`);
    for (const s of samples) check(typeof s.numSlots === 'bigint' && typeof s.numNonVoteTransactions === 'bigint', `sample = ${short(s)}`);
  });
  await call('getLargestAccounts', async () => {
    const { value } = await rpc.getLargestAccounts().send();
    check(value.length > 0 && value.length <= 20, `largest accounts = ${value.length}`);
    check(value.every((a, i) => i === 0 || value[i - 1].lamports >= a.lamports), 'largest accounts are not sorted by lamports');
  });

  // ---- subscriptions, opened before anything they watch happens ----------------------------------

  const opened = {
    slot: () => subscriptions.slotNotifications(),
    root: () => subscriptions.rootNotifications(),
    logs: () => subscriptions.logsNotifications({ mentions: [payer.address] }, { commitment: COMMITMENT }),
    account: () => subscriptions.accountNotifications(recipient, { commitment: COMMITMENT, encoding: 'base64' }),
    program: () => subscriptions.programNotifications(TOKEN, { commitment: COMMITMENT, encoding: 'jsonParsed' }),
    block: () =>
      subscriptions.blockNotifications(
        { mentionsAccountOrProgram: payer.address },
        { commitment: COMMITMENT, encoding: 'json', transactionDetails: 'signatures', maxSupportedTransactionVersion: 0, showRewards: false },
      ),
  };
  for (const [name, open] of Object.entries(opened)) {
    // One at a time, so that a refused subscription is reported as itself.
    const ok = await attempt(`subscribe ${name}`, async () => collect(name, open().subscribe({ abortSignal: abort.signal }), abort, received));
    if (ok === undefined) received[name].error = new Error(`${name} subscription was refused`);
  }

  async function signatureNotes(signature) {
    return collect(
      `signature ${signature}`,
      subscriptions.signatureNotifications(signature, { commitment: COMMITMENT }).subscribe({ abortSignal: abort.signal }),
      abort,
      received,
    );
  }

  /** A transaction signed here: signatureSubscribe first, then send, then the notification. */
  async function sendAndConfirm(transactionMessage) {
    const tx = await signTransactionMessageWithSigners(transactionMessage);
    const signature = getSignatureFromTransaction(tx);
    const notes = await signatureNotes(signature);
    const sent = await rpc.sendTransaction(getBase64EncodedWireTransaction(tx), { encoding: 'base64', preflightCommitment: COMMITMENT }).send();
    check(sent === signature, `sendTransaction returned ${sent}, expected ${signature}`);
    const note = await waitFor(notes, () => true, `the signatureNotification of ${signature}`);
    check(note.value.err === null, `${signature} failed: ${short(note.value.err)}`);
    return { signature, slot: note.context.slot };
  }

  async function message(instructions, extra = (m) => m, feePayer = payer) {
    const { value: latest } = await rpc.getLatestBlockhash({ commitment: COMMITMENT }).send();
    return pipe(
      createTransactionMessage({ version: 0 }),
      (m) => setTransactionMessageFeePayerSigner(feePayer, m),
      (m) => setTransactionMessageLifetimeUsingBlockhash(latest, m),
      (m) => appendTransactionMessageInstructions(instructions, m),
      extra,
    );
  }

  // ---- airdrop, then a v0 transfer with a priority fee -------------------------------------------

  summary.airdrop = await call('requestAirdrop', async () => {
    const signature = await rpc.requestAirdrop(payer.address, lamports(10n * SOL), { commitment: COMMITMENT }).send();
    // The signature is known only once sent: subscribe, then ask too (a signature confirmed before
    // its subscription is not notified).
    const notes = await signatureNotes(signature);
    await eventually(
      async () => notes.length > 0 || (await rpc.getSignatureStatuses([signature]).send()).value[0]?.confirmationStatus === 'confirmed',
      NOTIFICATION_TIMEOUT_MS,
      `the airdrop ${signature} to be confirmed`,
    );
    const { value } = await rpc.getBalance(payer.address, { commitment: COMMITMENT }).send();
    check(value === 10n * SOL, `getBalance after the airdrop = ${value}`);
    methods.add('getBalance');
    return signature;
  });

  const memoText = `kit check ${Date.now()}`;
  const transferMessage = await message([ix.transfer(payer, recipient, TRANSFER), ix.memo(payer, memoText)], (m) =>
    setTransactionMessageComputeUnitPrice(CU_PRICE, setTransactionMessageComputeUnitLimit(CU_LIMIT, m)),
  );
  const expectedFee = 5000n + (CU_PRICE * BigInt(CU_LIMIT) + 999_999n) / 1_000_000n;

  await call('getFeeForMessage', async () => {
    const compiled = compileTransaction(transferMessage);
    const messageBase64 = getBase64Decoder().decode(compiled.messageBytes);
    const { value } = await rpc.getFeeForMessage(messageBase64, { commitment: COMMITMENT }).send();
    check(value === expectedFee, `getFeeForMessage = ${value}, expected ${expectedFee} (5000 + the priority fee)`);
  });

  await call('isBlockhashValid', async () => {
    const { blockhash } = transferMessage.lifetimeConstraint;
    check((await rpc.isBlockhashValid(blockhash, { commitment: COMMITMENT }).send()).value === true, 'the latest blockhash is not valid');
    const madeUp = getBase58Decoder().decode(new Uint8Array(32).fill(7));
    check((await rpc.isBlockhashValid(madeUp, { commitment: COMMITMENT }).send()).value === false, 'a made-up blockhash is valid');
  });

  await call('simulateTransaction', async () => {
    const tx = await signTransactionMessageWithSigners(transferMessage);
    const { value } = await rpc
      .simulateTransaction(getBase64EncodedWireTransaction(tx), {
        encoding: 'base64',
        commitment: COMMITMENT,
        sigVerify: true,
        accounts: { addresses: [recipient], encoding: 'base64' },
      })
      .send();
    check(value.err === null, `simulation err = ${short(value.err)}`);
    check(value.accounts[0].lamports === TRANSFER, `simulated recipient = ${short(value.accounts[0])}`);
    check(value.unitsConsumed > 0n && value.logs.some((l) => l.includes(memoText)), `simulation = ${short(value)}`);
  });

  const transfer = await call('sendTransaction', async () => sendAndConfirm(transferMessage));
  summary.transfer = transfer.signature;
  methods.add('getLatestBlockhash');

  await call('getSignatureStatuses', async () => {
    const { value } = await rpc.getSignatureStatuses([transfer.signature], { searchTransactionHistory: true }).send();
    check(value[0] && value[0].err === null && value[0].slot === transfer.slot, `status = ${short(value[0])}`);
  });

  const tx = await step('getTransaction (json)', async () => {
    const json = await rpc.getTransaction(transfer.signature, { commitment: COMMITMENT, maxSupportedTransactionVersion: 0, encoding: 'json' }).send();
    check(json.version === 0 && json.slot === transfer.slot, `version/slot = ${short([json.version, json.slot])}`);
    check(typeof json.blockTime === 'bigint', `blockTime = ${short(json.blockTime)}`);
    return json;
  });
  await call('getTransaction', async () => {
    check(tx.meta.fee === expectedFee, `meta.fee = ${tx.meta.fee}, expected ${expectedFee} with the priority fee`);
    check(tx.meta.computeUnitsConsumed > 0n && tx.meta.computeUnitsConsumed <= BigInt(CU_LIMIT), `computeUnitsConsumed = ${tx.meta.computeUnitsConsumed}`);
  });
  await attempt('rpc.getTransaction (jsonParsed, base64)', async () => {
    const parsed = await rpc.getTransaction(transfer.signature, { commitment: COMMITMENT, maxSupportedTransactionVersion: 0, encoding: 'jsonParsed' }).send();
    const { instructions } = parsed.transaction.message;
    const programs = instructions.filter((i) => 'parsed' in i && i.programId !== COMPUTE_BUDGET).map((i) => i.program).sort();
    check(short(programs) === short(['spl-memo', 'system']), `parsed programs = ${short(programs)}`);
    const transferIx = instructions.find((i) => i.program === 'system');
    check(transferIx.parsed.type === 'transfer' && transferIx.parsed.info.lamports === TRANSFER, `parsed transfer = ${short(transferIx)}`);
    // Agave 2.3's parsers do not cover the compute-budget program: its instructions come partially
    // decoded (SetComputeUnitLimit = 2, SetComputeUnitPrice = 3), or parsed where a node adds a parser.
    const budget = instructions.filter((i) => i.programId === COMPUTE_BUDGET);
    const kinds = budget.map((i) => ('parsed' in i ? i.parsed.type : ({ 2: 'setComputeUnitLimit', 3: 'setComputeUnitPrice' })[base58First(i.data)])).sort();
    check(short(kinds) === short(['setComputeUnitLimit', 'setComputeUnitPrice']), `compute-budget instructions = ${short(budget)}`);
    const raw = await rpc.getTransaction(transfer.signature, { commitment: COMMITMENT, maxSupportedTransactionVersion: 0, encoding: 'base64' }).send();
    const wire = getBase64Encoder().encode(raw.transaction[0]);
    check(raw.transaction[1] === 'base64' && wire.length > 64, `base64 transaction = ${short(raw.transaction)}`);
  });

  await call('getSignaturesForAddress', async () => {
    const list = await rpc.getSignaturesForAddress(payer.address, { commitment: COMMITMENT }).send();
    check(list[0].signature === transfer.signature && list.some((e) => e.signature === summary.airdrop), `signatures = ${short(list)}`);
    check(list[0].memo === `[${memoText.length}] ${memoText}`, `memo = ${short(list[0].memo)}`);
  });

  await call('getRecentPrioritizationFees', async () => {
    // Agave reports, per slot, the lowest unit price among the transactions that write-lock the
    // account, once the slot is finalized: ask for the recipient, which only the transfer writes.
    let fees = [];
    const atSlot = await eventually(
      async () => {
        fees = await rpc.getRecentPrioritizationFees([recipient]).send();
        return fees.find((f) => f.slot === transfer.slot);
      },
      NOTIFICATION_TIMEOUT_MS,
      `slot ${transfer.slot} in getRecentPrioritizationFees`,
    ).catch((error) => fail(`${error.message}; last answer ${short(fees.slice(-5))}`));
    check(atSlot.prioritizationFee === CU_PRICE, `fee at slot ${transfer.slot} = ${atSlot.prioritizationFee}, expected ${CU_PRICE}`);
    // For an account no transaction wrote, Agave reports each slot's lowest fee paid (at most ours).
    const other = await rpc.getRecentPrioritizationFees([(await generateKeyPairSigner()).address]).send();
    check(other.every((f) => f.prioritizationFee <= CU_PRICE), `an untouched account: ${short(other)}`);
  });

  // ---- blocks -----------------------------------------------------------------------------------

  const block = await call('getBlock', async () => {
    const b = await rpc
      .getBlock(transfer.slot, { commitment: COMMITMENT, encoding: 'json', maxSupportedTransactionVersion: 0, transactionDetails: 'full', rewards: true })
      .send();
    check(b.parentSlot < transfer.slot && b.blockHeight > 0n && b.blockTime === tx.blockTime, `block = ${short({ ...b, transactions: undefined })}`);
    check(b.transactions.some((t) => t.transaction.signatures[0] === transfer.signature), 'the block lacks the transfer');
    check(Array.isArray(b.rewards), `rewards = ${short(b.rewards)}`);
    const sigs = await rpc.getBlock(transfer.slot, { commitment: COMMITMENT, transactionDetails: 'signatures', maxSupportedTransactionVersion: 0, rewards: false }).send();
    check(sigs.signatures.includes(transfer.signature) && sigs.rewards === undefined, `signatures view = ${short(sigs)}`);
    const error = await rejects(rpc.getBlock(transfer.slot + 10_000_000n, { commitment: COMMITMENT, maxSupportedTransactionVersion: 0 }).send());
    check(rpcCode(error) === -32004, `getBlock(future slot): ${error}`);
    return b;
  });
  await attempt('rpc.getBlock (jsonParsed)', async () => {
    const parsed = await rpc.getBlock(transfer.slot, { commitment: COMMITMENT, encoding: 'jsonParsed', maxSupportedTransactionVersion: 0 }).send();
    const entry = parsed.transactions.find((t) => t.transaction.signatures[0] === transfer.signature);
    check(entry.transaction.message.accountKeys[0].pubkey === payer.address, `jsonParsed block entry = ${short(entry)}`);
    const system = entry.transaction.message.instructions.find((i) => i.program === 'system');
    check(system?.parsed?.type === 'transfer', `jsonParsed block instructions = ${short(entry.transaction.message.instructions)}`);
  });

  // Independent of getBlock's answer, so that each method is reported on its own.
  const parentSlot = block?.parentSlot ?? transfer.slot - 1n;
  await call('getBlockTime', async () => {
    check((await rpc.getBlockTime(transfer.slot).send()) === tx.blockTime, 'getBlockTime != the transaction blockTime');
  });
  await call('getBlocks', async () => {
    const slots = await rpc.getBlocks(parentSlot, transfer.slot, { commitment: COMMITMENT }).send();
    check(slots[0] === parentSlot && slots[slots.length - 1] === transfer.slot, `getBlocks(${parentSlot}, ${transfer.slot}) = ${short(slots)}`);
    check(slots.every((s, i) => i === 0 || s > slots[i - 1]), `getBlocks not ascending: ${short(slots)}`);
  });
  await call('getBlocksWithLimit', async () => {
    const slots = await rpc.getBlocksWithLimit(parentSlot, 2, { commitment: COMMITMENT }).send();
    check(short(slots) === short([parentSlot, transfer.slot]), `getBlocksWithLimit(${parentSlot}, 2) = ${short(slots)}`);
  });
  await call('getBlockCommitment', async () => {
    const c = await rpc.getBlockCommitment(transfer.slot).send();
    check(typeof c.totalStake === 'bigint' && c.totalStake > 0n, `totalStake = ${short(c.totalStake)}`);
    check(c.commitment === null || (Array.isArray(c.commitment) && c.commitment.length === 32), `commitment = ${short(c.commitment)}`);
  });

  // ---- SPL Token: a mint, an account with a delegate ---------------------------------------------

  const mint = await generateKeyPairSigner();
  const tokenAccount = await generateKeyPairSigner();
  const delegate = (await generateKeyPairSigner()).address;
  await attempt('create mint + token account + mintTo + approve', async () => {
    const mintRent = await rpc.getMinimumBalanceForRentExemption(82n).send();
    const accountRent = await rpc.getMinimumBalanceForRentExemption(165n).send();
    await sendAndConfirm(
      await message([
        ix.createAccount(payer, mint, mintRent, 82, TOKEN),
        ix.initializeMint2(mint.address, payer.address),
        ix.createAccount(payer, tokenAccount, accountRent, 165, TOKEN),
        ix.initializeAccount3(tokenAccount.address, mint.address, payer.address),
        ix.mintTo(mint.address, tokenAccount.address, payer, 1_000_000n),
        ix.approve(tokenAccount.address, delegate, payer, 300_000n),
      ]),
    );
  });
  const oneToken = { amount: '1000000', decimals: DECIMALS, uiAmount: 1, uiAmountString: '1' };

  await call('getTokenAccountBalance', async () => {
    const { value } = await rpc.getTokenAccountBalance(tokenAccount.address, { commitment: COMMITMENT }).send();
    check(sameJson(value, oneToken), `balance = ${short(value)}`);
    const error = await rejects(rpc.getTokenAccountBalance(recipient).send());
    check(rpcCode(error) === -32602, `getTokenAccountBalance(not a token account): ${error}`);
  });
  await call('getTokenSupply', async () => {
    const { value } = await rpc.getTokenSupply(mint.address, { commitment: COMMITMENT }).send();
    check(sameJson(value, oneToken), `supply = ${short(value)}`);
  });
  await call('getTokenLargestAccounts', async () => {
    const { value } = await rpc.getTokenLargestAccounts(mint.address, { commitment: COMMITMENT }).send();
    check(value.length === 1 && value[0].address === tokenAccount.address && value[0].amount === '1000000', `largest = ${short(value)}`);
  });
  await call('getTokenAccountsByOwner', async () => {
    const parsed = await rpc.getTokenAccountsByOwner(payer.address, { mint: mint.address }, { commitment: COMMITMENT, encoding: 'jsonParsed' }).send();
    check(parsed.value.length === 1 && parsed.value[0].pubkey === tokenAccount.address, `by owner = ${short(parsed.value)}`);
    const { info } = parsed.value[0].account.data.parsed;
    check(info.owner === payer.address && info.mint === mint.address && sameJson(info.tokenAmount, oneToken), `info = ${short(info)}`);
    const raw = await rpc.getTokenAccountsByOwner(payer.address, { programId: TOKEN }, { commitment: COMMITMENT, encoding: 'base64' }).send();
    check(raw.value.length === 1 && getBase64Encoder().encode(raw.value[0].account.data[0]).length === 165, `base64 = ${short(raw.value)}`);
  });
  await call('getTokenAccountsByDelegate', async () => {
    const { value } = await rpc.getTokenAccountsByDelegate(delegate, { programId: TOKEN }, { commitment: COMMITMENT, encoding: 'jsonParsed' }).send();
    check(value.length === 1 && value[0].pubkey === tokenAccount.address, `by delegate = ${short(value)}`);
    const { info } = value[0].account.data.parsed;
    check(info.delegate === delegate && info.delegatedAmount.amount === '300000', `delegate info = ${short(info)}`);
  });

  // ---- accounts, every encoding --------------------------------------------------------------------

  await call('getAccountInfo', async () => {
    const parsed = await rpc.getAccountInfo(mint.address, { commitment: COMMITMENT, encoding: 'jsonParsed' }).send();
    const { data } = parsed.value;
    check(data.program === 'spl-token' && data.parsed.type === 'mint' && data.parsed.info.supply === '1000000', `mint = ${short(data)}`);
    const slice = await rpc.getAccountInfo(tokenAccount.address, { commitment: COMMITMENT, encoding: 'base64', dataSlice: { offset: 32, length: 32 } }).send();
    const owner = getBase64Encoder().encode(slice.value.data[0]);
    check(short([...owner]) === short([...key(payer.address)]), `dataSlice(32, 32) is not the owner: ${short(slice.value.data)}`);
    const b58 = await rpc.getAccountInfo(mint.address, { commitment: COMMITMENT, encoding: 'base58' }).send();
    check(b58.value.data[1] === 'base58', `base58 = ${short(b58.value.data)}`);
    const zstd = await rpc.getAccountInfo(tokenAccount.address, { commitment: COMMITMENT, encoding: 'base64+zstd' }).send();
    const frame = getBase64Encoder().encode(zstd.value.data[0]);
    check(zstd.value.data[1] === 'base64+zstd' && short([...frame.slice(0, 4)]) === short([0x28, 0xb5, 0x2f, 0xfd]), `base64+zstd = ${short(zstd.value.data)}`);
    check((await rpc.getAccountInfo(recipient, { commitment: COMMITMENT }).send()).value.lamports === TRANSFER, 'recipient lamports');
  });
  await call('getMultipleAccounts', async () => {
    const nobody = (await generateKeyPairSigner()).address;
    const { value } = await rpc.getMultipleAccounts([mint.address, tokenAccount.address, nobody], { commitment: COMMITMENT, encoding: 'jsonParsed' }).send();
    check(value[0].data.parsed.type === 'mint' && value[1].data.parsed.type === 'account' && value[2] === null, `multiple = ${short(value)}`);
  });
  await call('getProgramAccounts', async () => {
    const filters = [{ dataSize: 165n }, { memcmp: { offset: 32n, bytes: payer.address, encoding: 'base58' } }];
    const list = await rpc.getProgramAccounts(TOKEN, { commitment: COMMITMENT, encoding: 'jsonParsed', filters }).send();
    check(list.length === 1 && list[0].pubkey === tokenAccount.address && list[0].account.data.parsed.type === 'account', `program accounts = ${short(list)}`);
    const withContext = await rpc.getProgramAccounts(TOKEN, { commitment: COMMITMENT, encoding: 'base64', filters, withContext: true }).send();
    check(withContext.context.slot > 0n && withContext.value.length === 1, `withContext = ${short(withContext)}`);
  });

  await call('getInflationReward', async () => {
    // At epoch 0 no epoch has ended: Agave answers -32004 for the first slot of the next one.
    try {
      const rewards = await rpc.getInflationReward([payer.address, recipient]).send();
      check(rewards.length === 2 && rewards.every((r) => r === null), `inflation rewards = ${short(rewards)}`);
    } catch (error) {
      check(epochInfo.epoch === 0n && rpcCode(error) === -32004, `getInflationReward: ${error}`);
    }
  });

  // ---- the whole mirror life, instructions built from the IDL ---------------------------------------

  summary.mirrorLife = await attempt('mirror life (@solana/kit)', async () => {
    const trainer = await createKeyPairSignerFromBytes(devKeypairBytes('trainer'));
    const creator = await generateKeyPairSigner();
    const grantee = await generateKeyPairSigner();
    await sendAndConfirm(await message([ix.transfer(payer, creator.address, SOL), ix.transfer(payer, grantee.address, SOL)]));
    const signers = { creator, grantee, trainer };
    const role = (m) =>
      m.signer ? (m.writable ? AccountRole.WRITABLE_SIGNER : AccountRole.READONLY_SIGNER) : m.writable ? AccountRole.WRITABLE : AccountRole.READONLY;
    return mirrorLife(
      {
        addresses: { creator: creator.address, grantee: grantee.address, trainer: trainer.address },
        pda: async (seeds) => (await getProgramDerivedAddress({ programAddress: address(PROGRAM_ID), seeds }))[0],
        send: async (name, data, metas, signer) => {
          const actor = signers[signer];
          const instruction = {
            programAddress: address(PROGRAM_ID),
            accounts: metas.map((m) => ({ address: address(m.address), role: role(m), ...(m.signer ? { signer: actor } : {}) })),
            data,
          };
          const { signature } = await sendAndConfirm(await message([instruction], (m) => m, actor));
          const landed = await rpc.getTransaction(signature, { commitment: COMMITMENT, maxSupportedTransactionVersion: 0, encoding: 'json' }).send();
          return { signature, logs: landed.meta.logMessages };
        },
        accountData: async (where) => {
          const { value } = await rpc.getAccountInfo(address(where), { commitment: COMMITMENT, encoding: 'base64' }).send();
          return value === null ? null : getBase64Encoder().encode(value.data[0]);
        },
      },
      ctx.stage,
    );
  });

  // ---- what the subscriptions delivered --------------------------------------------------------------

  await attempt('slotNotifications', async () => {
    const slots = received.slot;
    await waitFor(slots, (n) => n.slot > transfer.slot, 'a slotNotification past the transfer');
    check(slots.every((n, i) => i === 0 || n.slot > slots[i - 1].slot), `slots not increasing: ${short(slots.map((n) => n.slot))}`);
    check(slots.every((n) => n.parent < n.slot && n.root <= n.slot), `slot notifications = ${short(slots.slice(0, 3))}`);
  });
  await attempt('rootNotifications', async () => {
    const roots = received.root;
    const root = await waitFor(roots, (r) => r >= transfer.slot, 'a rootNotification at or past the transfer slot');
    check(typeof root === 'bigint' && roots.every((r, i) => i === 0 || r > roots[i - 1]), `roots = ${short(roots)}`);
  });
  await attempt('logsNotifications', async () => {
    const note = await waitFor(received.logs, (n) => n.value.signature === transfer.signature, 'the logsNotification of the transfer');
    check(note.value.err === null && note.value.logs.some((l) => l.includes(memoText)), `logs = ${short(note.value)}`);
  });
  await attempt('accountNotifications', async () => {
    const note = await waitFor(received.account, (n) => n.value.lamports === TRANSFER, 'the accountNotification of the recipient');
    check(note.value.owner === SYSTEM && note.context.slot === transfer.slot, `account notification = ${short(note)}`);
  });
  await attempt('programNotifications', async () => {
    const note = await waitFor(received.program, (n) => n.value.pubkey === tokenAccount.address, 'a programNotification for the token account');
    check(note.value.account.data?.parsed?.type === 'account', `program notification = ${short(note.value)}`);
  });
  await attempt('blockNotifications', async () => {
    const note = await waitFor(received.block, (n) => n.value.slot === transfer.slot, `the blockNotification of slot ${transfer.slot}`);
    check(note.value.err === null && note.value.block.blockhash === block.blockhash, `block notification = ${short(note.value)}`);
    check(note.value.block.signatures.includes(transfer.signature), `block notification signatures = ${short(note.value.block.signatures)}`);
  });

  abort.abort();
  summary.methods = [...methods].sort();
  summary.subscriptions = Object.entries(received)
    .filter(([, items]) => items.length > 0)
    .map(([name]) => (name.startsWith('signature ') ? 'signature' : name))
    .filter((name, i, all) => all.indexOf(name) === i)
    .sort();
  return summary;
});
