// Versioned (v0) transactions with address lookup tables, as wallets and dApps
// built on @solana/web3.js v1 send them: AddressLookupTableProgram's
// createLookupTable + extendLookupTable, a slot's wait, then a
// VersionedTransaction compiled with compileToV0Message([table]) that pays an
// account present only through the table. Expectations are the shapes
// solana-test-validator answers with. The summary carries the signatures and
// addresses so that the Python test can read them again (raw RPC, restart).
//
//   node alt_check.mjs RPC_URL [WS_URL]      (see harness.mjs)

import {
  AddressLookupTableProgram,
  Connection,
  Keypair,
  LAMPORTS_PER_SOL,
  PublicKey,
  SolanaJSONRPCError,
  SystemProgram,
  TransactionMessage,
  VersionedTransaction,
} from '@solana/web3.js';

import { check, eventually, packageVersion, run, short, subscriptionAcknowledged, withTimeout, web3Options } from './harness.mjs';

const COMMITMENT = 'confirmed';
const TRANSFER_LAMPORTS = 1_000_000;

run('alt_check', { '@solana/web3.js': packageVersion('@solana/web3.js') }, async (ctx) => {
  const { step, attempt, summary } = ctx;
  const connection = new Connection(ctx.rpcUrl, web3Options(ctx, COMMITMENT));
  const payer = Keypair.generate();
  // Present in the transfer only through the lookup table.
  const loadedRecipient = Keypair.generate().publicKey;
  const loadedReadonly = Keypair.generate().publicKey;

  async function sendV0(instructions, lookupTables, options = {}) {
    const { blockhash, lastValidBlockHeight } = await connection.getLatestBlockhash(COMMITMENT);
    const message = new TransactionMessage({ payerKey: payer.publicKey, recentBlockhash: blockhash, instructions }).compileToV0Message(
      lookupTables,
    );
    const tx = new VersionedTransaction(message);
    tx.sign([payer]);
    const signature = await connection.sendTransaction(tx, options);
    const { value } = await connection.confirmTransaction({ signature, blockhash, lastValidBlockHeight }, COMMITMENT);
    check(value.err === null, `${signature}: ${short(value.err)}`);
    return { signature, tx };
  }

  await step('requestAirdrop', async () => {
    const { blockhash, lastValidBlockHeight } = await connection.getLatestBlockhash(COMMITMENT);
    const signature = await connection.requestAirdrop(payer.publicKey, 2 * LAMPORTS_PER_SOL);
    await connection.confirmTransaction({ signature, blockhash, lastValidBlockHeight }, COMMITMENT);
  });

  const tableAddress = await step('createLookupTable + extendLookupTable', async () => {
    const recentSlot = await connection.getSlot(COMMITMENT);
    const [create, address] = AddressLookupTableProgram.createLookupTable({
      authority: payer.publicKey,
      payer: payer.publicKey,
      recentSlot,
    });
    const extend = AddressLookupTableProgram.extendLookupTable({
      lookupTable: address,
      authority: payer.publicKey,
      payer: payer.publicKey,
      addresses: [loadedRecipient, loadedReadonly, SystemProgram.programId],
    });
    const { signature } = await sendV0([create, extend], []);
    summary.createSignature = signature;
    summary.recentSlot = recentSlot;
    return address;
  });
  summary.table = tableAddress.toBase58();
  summary.loadedRecipient = loadedRecipient.toBase58();
  summary.loadedReadonly = loadedReadonly.toBase58();
  summary.payer = payer.publicKey.toBase58();

  const table = await step('getAddressLookupTable (a slot later)', async () => {
    const created = await connection.getSlot(COMMITMENT);
    await eventually(async () => (await connection.getSlot(COMMITMENT)) > created, 10_000, 'the next slot');
    const { value } = await connection.getAddressLookupTable(tableAddress);
    check(value !== null, 'the table is not found');
    check(value.state.addresses.length === 3 && value.state.addresses[0].equals(loadedRecipient), `table = ${short(value.state)}`);
    check(value.state.authority?.equals(payer.publicKey) && value.isActive(), `table state = ${short(value.state)}`);
    return value;
  });

  await attempt('getParsedAccountInfo (lookupTable)', async () => {
    const { value } = await connection.getParsedAccountInfo(tableAddress);
    const parsed = value?.data?.parsed;
    check(value?.data?.program === 'address-lookup-table' && parsed?.type === 'lookupTable', `parsed table = ${short(value)}`);
    check(parsed.info.addresses[0] === loadedRecipient.toBase58() && parsed.info.authority === payer.publicKey.toBase58(), `info = ${short(parsed.info)}`);
  });

  // logsSubscribe mentioning an address that only the table brings in.
  const mentioned = [];
  const logsId = connection.onLogs(loadedRecipient, (logs) => mentioned.push(logs.signature), COMMITMENT);
  await subscriptionAcknowledged(connection, logsId, 10_000, 'logsSubscribe');

  const transferIx = SystemProgram.transfer({ fromPubkey: payer.publicKey, toPubkey: loadedRecipient, lamports: TRANSFER_LAMPORTS });
  // A readonly account from the table too: the transfer's key list carries it.
  transferIx.keys.push({ pubkey: loadedReadonly, isSigner: false, isWritable: false });

  await attempt('simulateTransaction (v0 + lookup)', async () => {
    const { blockhash } = await connection.getLatestBlockhash(COMMITMENT);
    const message = new TransactionMessage({ payerKey: payer.publicKey, recentBlockhash: blockhash, instructions: [transferIx] }).compileToV0Message([
      table,
    ]);
    check(message.addressTableLookups.length === 1 && !message.staticAccountKeys.some((k) => k.equals(loadedRecipient)), 'compiled without the table');
    const tx = new VersionedTransaction(message);
    tx.sign([payer]);
    const { value } = await connection.simulateTransaction(tx, { sigVerify: true });
    check(value.err === null, `simulation: ${short(value)}`);
    const fee = await connection.getFeeForMessage(message, COMMITMENT);
    check(fee.value === 5000, `getFeeForMessage(v0) = ${short(fee)}`);
  });

  const transfer = await step('v0 transfer through the table', async () => {
    const { signature, tx } = await sendV0([transferIx], [table]);
    check(tx.message.addressTableLookups.length === 1, 'not a lookup transaction');
    const balance = await connection.getBalance(loadedRecipient, COMMITMENT);
    check(balance === TRANSFER_LAMPORTS, `recipient balance = ${balance}`);
    return signature;
  });
  summary.transferSignature = transfer;

  await attempt('logsSubscribe mentions (loaded address)', async () => {
    await withTimeout(eventually(() => mentioned.includes(transfer), 10_000, 'the logs notification'), 12_000, 'logs');
    await connection.removeOnLogsListener(logsId);
  });

  await attempt('getTransaction (v0)', async () => {
    const got = await connection.getTransaction(transfer, { commitment: COMMITMENT, maxSupportedTransactionVersion: 0 });
    check(got?.version === 0, `version = ${got?.version}`);
    check(got.meta.loadedAddresses.writable[0].equals(loadedRecipient), `loadedAddresses = ${short(got.meta.loadedAddresses)}`);
    check(got.meta.loadedAddresses.readonly[0].equals(loadedReadonly), `loadedAddresses = ${short(got.meta.loadedAddresses)}`);
    const keys = got.transaction.message.getAccountKeys({ accountKeysFromLookups: got.meta.loadedAddresses });
    const index = keys.staticAccountKeys.length; // the first loaded (writable) one
    check(keys.get(index).equals(loadedRecipient), 'account keys');
    check(got.meta.postBalances[index] - got.meta.preBalances[index] === TRANSFER_LAMPORTS, `balances = ${short(got.meta)}`);
  });

  await attempt('getParsedTransaction (v0)', async () => {
    const got = await connection.getParsedTransaction(transfer, { commitment: COMMITMENT, maxSupportedTransactionVersion: 0 });
    const keys = got.transaction.message.accountKeys;
    const loaded = keys.find((k) => k.pubkey.equals(loadedRecipient));
    check(loaded?.source === 'lookupTable' && loaded.writable && !loaded.signer, `account keys = ${short(keys)}`);
    check(keys[0].source === 'transaction', `payer key = ${short(keys[0])}`);
    const ix = got.transaction.message.instructions[0];
    check(ix.parsed?.type === 'transfer' && ix.parsed.info.destination === loadedRecipient.toBase58(), `instruction = ${short(ix)}`);
    const lookups = got.transaction.message.addressTableLookups;
    check(lookups?.[0]?.accountKey.equals(tableAddress), `addressTableLookups = ${short(lookups)}`);
  });

  await attempt('getParsedTransaction (ALT instructions)', async () => {
    const got = await connection.getParsedTransaction(summary.createSignature, { commitment: COMMITMENT, maxSupportedTransactionVersion: 0 });
    const types = got.transaction.message.instructions.map((ix) => `${ix.program}:${ix.parsed?.type}`);
    check(types.join(',') === 'address-lookup-table:createLookupTable,address-lookup-table:extendLookupTable', `instructions = ${short(types)}`);
  });

  await attempt('getTransaction without maxSupportedTransactionVersion', async () => {
    let error = null;
    try {
      await connection.getTransaction(transfer, { commitment: COMMITMENT });
    } catch (e) {
      error = e;
    }
    check(error instanceof SolanaJSONRPCError && error.code === -32015, `error = ${error?.code} ${error?.message}`);
  });

  await attempt('getSignaturesForAddress (loaded address)', async () => {
    const list = await connection.getSignaturesForAddress(loadedRecipient, {}, COMMITMENT);
    check(list.length === 1 && list[0].signature === transfer, `signatures = ${short(list)}`);
  });

  await attempt('bad lookup index (preflight)', async () => {
    const { blockhash } = await connection.getLatestBlockhash(COMMITMENT);
    const message = new TransactionMessage({ payerKey: payer.publicKey, recentBlockhash: blockhash, instructions: [transferIx] }).compileToV0Message([
      table,
    ]);
    message.addressTableLookups[0].writableIndexes = [200];
    const tx = new VersionedTransaction(message);
    tx.sign([payer]);
    let error = null;
    try {
      await connection.sendTransaction(tx);
    } catch (e) {
      error = e;
    }
    summary.badIndexError = error?.message ?? null;
    check(error?.message?.includes('invalid transaction: Transaction address table lookup uses an invalid index'), `error = ${error?.message}`);
  });

  return summary;
});
