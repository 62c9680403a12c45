// The Mirror program seen through its committed IDL (idl/mirror.json) alone, for
// clients that have no Anchor: instruction data (discriminator + Borsh args),
// account metas in the IDL's order with its flags, and Borsh decoding of
// accounts and events. Addresses are base58 strings, so web3.js v1 and
// @solana/kit use the same helpers; each client derives PDAs and sends with
// its own API.

import { readFileSync } from 'node:fs';

export const IDL = JSON.parse(readFileSync(new URL('../../idl/mirror.json', import.meta.url), 'utf8'));
export const PROGRAM_ID = IDL.address;
export const DATASET_CID = 'bafkreigh2akiscaildcqabsyg3dfr6chu3fgpregiymsck7e7aqa4s52zy';
export const MODEL_CID = 'bafkreidvbhs33ighmljlvr7zbv2ywwzcmp5adtf4kqvlly67cy56bdtmve';
export const PARAMS = { epochs: 1, seq_len: 32, batch_size: 4, learning_rate_micros: 1000, start_fresh: false };
export const MANAGE = 8;
export const TRAIN = 4;

const ALPHABET = '123456789ABCDEFGHJKLMNPQRSTUVWXYZabcdefghijkmnopqrstuvwxyz';

export function base58Encode(bytes) {
  let n = 0n;
  for (const b of bytes) n = n * 256n + BigInt(b);
  let out = '';
  while (n > 0n) {
    out = ALPHABET[Number(n % 58n)] + out;
    n /= 58n;
  }
  for (const b of bytes) {
    if (b !== 0) break;
    out = `1${out}`;
  }
  return out;
}

export function base58Decode(text) {
  let n = 0n;
  for (const c of text) {
    const v = ALPHABET.indexOf(c);
    if (v < 0) throw new Error(`not base58: ${text}`);
    n = n * 58n + BigInt(v);
  }
  const bytes = [];
  while (n > 0n) {
    bytes.unshift(Number(n & 0xffn));
    n >>= 8n;
  }
  for (const c of text) {
    if (c !== '1') break;
    bytes.unshift(0);
  }
  return Uint8Array.from(bytes);
}

export function devKeypairBytes(name) {
  const path = new URL(`../../keys/dev/localnet-${name}-keypair.json`, import.meta.url);
  return Uint8Array.from(JSON.parse(readFileSync(path, 'utf8')));
}

const typesByName = new Map(IDL.types.map((t) => [t.name, t.type]));
const INTS = { u8: [1, false], u16: [2, false], u32: [4, false], u64: [8, false], i64: [8, true], i16: [2, true], i32: [4, true] };

function write(type, value, out) {
  if (typeof type === 'string') {
    if (type in INTS) {
      const [size, signed] = INTS[type];
      let n = BigInt(value);
      if (signed && n < 0n) n += 1n << BigInt(8 * size);
      for (let i = 0; i < size; i += 1) {
        out.push(Number(n & 0xffn));
        n >>= 8n;
      }
    } else if (type === 'bool') {
      out.push(value ? 1 : 0);
    } else if (type === 'string') {
      const bytes = new TextEncoder().encode(value);
      write('u32', bytes.length, out);
      out.push(...bytes);
    } else if (type === 'pubkey') {
      const bytes = base58Decode(value);
      if (bytes.length !== 32) throw new Error(`not a 32-byte address: ${value}`);
      out.push(...bytes);
    } else {
      throw new Error(`unsupported IDL type ${type}`);
    }
  } else if (type.array) {
    const [inner, len] = type.array;
    if (value.length !== len) throw new Error(`expected ${len} items, got ${value.length}`);
    for (const v of value) write(inner, v, out);
  } else if (type.option !== undefined) {
    if (value === null || value === undefined) out.push(0);
    else {
      out.push(1);
      write(type.option, value, out);
    }
  } else if (type.vec) {
    write('u32', value.length, out);
    for (const v of value) write(type.vec, v, out);
  } else if (type.defined) {
    const def = typesByName.get(type.defined.name);
    if (def.kind === 'struct') for (const f of def.fields) write(f.type, value[f.name], out);
    else if (def.kind === 'enum') {
      const index = def.variants.findIndex((v) => v.name === value);
      if (index < 0) throw new Error(`${value} is not a ${type.defined.name}`);
      out.push(index);
    } else throw new Error(`unsupported defined kind ${def.kind}`);
  } else {
    throw new Error(`unsupported IDL type ${JSON.stringify(type)}`);
  }
}

