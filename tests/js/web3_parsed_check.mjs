// What wallets and explorers built on @solana/web3.js v1 ask a node for:
// jsonParsed transactions (getParsedTransaction), parsed token accounts
// (getParsedTokenAccountsByOwner, getParsedAccountInfo) and blocks (getBlock,
// getParsedBlock), with the SPL Token program driven by @solana/spl-token.
// Every expectation is the shape solana-test-validator answers with.
//
//   node web3_parsed_check.mjs RPC_URL [WS_URL]      (see harness.mjs)

import {
  ASSOCIATED_TOKEN_PROGRAM_ID,
  createMint,
  getAssociatedTokenAddressSync,
  getOrCreateAssociatedTokenAccount,
  mintTo,
  TOKEN_PROGRAM_ID,
  transferChecked,
} from '@solana/spl-token';
import {
  Connection,
  Keypair,
  LAMPORTS_PER_SOL,
  PublicKey,
  SolanaJSONRPCError,
  sendAndConfirmTransaction,
  SystemProgram,
  Transaction,
  TransactionInstruction,
} from '@solana/web3.js';

import { check, packageVersion, run, sameJson, short, web3Options } from './harness.mjs';
import { devKeypairBytes, mirrorLife, PROGRAM_ID } from './mirror_idl.mjs';

const COMMITMENT = 'confirmed';
const MEMO_PROGRAM_ID = new PublicKey('MemoSq4gqABAXKb96qnH8TysNcWxMyWCqXgDLGmfcHr');
const TRANSFER_LAMPORTS = 10_000_000;
const DECIMALS = 6;

const b58 = (key) => (typeof key === 'string' ? key : key.toBase58());

