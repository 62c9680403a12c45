// Drives a whole mirror life on a Solana node with the Anchor TS client
// (@coral-xyz/anchor, the version the program is built with) loaded with the
// committed IDL, the way a dApp would: program.methods.<ix>(...).rpc() with
// Anchor resolving the PDAs (the job's seed from the mirror's job_count
// included), program.account.<type>.fetch/all (memcmp), account.subscribe,
// .simulate(), program.addEventListener and AnchorError for a refused
// instruction.
//
//   node anchor_check.mjs RPC_URL [WS_URL]      (see harness.mjs)

import { readFileSync } from 'node:fs';

import anchor from '@coral-xyz/anchor';
import { Connection, Keypair, LAMPORTS_PER_SOL, PublicKey } from '@solana/web3.js';

import { check, eventually, packageVersion, run, short, subscriptionAcknowledged, withTimeout, web3Options } from './harness.mjs';

const { AnchorError, AnchorProvider, BN, Program, Wallet } = anchor;

const COMMITMENT = 'confirmed';
const NOTIFICATION_TIMEOUT_MS = 15_000;
const IDL = JSON.parse(readFileSync(new URL('../../idl/mirror.json', import.meta.url), 'utf8'));
const DATASET_CID = 'bafkreigh2akiscaildcqabsyg3dfr6chu3fgpregiymsck7e7aqa4s52zy';
const MODEL_CID = 'bafkreidvbhs33ighmljlvr7zbv2ywwzcmp5adtf4kqvlly67cy56bdtmve';
const MANAGE = 8;
const TRAIN = 4;
const EVENTS = ['trainerRegistered', 'mirrorCreated', 'accessGranted', 'trainRequested', 'trainingStarted', 'trainingCompleted', 'modelPublished'];

function devKeypair(name) {
  const path = new URL(`../../keys/dev/localnet-${name}-keypair.json`, import.meta.url);
  return Keypair.fromSecretKey(Uint8Array.from(JSON.parse(readFileSync(path, 'utf8'))));
}

function pda(...seeds) {
  return PublicKey.findProgramAddressSync(seeds, new PublicKey(IDL.address))[0];
}

function u64le(n) {
  const b = Buffer.alloc(8);
  b.writeBigUInt64LE(BigInt(n));
  return b;
}

function u32le(n) {
  const b = Buffer.alloc(4);
  b.writeUInt32LE(n);
  return b;
}

const eq = (a, b) => a.toBase58() === b.toBase58();
const variant = (value) => Object.keys(value ?? {}).join(',');

/** Anchor events from one listener per name, by transaction signature. */
class EventInbox {
  constructor(program) {
    this.program = program;
    this.bySignature = new Map();
    this.listeners = [];
    for (const name of EVENTS) {
      this.listeners.push(
        program.addEventListener(name, (event, slot, signature) => {
          const list = this.bySignature.get(signature) ?? [];
          list.push({ name, event, slot });
          this.bySignature.set(signature, list);
        }),
      );
    }
  }
  /** Waits until the server acknowledged the logsSubscribe Anchor sent for the listeners. */
  async subscribed(connection) {
    const id = this.program._events?._onLogsSubscriptionId;
    if (id === undefined) return;
    const what = 'the logsSubscribe behind program.addEventListener to be acknowledged';
    await subscriptionAcknowledged(connection, id, NOTIFICATION_TIMEOUT_MS, what);
  }
  async one(signature, name) {
    const list = await eventually(
      () => this.bySignature.get(signature),
      NOTIFICATION_TIMEOUT_MS,
      `a ${name} event from ${signature} through program.addEventListener`,
    );
    const found = list.filter((e) => e.name === name);
    check(found.length === 1, `expected one ${name} event in ${signature}, got ${short(list.map((e) => e.name))}`);
    check(found[0].slot > 0, `${name} event slot = ${found[0].slot}`);
    return found[0].event;
  }
  async close() {
    for (const id of this.listeners) await this.program.removeEventListener(id);
  }
}