function read(type, bytes, at) {
  if (typeof type === 'string') {
    if (type in INTS) {
      const [size, signed] = INTS[type];
      let n = 0n;
      for (let i = size - 1; i >= 0; i -= 1) n = (n << 8n) | BigInt(bytes[at.i + i]);
      if (signed && n >= 1n << BigInt(8 * size - 1)) n -= 1n << BigInt(8 * size);
      at.i += size;
      return size === 8 ? n : Number(n);
    }
    if (type === 'bool') return bytes[at.i++] === 1;
    if (type === 'string') {
      const len = read('u32', bytes, at);
      const text = new TextDecoder().decode(bytes.subarray(at.i, at.i + len));
      at.i += len;
      return text;
    }
    if (type === 'pubkey') {
      const key = base58Encode(bytes.subarray(at.i, at.i + 32));
      at.i += 32;
      return key;
    }
    throw new Error(`unsupported IDL type ${type}`);
  }
  if (type.array) return Array.from({ length: type.array[1] }, () => read(type.array[0], bytes, at));
  if (type.option !== undefined) return bytes[at.i++] === 0 ? null : read(type.option, bytes, at);
  if (type.vec) return Array.from({ length: read('u32', bytes, at) }, () => read(type.vec, bytes, at));
  if (type.defined) {
    const def = typesByName.get(type.defined.name);
    if (def.kind === 'struct') return Object.fromEntries(def.fields.map((f) => [f.name, read(f.type, bytes, at)]));
    if (def.kind === 'enum') return def.variants[bytes[at.i++]].name;
  }
  throw new Error(`unsupported IDL type ${JSON.stringify(type)}`);
}

const sameBytes = (a, b) => a.length === b.length && a.every((x, i) => x === b[i]);

/** Instruction data: the IDL's discriminator, then the Borsh args. */
export function instructionData(name, args) {
  const ix = IDL.instructions.find((i) => i.name === name);
  if (!ix) throw new Error(`no instruction ${name} in the IDL`);
  const out = [...ix.discriminator];
  for (const arg of ix.args) {
    if (!(arg.name in args)) throw new Error(`${name}: missing arg ${arg.name}`);
    write(arg.type, args[arg.name], out);
  }
  return Uint8Array.from(out);
}

/** Account metas in the IDL's order: {address, writable, signer}; fixed addresses filled in, an absent optional account is the program id. */
export function accountMetas(name, accounts) {
  const ix = IDL.instructions.find((i) => i.name === name);
  return ix.accounts.map((a) => {
    const address = accounts[a.name] ?? a.address ?? (a.optional ? PROGRAM_ID : undefined);
    if (!address) throw new Error(`${name}: missing account ${a.name}`);
    return { name: a.name, address, writable: Boolean(a.writable), signer: Boolean(a.signer) };
  });
}

function decodeWith(kind, bytes) {
  const data = Uint8Array.from(bytes);
  const item = IDL[kind].find((x) => sameBytes(x.discriminator, data.subarray(0, 8)));
  if (!item) throw new Error(`no ${kind} with discriminator ${[...data.subarray(0, 8)]}`);
  return { name: item.name, fields: read({ defined: { name: item.name } }, data, { i: 8 }) };
}

