// @solana/kit against a lookup table that already exists (alt_check.mjs made
// it): a v0 transfer compressed with
// compressTransactionMessageUsingAddressLookupTables, sent as base64 through
// kit's typed RPC, then read back with getTransaction (json and jsonParsed),
// the shapes solana-test-validator answers with.
//
//   MIRROR_ALT_TABLE=<table> MIRROR_ALT_ADDRESSES=<a,b,...> node kit_alt_check.mjs RPC_URL [WS_URL]

import {
  AccountRole,
  address,
  appendTransactionMessageInstructions,
  compressTransactionMessageUsingAddressLookupTables,
  createSolanaRpc,
  createTransactionMessage,
  generateKeyPairSigner,
  getBase64EncodedWireTransaction,
  getSignatureFromTransaction,
  getU32Encoder,
  getU64Encoder,
  lamports,
  pipe,
  setTransactionMessageFeePayerSigner,
  setTransactionMessageLifetimeUsingBlockhash,
  signTransactionMessageWithSigners,
} from '@solana/kit';

import { check, eventually, fail, packageVersion, run, short } from './harness.mjs';

const COMMITMENT = 'confirmed';
const SYSTEM = address('11111111111111111111111111111111');
const TRANSFER = 3_000_000n;

run('kit_alt_check', { '@solana/kit': packageVersion('@solana/kit') }, async (ctx) => {
  const { step, attempt, summary } = ctx;
  const table = process.env.MIRROR_ALT_TABLE || fail('MIRROR_ALT_TABLE is not set');
  const addresses = (process.env.MIRROR_ALT_ADDRESSES || fail('MIRROR_ALT_ADDRESSES is not set')).split(',').map(address);
  const recipient = addresses[0];
  const rpc = createSolanaRpc(ctx.rpcUrl);
  const payer = await generateKeyPairSigner();

  await step('requestAirdrop', async () => {
    const signature = await rpc.requestAirdrop(payer.address, lamports(1_000_000_000n), { commitment: COMMITMENT }).send();
    await eventually(async () => (await rpc.getSignatureStatuses([signature]).send()).value[0]?.confirmationStatus, 10_000, 'the airdrop');
  });

  const signature = await step('v0 transfer compressed with the table', async () => {
    const { value: latest } = await rpc.getLatestBlockhash({ commitment: COMMITMENT }).send();
    const transfer = {
      programAddress: SYSTEM,
      accounts: [
        { address: payer.address, role: AccountRole.WRITABLE_SIGNER, signer: payer },
        { address: recipient, role: AccountRole.WRITABLE },
      ],
      data: new Uint8Array([...getU32Encoder().encode(2), ...getU64Encoder().encode(TRANSFER)]),
    };
    const message = pipe(
      createTransactionMessage({ version: 0 }),
      (m) => setTransactionMessageFeePayerSigner(payer, m),
      (m) => setTransactionMessageLifetimeUsingBlockhash(latest, m),
      (m) => appendTransactionMessageInstructions([transfer], m),
      (m) => compressTransactionMessageUsingAddressLookupTables(m, { [table]: addresses }),
    );
    const lookup = message.instructions[0].accounts[1];
    check(lookup.lookupTableAddress === table, `not compressed: ${short(lookup)}`);
    const tx = await signTransactionMessageWithSigners(message);
    const sent = await rpc.sendTransaction(getBase64EncodedWireTransaction(tx), { encoding: 'base64', preflightCommitment: COMMITMENT }).send();
    check(sent === getSignatureFromTransaction(tx), `sendTransaction returned ${sent}`);
    await eventually(async () => (await rpc.getSignatureStatuses([sent]).send()).value[0]?.confirmationStatus, 10_000, 'the transfer');
    return sent;
  });
  summary.signature = signature;

  await attempt('getTransaction json (loadedAddresses)', async () => {
    const got = await rpc.getTransaction(signature, { commitment: COMMITMENT, encoding: 'json', maxSupportedTransactionVersion: 0 }).send();
    check(got?.version === 0, `version = ${got?.version}`);
    check(got.meta.loadedAddresses.writable[0] === recipient, `loadedAddresses = ${short(got.meta.loadedAddresses)}`);
    check(got.transaction.message.addressTableLookups[0].accountKey === table, `lookups = ${short(got.transaction.message.addressTableLookups)}`);
    const index = got.transaction.message.accountKeys.length;
    check(got.meta.postBalances[index] - got.meta.preBalances[index] === TRANSFER, `balances = ${short(got.meta)}`);
  });

  await attempt('getTransaction jsonParsed (lookupTable source)', async () => {
    const got = await rpc.getTransaction(signature, { commitment: COMMITMENT, encoding: 'jsonParsed', maxSupportedTransactionVersion: 0 }).send();
    const key = got.transaction.message.accountKeys.find((k) => k.pubkey === recipient);
    check(key?.source === 'lookupTable' && key.writable === true, `accountKeys = ${short(got.transaction.message.accountKeys)}`);
  });

  return summary;
});