run('anchor_check', { '@coral-xyz/anchor': packageVersion('@coral-xyz/anchor') }, async (ctx) => {
  const { step, summary } = ctx;
  const connection = new Connection(ctx.rpcUrl, web3Options(ctx, COMMITMENT));
  const programFor = (keypair) =>
    new Program(IDL, new AnchorProvider(connection, new Wallet(keypair), { commitment: COMMITMENT, preflightCommitment: COMMITMENT }));

  const admin = devKeypair('admin');
  const trainer = devKeypair('trainer');
  const creator = Keypair.generate();
  const grantee = Keypair.generate();
  const asCreator = programFor(creator);
  const asGrantee = programFor(grantee);
  const asTrainer = programFor(trainer);
  const asAdmin = programFor(admin);
  const programId = asCreator.programId;
  check(programId.toBase58() === IDL.address, `program id ${programId.toBase58()} is not the IDL's ${IDL.address}`);
  summary.programId = programId.toBase58();

  const config = pda(Buffer.from('config'));
  const trainerAccount = pda(Buffer.from('trainer'), trainer.publicKey.toBuffer());
  const mirrorId = 1;
  const mirror = pda(Buffer.from('mirror'), creator.publicKey.toBuffer(), u64le(mirrorId));
  const grant = pda(Buffer.from('grant'), mirror.toBuffer(), grantee.publicKey.toBuffer());
  const job = pda(Buffer.from('job'), mirror.toBuffer(), u64le(0));
  const model = pda(Buffer.from('model'), mirror.toBuffer(), u32le(1));

  await step('fund creator and grantee', async () => {
    for (const who of [creator, grantee]) {
      const { blockhash, lastValidBlockHeight } = await connection.getLatestBlockhash(COMMITMENT);
      const signature = await connection.requestAirdrop(who.publicKey, 5 * LAMPORTS_PER_SOL);
      const { value } = await connection.confirmTransaction({ signature, blockhash, lastValidBlockHeight }, COMMITMENT);
      check(value.err === null, `airdrop ${signature}: ${short(value.err)}`);
    }
  });

  await step('account.config.fetch / account.trainer.fetch (bootstrap)', async () => {
    const state = await asCreator.account.config.fetch(config);
    check(eq(state.admin, admin.publicKey), `config.admin = ${state.admin.toBase58()}, expected the dev admin`);
    check(state.paused === false, `config.paused = ${state.paused}`);
    check(BN.isBN(state.mirrorCount), `config.mirrorCount is not a BN: ${short(state.mirrorCount)}`);
    summary.mirrorCountBefore = state.mirrorCount.toNumber();
    const registered = await asCreator.account.trainer.fetch(trainerAccount);
    check(eq(registered.authority, trainer.publicKey), `trainer.authority = ${registered.authority.toBase58()}`);
    check(registered.active === true, `the dev trainer is not active`);
  });

  const inbox = await step('program.addEventListener', async () => {
    const events = new EventInbox(asCreator);
    await events.subscribed(connection);
    return events;
  });

  summary.registerTrainer = await step('methods.registerTrainer.rpc (dev admin)', async () => {
    // The admin comes from config.admin (relations), the trainer PDA from the authority argument.
    const authority = Keypair.generate().publicKey;
    const encryptionKey = Array.from({ length: 32 }, (_, i) => 255 - i);
    const signature = await asAdmin.methods.registerTrainer(authority, encryptionKey).rpc();
    const event = await inbox.one(signature, 'trainerRegistered');
    const address = pda(Buffer.from('trainer'), authority.toBuffer());
    check(eq(event.trainer, address) && eq(event.authority, authority), `trainerRegistered ${short(event)}`);
    check(short(event.encryptionKey) === short(encryptionKey), `trainerRegistered.encryptionKey ${short(event.encryptionKey)}`);
    const state = await asAdmin.account.trainer.fetch(address);
    check(state.active === true && short(state.encryptionKey) === short(encryptionKey), `new trainer ${short(state)}`);
    const trainers = await asAdmin.account.trainer.all();
    check(trainers.some((t) => eq(t.publicKey, trainerAccount)) && trainers.some((t) => eq(t.publicKey, address)), `account.trainer.all() ${short(trainers.map((t) => t.publicKey))}`);
    const cfg = await asAdmin.account.config.fetch(config);
    summary.trainerCount = cfg.trainerCount.toNumber();
    return signature;
  });

  const mirrorChanges = [];
  await step('account.mirror.subscribe', async () => {
    asCreator.account.mirror.subscribe(mirror, COMMITMENT).on('change', (state) => mirrorChanges.push(state));
  });

  await step('methods.createMirror.simulate', async () => {
    // Anchor simulates and decodes the events from the simulation's logs.
    const sim = await asCreator.methods
      .createMirror(new BN(mirrorId), 'Ada', 'ipfs://ada', { private: {} })
      .accounts({ creator: creator.publicKey })
      .simulate();
    const names = sim.events.map((e) => e.name);
    check(short(names) === short(['mirrorCreated']), `simulate() events = ${short(names)}`);
    check(sim.raw.some((line) => line.startsWith('Program data: ')), `simulate() logs lack "Program data:" ${short(sim.raw)}`);
    // Nothing landed.
    check((await connection.getAccountInfo(mirror, COMMITMENT)) === null, `simulate() created the mirror`);
  });

  summary.createMirror = await step('methods.createMirror.rpc', async () => {
    const signature = await asCreator.methods
      .createMirror(new BN(mirrorId), 'Ada', 'ipfs://ada', { private: {} })
      .accounts({ creator: creator.publicKey })
      .rpc();
    const event = await inbox.one(signature, 'mirrorCreated');
    check(eq(event.mirror, mirror), `mirrorCreated.mirror = ${event.mirror.toBase58()}, expected the PDA ${mirror.toBase58()}`);
    check(eq(event.owner, creator.publicKey) && eq(event.creator, creator.publicKey), `mirrorCreated owner/creator ${short(event)}`);
    check(event.mirrorId.toNumber() === mirrorId, `mirrorCreated.mirrorId = ${event.mirrorId}`);
    check(event.name === 'Ada' && event.metadataUri === 'ipfs://ada', `mirrorCreated name/uri ${short(event)}`);
    check(variant(event.visibility) === 'private', `mirrorCreated.visibility = ${short(event.visibility)}`);
    check(event.timestamp.toNumber() > 1_600_000_000, `mirrorCreated.timestamp = ${event.timestamp}`);

    const state = await asCreator.account.mirror.fetch(mirror);
    check(eq(state.owner, creator.publicKey) && state.name === 'Ada', `mirror ${short(state)}`);
    check(variant(state.status) === 'active' && variant(state.visibility) === 'private', `mirror status/visibility ${short(state)}`);
    check(state.modelVersion === 0 && state.jobCount.toNumber() === 0, `mirror modelVersion/jobCount ${short(state)}`);
    const cfg = await asCreator.account.config.fetch(config);
    check(cfg.mirrorCount.toNumber() === summary.mirrorCountBefore + 1, `config.mirrorCount = ${cfg.mirrorCount}`);
    return signature;
  });

  await step('account.mirror.all (memcmp owner)', async () => {
    // Mirror layout: discriminator(8) creator(32) owner(32) ...
    const mine = await asCreator.account.mirror.all([{ memcmp: { offset: 8 + 32, bytes: creator.publicKey.toBase58() } }]);
    check(mine.length === 1, `account.mirror.all(owner = creator) found ${mine.length}: ${short(mine.map((m) => m.publicKey))}`);
    check(eq(mine[0].publicKey, mirror) && mine[0].account.name === 'Ada', `account.mirror.all -> ${short(mine[0])}`);
    const none = await asCreator.account.mirror.all([{ memcmp: { offset: 8 + 32, bytes: grantee.publicKey.toBase58() } }]);
    check(none.length === 0, `account.mirror.all(owner = grantee) found ${none.length}`);
    const every = await asCreator.account.mirror.all();
    check(every.some((m) => eq(m.publicKey, mirror)), `account.mirror.all() lacks the new mirror`);
    summary.mirrors = every.length;
  });

  summary.grantAccess = await step('methods.grantAccess.rpc', async () => {
    const signature = await asCreator.methods
      .grantAccess(grantee.publicKey, MANAGE | TRAIN, new BN(0))
      .accountsPartial({ mirror })
      .rpc();
    const event = await inbox.one(signature, 'accessGranted');
    check(eq(event.grant, grant) && eq(event.grantee, grantee.publicKey), `accessGranted ${short(event)}`);
    check(event.permissions === (MANAGE | TRAIN) && event.expiresAt.toNumber() === 0, `accessGranted permissions ${short(event)}`);
    check(eq(event.grantedBy, creator.publicKey), `accessGranted.grantedBy = ${event.grantedBy.toBase58()}`);
    const state = await asCreator.account.accessGrant.fetch(grant);
    check(eq(state.mirror, mirror) && state.permissions === (MANAGE | TRAIN), `grant ${short(state)}`);
    return signature;
  });

  summary.requestTraining = await step('methods.requestTraining.rpc (grantee)', async () => {
    const params = { epochs: 1, seqLen: 32, batchSize: 4, learningRateMicros: 1000, startFresh: false };
    // The job PDA's seed is mirror.job_count: Anchor reads the mirror to resolve it.
    const signature = await asGrantee.methods.requestTraining(DATASET_CID, params).accountsPartial({ mirror, grant }).rpc();
    const event = await inbox.one(signature, 'trainRequested');
    check(eq(event.job, job) && event.jobId.toNumber() === 0, `trainRequested job ${short(event)}`);
    check(eq(event.requester, grantee.publicKey) && event.datasetCid === DATASET_CID, `trainRequested ${short(event)}`);
    check(event.params.seqLen === 32 && event.params.learningRateMicros === 1000, `trainRequested.params ${short(event.params)}`);
    const state = await asGrantee.account.trainingJob.fetch(job);
    check(variant(state.status) === 'requested' && eq(state.requester, grantee.publicKey), `job ${short(state)}`);
    check((await asGrantee.account.mirror.fetch(mirror)).jobCount.toNumber() === 1, `mirror.jobCount after the request`);
    const jobs = await asGrantee.account.trainingJob.all([{ memcmp: { offset: 8, bytes: mirror.toBase58() } }]);
    check(jobs.length === 1 && eq(jobs[0].publicKey, job), `account.trainingJob.all(mirror) -> ${short(jobs.map((j) => j.publicKey))}`);
    return signature;
  });

  summary.startTraining = await step('methods.startTraining.rpc (dev trainer)', async () => {
    // mirror comes from the job (relations), trainer from the authority (PDA).
    const signature = await asTrainer.methods.startTraining().accountsPartial({ job }).rpc();
    const event = await inbox.one(signature, 'trainingStarted');
    check(eq(event.trainer, trainer.publicKey) && eq(event.job, job) && eq(event.mirror, mirror), `trainingStarted ${short(event)}`);
    const state = await asTrainer.account.trainingJob.fetch(job);
    check(variant(state.status) === 'running' && eq(state.trainer, trainer.publicKey), `job after start ${short(state)}`);
    check(state.startedAt.toNumber() > 0, `job.startedAt = ${state.startedAt}`);
    return signature;
  });

  await step('methods.startTraining.rpc again -> AnchorError', async () => {
    // The same instruction over the same blockhash would be the same transaction
    // (AlreadyProcessed): wait for the next blockhash.
    const { blockhash } = await connection.getLatestBlockhash(COMMITMENT);
    await eventually(
      async () => (await connection.getLatestBlockhash(COMMITMENT)).blockhash !== blockhash,
      NOTIFICATION_TIMEOUT_MS,
      'a new blockhash',
    );
    let error = null;
    try {
      await asTrainer.methods.startTraining().accountsPartial({ job }).rpc();
    } catch (e) {
      error = e;
    }
    check(error instanceof AnchorError, `a second start did not raise AnchorError: ${error?.constructor?.name} ${error}`);
    check(error.error.errorCode.code === 'InvalidJobTransition', `AnchorError code = ${short(error.error.errorCode)}`);
    check(error.error.errorCode.number === 6023, `AnchorError number = ${error.error.errorCode.number}`);
    check(eq(error.program, programId), `AnchorError.program = ${error.program}`);
    summary.anchorError = error.error.errorCode.code;
  });

  summary.completeTraining = await step('methods.completeTraining.rpc (dev trainer)', async () => {
    const weights = Array.from({ length: 32 }, (_, i) => i);
    const metrics = { finalLossMicros: new BN(1_500_000), tokensTrained: new BN(4096) };
    const signature = await asTrainer.methods.completeTraining(1, MODEL_CID, weights, metrics).accountsPartial({ job }).rpc();
    const completed = await inbox.one(signature, 'trainingCompleted');
    check(completed.version === 1 && completed.modelCid === MODEL_CID, `trainingCompleted ${short(completed)}`);
    check(eq(completed.model, model) && eq(completed.trainer, trainer.publicKey), `trainingCompleted model/trainer ${short(completed)}`);
    check(completed.metrics.tokensTrained.toNumber() === 4096, `trainingCompleted.metrics ${short(completed.metrics)}`);
    const published = await inbox.one(signature, 'modelPublished');
    check(eq(published.model, model) && published.version === 1, `modelPublished ${short(published)}`);
    check(short(published.weightsSha256) === short(weights), `modelPublished.weightsSha256 = ${short(published.weightsSha256)}`);

    const state = await asTrainer.account.modelVersion.fetch(model);
    check(eq(state.mirror, mirror) && eq(state.job, job) && state.modelCid === MODEL_CID, `model ${short(state)}`);
    check(state.metrics.finalLossMicros.toNumber() === 1_500_000, `model.metrics ${short(state.metrics)}`);
    const jobState = await asTrainer.account.trainingJob.fetch(job);
    check(variant(jobState.status) === 'completed' && jobState.modelCid === MODEL_CID, `job after complete ${short(jobState)}`);
    check((await asTrainer.account.mirror.fetch(mirror)).modelVersion === 1, `mirror.modelVersion after complete`);
    return signature;
  });

  await step('account.mirror.subscribe change', async () => {
    const latest = await eventually(
      () => mirrorChanges.find((m) => m.modelVersion === 1),
      NOTIFICATION_TIMEOUT_MS,
      'an accountNotification with the mirror at modelVersion 1',
    );
    check(latest.name === 'Ada' && latest.jobCount.toNumber() === 1, `mirror change ${short(latest)}`);
    summary.mirrorChanges = mirrorChanges.length;
    await asCreator.account.mirror.unsubscribe(mirror);
  });

  await step('removeEventListener', async () => {
    summary.events = [...inbox.bySignature.values()].flat().map((e) => e.name);
    await inbox.close();
  });

  return summary;
});