export const decodeAccount = (bytes) => decodeWith('accounts', bytes);
export const decodeEvent = (bytes) => decodeWith('events', bytes);

/** The Mirror events of a transaction's log messages ("Program data:" lines inside the program's frames). */
export function eventsFromLogs(logs) {
  const stack = [];
  const events = [];
  for (const line of logs ?? []) {
    const invoke = /^Program (\w+) invoke \[\d+\]$/.exec(line);
    if (invoke) stack.push(invoke[1]);
    else if (/^Program \w+ (success|failed)/.test(line)) stack.pop();
    else if (line.startsWith('Program data: ') && stack[stack.length - 1] === PROGRAM_ID) {
      events.push(decodeEvent(Buffer.from(line.slice('Program data: '.length).split(' ')[0], 'base64')));
    }
  }
  return events;
}

/** Seeds of the program's PDAs, as byte arrays (each client derives the address with its own API). */
export const seeds = {
  config: () => [Buffer.from('config')],
  mirror: (creator, id) => [Buffer.from('mirror'), base58Decode(creator), Uint8Array.from(instructionU64(id))],
  grant: (mirror, grantee) => [Buffer.from('grant'), base58Decode(mirror), base58Decode(grantee)],
  job: (mirror, id) => [Buffer.from('job'), base58Decode(mirror), Uint8Array.from(instructionU64(id))],
  model: (mirror, version) => {
    const out = [];
    write('u32', version, out);
    return [Buffer.from('model'), base58Decode(mirror), Uint8Array.from(out)];
  },
  trainer: (authority) => [Buffer.from('trainer'), base58Decode(authority)],
};

function instructionU64(n) {
  const out = [];
  write('u64', n, out);
  return out;
}

function expect(condition, message) {
  if (!condition) throw new Error(message);
}

const show = (v) => JSON.stringify(v, (_, x) => (typeof x === 'bigint' ? `${x}n` : x));

/**
 * A whole mirror life through one client: create, grant MANAGE|TRAIN, request training (by the
 * grantee), the dev trainer's start and complete. `client` gives what differs between clients:
 *   addresses: { creator, grantee, trainer }   (base58)
 *   pda(seeds) -> address                      (the client's own derivation)
 *   send(name, data, metas, signer) -> { signature, logs }   (confirmed; signer: 'creator' | 'grantee' | 'trainer')
 *   accountData(address) -> Uint8Array | null   (the client's getAccountInfo)
 * `step(name, fn)` names each stage for the report. Returns the signatures by stage.
 */