run(
  'web3_parsed_check',
  { '@solana/web3.js': packageVersion('@solana/web3.js'), '@solana/spl-token': packageVersion('@solana/spl-token') },
  async (ctx) => {
    const { step, attempt, summary } = ctx;
    const connection = new Connection(ctx.rpcUrl, web3Options(ctx, COMMITMENT));
    const payer = Keypair.generate();
    const recipient = Keypair.generate().publicKey;
    const holder = Keypair.generate();
    const mintAuthority = Keypair.generate();

    await step('requestAirdrop', async () => {
      const { blockhash, lastValidBlockHeight } = await connection.getLatestBlockhash(COMMITMENT);
      const signature = await connection.requestAirdrop(payer.publicKey, 5 * LAMPORTS_PER_SOL);
      const { value } = await connection.confirmTransaction({ signature, blockhash, lastValidBlockHeight }, COMMITMENT);
      check(value.err === null, `airdrop: ${short(value.err)}`);
    });

    // The whole mirror life through web3.js v1, instructions built from the IDL.
    summary.mirrorLife = await attempt('mirror life (web3.js v1)', async () => {
      const trainer = Keypair.fromSecretKey(devKeypairBytes('trainer'));
      const creator = Keypair.generate();
      const grantee = Keypair.generate();
      for (const who of [creator, grantee]) {
        await sendAndConfirmTransaction(
          connection,
          new Transaction().add(SystemProgram.transfer({ fromPubkey: payer.publicKey, toPubkey: who.publicKey, lamports: LAMPORTS_PER_SOL })),
          [payer],
          { commitment: COMMITMENT },
        );
      }
      const signers = { creator, grantee, trainer };
      const programId = new PublicKey(PROGRAM_ID);
      return mirrorLife(
        {
          addresses: { creator: creator.publicKey.toBase58(), grantee: grantee.publicKey.toBase58(), trainer: trainer.publicKey.toBase58() },
          pda: async (seeds) => PublicKey.findProgramAddressSync(seeds, programId)[0].toBase58(),
          send: async (name, data, metas, signer) => {
            const tx = new Transaction().add(
              new TransactionInstruction({
                programId,
                keys: metas.map((m) => ({ pubkey: new PublicKey(m.address), isSigner: m.signer, isWritable: m.writable })),
                data: Buffer.from(data),
              }),
            );
            const signature = await sendAndConfirmTransaction(connection, tx, [signers[signer]], { commitment: COMMITMENT });
            const landed = await connection.getTransaction(signature, { commitment: COMMITMENT, maxSupportedTransactionVersion: 0 });
            return { signature, logs: landed.meta.logMessages };
          },
          accountData: async (address) => (await connection.getAccountInfo(new PublicKey(address), COMMITMENT))?.data ?? null,
        },
        ctx.stage,
      );
    });

    await attempt('getParsedTransaction (the Mirror program: partially decoded, or parsed from the IDL)', async () => {
      const signature = summary.mirrorLife?.createMirror;
      check(signature, 'no create_mirror transaction (the mirror life failed)');
      const tx = await connection.getParsedTransaction(signature, { commitment: COMMITMENT, maxSupportedTransactionVersion: 0 });
      const [ix] = tx.transaction.message.instructions;
      check(ix.programId.toBase58() === PROGRAM_ID, `programId = ${ix.programId}`);
      if ('parsed' in ix) {
        // Issue #10 point 5: the program's own instructions parsed from its IDL.
        check(ix.program === 'mirror' && ix.parsed?.type === 'createMirror', `parsed = ${short(ix)}`);
        check(ix.parsed.info.name === 'Ada' && ix.parsed.info.visibility === 'Private', `parsed info = ${short(ix.parsed.info)}`);
      } else {
        // Agave for a program it has no parser for: accounts and base58 data.
        check(Array.isArray(ix.accounts) && ix.accounts.length === 4 && typeof ix.data === 'string', `partially decoded = ${short(ix)}`);
      }
    });

    const memo = `parsed check ${Date.now()}`;
    const sentTransfer = await step('send transfer + memo', async () => {
      const tx = new Transaction().add(
        SystemProgram.transfer({ fromPubkey: payer.publicKey, toPubkey: recipient, lamports: TRANSFER_LAMPORTS }),
        new TransactionInstruction({
          programId: MEMO_PROGRAM_ID,
          keys: [{ pubkey: payer.publicKey, isSigner: true, isWritable: false }],
          data: Buffer.from(memo, 'utf8'),
        }),
      );
      const signature = await sendAndConfirmTransaction(connection, tx, [payer], { commitment: COMMITMENT });
      const plain = await connection.getTransaction(signature, { commitment: COMMITMENT, maxSupportedTransactionVersion: 0 });
      return { signature, slot: plain.slot, blockTime: plain.blockTime };
    });
    const transfer = sentTransfer.signature;
    summary.transfer = transfer;

    await attempt('getParsedTransaction (system transfer + memo)', async () => {
      const tx = await connection.getParsedTransaction(transfer, { commitment: COMMITMENT, maxSupportedTransactionVersion: 0 });
      check(tx !== null, `getParsedTransaction(${transfer}) = null`);
      check(tx.version === 'legacy', `version = ${short(tx.version)}`);
      check(tx.transaction.signatures[0] === transfer, `signatures = ${short(tx.transaction.signatures)}`);
      const keys = tx.transaction.message.accountKeys;
      check(
        keys.length === 4 && keys.every((k) => k.pubkey instanceof PublicKey && typeof k.signer === 'boolean'),
        `accountKeys are not ParsedMessageAccount objects: ${short(keys)}`,
      );
      check(keys[0].pubkey.equals(payer.publicKey) && keys[0].signer && keys[0].writable, `accountKeys[0] = ${short(keys[0])}`);
      check(keys.every((k) => k.source === 'transaction'), `accountKeys[].source = ${short(keys.map((k) => k.source))}`);
      const [system, memoIx] = tx.transaction.message.instructions;
      check(system.program === 'system' && system.programId.equals(SystemProgram.programId), `instruction 0 = ${short(system)}`);
      check(system.parsed?.type === 'transfer', `instruction 0 parsed.type = ${short(system.parsed)}`);
      const info = system.parsed.info;
      check(
        info.source === payer.publicKey.toBase58() && info.destination === recipient.toBase58() && info.lamports === TRANSFER_LAMPORTS,
        `transfer info = ${short(info)}`,
      );
      check(memoIx.program === 'spl-memo' && memoIx.parsed === memo, `instruction 1 = ${short(memoIx)}`);
      const { meta } = tx;
      check(meta.err === null && meta.fee === 5000, `meta err/fee = ${short([meta.err, meta.fee])}`);
      check(short(meta.innerInstructions) === '[]', `meta.innerInstructions = ${short(meta.innerInstructions)}`);
      check(short(meta.preTokenBalances) === '[]' && short(meta.postTokenBalances) === '[]', `token balances of a SOL transfer`);
      check(meta.postBalances[1] - meta.preBalances[1] === TRANSFER_LAMPORTS, `recipient balance moved by ${meta.postBalances[1] - meta.preBalances[1]}`);
      check(tx.slot === sentTransfer.slot && tx.blockTime === sentTransfer.blockTime, `slot/blockTime = ${tx.slot}/${tx.blockTime}`);
    });

    const mint = await step('spl-token createMint', async () =>
      createMint(connection, payer, mintAuthority.publicKey, null, DECIMALS, undefined, { commitment: COMMITMENT }),
    );
    summary.mint = mint.toBase58();

    const holderAta = await step('spl-token getOrCreateAssociatedTokenAccount', async () => {
      const account = await getOrCreateAssociatedTokenAccount(connection, payer, mint, holder.publicKey, false, COMMITMENT);
      check(account.address.equals(getAssociatedTokenAddressSync(mint, holder.publicKey)), `ATA address ${account.address}`);
      check(account.owner.equals(holder.publicKey) && account.amount === 0n, `new ATA = ${short(account)}`);
      return account.address;
    });

    const minted = await step('spl-token mintTo', async () =>
      mintTo(connection, payer, mint, holderAta, mintAuthority, 5_000_000n, [], { commitment: COMMITMENT }),
    );

    await attempt('getParsedTransaction (spl-token mintTo)', async () => {
      const tx = await connection.getParsedTransaction(minted, { commitment: COMMITMENT, maxSupportedTransactionVersion: 0 });
      check(tx !== null, `getParsedTransaction(${minted}) = null`);
      const [ix] = tx.transaction.message.instructions;
      check(ix.program === 'spl-token' && ix.programId.equals(TOKEN_PROGRAM_ID), `mintTo instruction = ${short(ix)}`);
      check(ix.parsed.type === 'mintTo', `parsed.type = ${ix.parsed.type}`);
      check(
        ix.parsed.info.mint === mint.toBase58() &&
          ix.parsed.info.account === holderAta.toBase58() &&
          ix.parsed.info.mintAuthority === mintAuthority.publicKey.toBase58() &&
          ix.parsed.info.amount === '5000000',
        `mintTo info = ${short(ix.parsed.info)}`,
      );
      const post = tx.meta.postTokenBalances;
      check(post.length === 1, `postTokenBalances = ${short(post)}`);
      check(
        post[0].mint === mint.toBase58() &&
          post[0].owner === holder.publicKey.toBase58() &&
          post[0].programId === TOKEN_PROGRAM_ID.toBase58() &&
          post[0].uiTokenAmount.amount === '5000000' &&
          post[0].uiTokenAmount.decimals === DECIMALS &&
          post[0].uiTokenAmount.uiAmountString === '5',
        `postTokenBalances[0] = ${short(post[0])}`,
      );
      const pre = tx.meta.preTokenBalances;
      check(pre.length === 1 && pre[0].uiTokenAmount.amount === '0', `preTokenBalances = ${short(pre)}`);
    });

    const receiver = Keypair.generate();
    const sent = await step('spl-token transferChecked (to a new ATA)', async () => {
      const to = await getOrCreateAssociatedTokenAccount(connection, payer, mint, receiver.publicKey, false, COMMITMENT);
      return transferChecked(connection, payer, holderAta, mint, to.address, holder, 1_250_000n, DECIMALS, [], {
        commitment: COMMITMENT,
      });
    });

    await attempt('getParsedTransaction (spl-token transferChecked)', async () => {
      const tx = await connection.getParsedTransaction(sent, { commitment: COMMITMENT, maxSupportedTransactionVersion: 0 });
      const [ix] = tx.transaction.message.instructions;
      check(ix.program === 'spl-token' && ix.parsed.type === 'transferChecked', `instruction = ${short(ix)}`);
      const { info } = ix.parsed;
      check(info.authority === holder.publicKey.toBase58() && info.source === holderAta.toBase58(), `transferChecked info = ${short(info)}`);
      check(
        sameJson(info.tokenAmount, { amount: '1250000', decimals: DECIMALS, uiAmount: 1.25, uiAmountString: '1.25' }),
        `transferChecked tokenAmount = ${short(info.tokenAmount)}`,
      );
      const amounts = Object.fromEntries(tx.meta.postTokenBalances.map((b) => [b.owner, b.uiTokenAmount.amount]));
      check(
        amounts[holder.publicKey.toBase58()] === '3750000' && amounts[receiver.publicKey.toBase58()] === '1250000',
        `postTokenBalances by owner = ${short(amounts)}`,
      );
    });

    await attempt('getParsedTransaction (ATA create)', async () => {
      const history = await connection.getSignaturesForAddress(getAssociatedTokenAddressSync(mint, receiver.publicKey));
      const created = history[history.length - 1].signature;
      const tx = await connection.getParsedTransaction(created, { commitment: COMMITMENT, maxSupportedTransactionVersion: 0 });
      const [ix] = tx.transaction.message.instructions;
      check(ix.program === 'spl-associated-token-account' && b58(ix.programId) === ASSOCIATED_TOKEN_PROGRAM_ID.toBase58(), `ATA instruction = ${short(ix)}`);
      check(['create', 'createIdempotent'].includes(ix.parsed.type), `ATA parsed.type = ${ix.parsed.type}`);
      // The ATA program's CPIs (system createAccount, token initializeAccount3...) are parsed inner instructions.
      const inner = tx.meta.innerInstructions.flatMap((group) => group.instructions);
      check(inner.length > 0 && inner.every((i) => 'parsed' in i), `innerInstructions = ${short(tx.meta.innerInstructions)}`);
      check(
        inner.some((i) => i.program === 'spl-token' && i.parsed.type.startsWith('initializeAccount')),
        `no parsed initializeAccount among the inner instructions: ${short(inner.map((i) => [i.program, i.parsed?.type]))}`,
      );
    });

    await attempt('getParsedTokenAccountsByOwner', async () => {
      const byMint = await connection.getParsedTokenAccountsByOwner(holder.publicKey, { mint }, COMMITMENT);
      check(byMint.context.slot > 0 && byMint.value.length === 1, `by mint = ${short(byMint)}`);
      const [{ pubkey, account }] = byMint.value;
      check(pubkey.equals(holderAta), `pubkey = ${pubkey}`);
      check(account.owner.equals(TOKEN_PROGRAM_ID) && account.executable === false, `account = ${short(account)}`);
      const { data } = account;
      check(data.program === 'spl-token' && data.space === 165 && data.parsed.type === 'account', `data = ${short(data)}`);
      const { info } = data.parsed;
      check(
        info.mint === mint.toBase58() && info.owner === holder.publicKey.toBase58() && info.state === 'initialized' && info.isNative === false,
        `info = ${short(info)}`,
      );
      check(
        sameJson(info.tokenAmount, { amount: '3750000', decimals: DECIMALS, uiAmount: 3.75, uiAmountString: '3.75' }),
        `tokenAmount = ${short(info.tokenAmount)}`,
      );
      const byProgram = await connection.getParsedTokenAccountsByOwner(holder.publicKey, { programId: TOKEN_PROGRAM_ID }, COMMITMENT);
      check(byProgram.value.length === 1 && byProgram.value[0].pubkey.equals(holderAta), `by program = ${short(byProgram.value)}`);
      const none = await connection.getParsedTokenAccountsByOwner(payer.publicKey, { mint }, COMMITMENT);
      check(none.value.length === 0, `the payer holds no token account, got ${short(none.value)}`);
      let error = null;
      try {
        await connection.getParsedTokenAccountsByOwner(holder.publicKey, { mint: Keypair.generate().publicKey }, COMMITMENT);
      } catch (e) {
        error = e;
      }
      // Agave: -32602 "Error getting token program id and mint: Invalid param: could not find mint".
      check(error instanceof SolanaJSONRPCError && error.code === -32602, `unknown mint: ${error?.code} ${error?.message}`);
      check(error.message.includes('could not find mint'), `unknown mint message = ${error.message}`);
    });

    await attempt('getParsedAccountInfo (mint)', async () => {
      const { value } = await connection.getParsedAccountInfo(mint, COMMITMENT);
      check(value.data.program === 'spl-token' && value.data.parsed.type === 'mint' && value.data.space === 82, `mint = ${short(value)}`);
      const { info } = value.data.parsed;
      check(
        info.decimals === DECIMALS &&
          info.supply === '5000000' &&
          info.isInitialized === true &&
          info.mintAuthority === mintAuthority.publicKey.toBase58() &&
          info.freezeAuthority === null,
        `mint info = ${short(info)}`,
      );
    });

    const block = await attempt('getBlock (full)', async () => {
      const { slot } = sentTransfer;
      const b = await connection.getBlock(slot, { commitment: COMMITMENT, maxSupportedTransactionVersion: 0 });
      check(b !== null, `getBlock(${slot}) = null`);
      check(typeof b.blockhash === 'string' && typeof b.previousBlockhash === 'string', `blockhash/previous = ${short([b.blockhash, b.previousBlockhash])}`);
      check(b.blockhash !== b.previousBlockhash, `blockhash equals previousBlockhash`);
      check(b.parentSlot < slot, `parentSlot ${b.parentSlot} not below slot ${slot}`);
      check(b.blockTime === sentTransfer.blockTime, `block blockTime ${b.blockTime} != transaction blockTime ${sentTransfer.blockTime}`);
      check(typeof b.blockHeight === 'number' && b.blockHeight > 0, `blockHeight = ${b.blockHeight}`);
      const entry = b.transactions.find((t) => t.transaction.signatures[0] === transfer);
      check(entry, `getBlock(${slot}) lacks the transfer: ${short(b.transactions.map((t) => t.transaction.signatures[0]))}`);
      check(entry.version === 'legacy' && entry.meta.fee === 5000 && entry.meta.err === null, `block entry = ${short(entry.meta)}`);
      const keys = entry.transaction.message.staticAccountKeys.map((k) => k.toBase58());
      check(keys[0] === payer.publicKey.toBase58() && keys.includes(recipient.toBase58()), `block entry keys = ${short(keys)}`);
      check(Array.isArray(b.rewards), `rewards = ${short(b.rewards)}`);
      summary.blockSlot = slot;
      summary.blockTransactions = b.transactions.length;
      return b;
    });

    await attempt('getBlock (parent links)', async () => {
      const parent = await connection.getBlock(block.parentSlot, { commitment: COMMITMENT, maxSupportedTransactionVersion: 0 });
      check(parent !== null, `getBlock(parentSlot ${block.parentSlot}) = null`);
      check(parent.blockhash === block.previousBlockhash, `parent blockhash ${parent.blockhash} != previousBlockhash ${block.previousBlockhash}`);
      check(parent.blockHeight === block.blockHeight - 1, `parent blockHeight ${parent.blockHeight}, child ${block.blockHeight}`);
    });

    await attempt('getBlockSignatures / getBlock (transactionDetails none, accounts)', async () => {
      const slot = sentTransfer.slot;
      // web3.js v1 asks for transactionDetails "signatures" (rewards false) through getBlockSignatures.
      const sigs = await connection.getBlockSignatures(slot, COMMITMENT);
      check(Array.isArray(sigs.signatures) && sigs.signatures.includes(transfer), `signatures = ${short(sigs)}`);
      check(sigs.signatures.length === summary.blockTransactions && sigs.transactions === undefined, `signatures view = ${short(sigs)}`);
      check(sigs.rewards === undefined, `rewards present with rewards:false: ${short(sigs.rewards)}`);
      const none = await connection.getBlock(slot, { commitment: COMMITMENT, transactionDetails: 'none' });
      check(none.blockhash === block.blockhash && none.transactions === undefined && none.signatures === undefined, `none view = ${short(none)}`);
      const accounts = await connection.getBlock(slot, { commitment: COMMITMENT, transactionDetails: 'accounts', maxSupportedTransactionVersion: 0 });
      const entry = accounts.transactions.find((t) => t.transaction.signatures[0] === transfer);
      check(entry && entry.transaction.accountKeys[0].pubkey.equals(payer.publicKey), `accounts view = ${short(entry)}`);
    });

    await attempt('getParsedBlock', async () => {
      const b = await connection.getParsedBlock(sentTransfer.slot, { commitment: COMMITMENT, maxSupportedTransactionVersion: 0 });
      const entry = b.transactions.find((t) => t.transaction.signatures[0] === transfer);
      check(entry, `getParsedBlock lacks the transfer`);
      check(entry.transaction.message.instructions[0].parsed?.type === 'transfer', `parsed block instruction = ${short(entry.transaction.message.instructions[0])}`);
    });

    await attempt('getBlock (slot not produced yet)', async () => {
      const future = (await connection.getSlot(COMMITMENT)) + 1_000_000;
      let error = null;
      try {
        await connection.getBlock(future, { commitment: COMMITMENT, maxSupportedTransactionVersion: 0 });
      } catch (e) {
        error = e;
      }
      // Agave: RpcCustomError::BlockNotAvailable, -32004 "Block not available for slot N".
      check(error instanceof SolanaJSONRPCError && error.code === -32004, `getBlock(future): ${error?.code} ${error?.message}`);
      check(error.message.includes(`Block not available for slot ${future}`), `message = ${error.message}`);
    });

    return summary;
  },
);