export async function mirrorLife(client, step) {
  const { creator, grantee, trainer } = client.addresses;
  const config = await client.pda(seeds.config());
  const mirror = await client.pda(seeds.mirror(creator, 1));
  const grant = await client.pda(seeds.grant(mirror, grantee));
  const job = await client.pda(seeds.job(mirror, 0));
  const model = await client.pda(seeds.model(mirror, 1));
  const trainerAccount = await client.pda(seeds.trainer(trainer));
  const send = (name, args, accounts, signer) => client.send(name, instructionData(name, args), accountMetas(name, accounts), signer);
  const account = async (address, type) => {
    const data = await client.accountData(address);
    expect(data !== null, `no ${type} at ${address}`);
    const decoded = decodeAccount(data);
    expect(decoded.name === type, `${address} is a ${decoded.name}, not a ${type}`);
    return decoded.fields;
  };
  const event = (logs, name) => {
    const found = eventsFromLogs(logs).filter((e) => e.name === name);
    expect(found.length === 1, `expected one ${name} event in ${show(eventsFromLogs(logs).map((e) => e.name))}`);
    return found[0].fields;
  };
  const signatures = {};

  await step('mirror life: create_mirror', async () => {
    const { signature, logs } = await send(
      'create_mirror',
      { mirror_id: 1, name: 'Ada', metadata_uri: 'ipfs://ada', visibility: 'Private' },
      { config, mirror, creator },
      'creator',
    );
    const e = event(logs, 'MirrorCreated');
    expect(e.mirror === mirror && e.owner === creator && e.mirror_id === 1n && e.visibility === 'Private', `MirrorCreated ${show(e)}`);
    const state = await account(mirror, 'Mirror');
    expect(state.owner === creator && state.name === 'Ada' && state.status === 'Active' && state.job_count === 0n, `Mirror ${show(state)}`);
    signatures.createMirror = signature;
  });

  await step('mirror life: grant_access', async () => {
    const { signature, logs } = await send(
      'grant_access',
      { grantee, permissions: MANAGE | TRAIN, expires_at: 0 },
      { config, mirror, grant, owner: creator },
      'creator',
    );
    const e = event(logs, 'AccessGranted');
    expect(e.grant === grant && e.grantee === grantee && e.permissions === (MANAGE | TRAIN), `AccessGranted ${show(e)}`);
    const state = await account(grant, 'AccessGrant');
    expect(state.mirror === mirror && state.granted_by === creator && state.expires_at === 0n, `AccessGrant ${show(state)}`);
    signatures.grantAccess = signature;
  });

  await step('mirror life: request_training (grantee)', async () => {
    const { signature, logs } = await send(
      'request_training',
      { dataset_cid: DATASET_CID, params: PARAMS },
      { config, mirror, grant, job, requester: grantee },
      'grantee',
    );
    const e = event(logs, 'TrainRequested');
    expect(e.job === job && e.job_id === 0n && e.requester === grantee && show(e.params) === show(PARAMS), `TrainRequested ${show(e)}`);
    const state = await account(job, 'TrainingJob');
    expect(state.status === 'Requested' && state.dataset_cid === DATASET_CID, `TrainingJob ${show(state)}`);
    signatures.requestTraining = signature;
  });

  await step('mirror life: start_training (dev trainer)', async () => {
    const { signature, logs } = await send(
      'start_training',
      {},
      { config, mirror, job, trainer: trainerAccount, authority: trainer },
      'trainer',
    );
    const e = event(logs, 'TrainingStarted');
    expect(e.trainer === trainer && e.job === job && e.job_id === 0n, `TrainingStarted ${show(e)}`);
    const state = await account(job, 'TrainingJob');
    expect(state.status === 'Running' && state.trainer === trainer && state.started_at > 0n, `TrainingJob ${show(state)}`);
    signatures.startTraining = signature;
  });

  await step('mirror life: complete_training (dev trainer)', async () => {
    const weights = Array.from({ length: 32 }, (_, i) => i * 3);
    const metrics = { final_loss_micros: 1_500_000n, tokens_trained: 4096n };
    const { signature, logs } = await send(
      'complete_training',
      { version: 1, model_cid: MODEL_CID, weights_sha256: weights, metrics },
      { config, mirror, job, model, trainer: trainerAccount, authority: trainer },
      'trainer',
    );
    const completed = event(logs, 'TrainingCompleted');
    expect(completed.model === model && completed.version === 1 && completed.model_cid === MODEL_CID, `TrainingCompleted ${show(completed)}`);
    const published = event(logs, 'ModelPublished');
    expect(published.model === model && show(published.weights_sha256) === show(weights), `ModelPublished ${show(published)}`);
    expect(show(published.metrics) === show(metrics), `ModelPublished.metrics ${show(published.metrics)}`);
    const state = await account(model, 'ModelVersion');
    expect(state.mirror === mirror && state.job === job && state.model_cid === MODEL_CID, `ModelVersion ${show(state)}`);
    const final = await account(mirror, 'Mirror');
    expect(final.model_version === 1 && final.job_count === 1n, `Mirror after complete ${show(final)}`);
    expect((await account(job, 'TrainingJob')).status === 'Completed', 'the job is not Completed');
    signatures.completeTraining = signature;
  });

  return signatures;
}
