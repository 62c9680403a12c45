// What every client check in this folder shares: its command line, a fetch that
// keeps the last JSON-RPC exchanges to show when a check fails, named steps,
// timeouts, and the one-JSON-line summary the Python test reads.
//
//   node <check>.mjs RPC_URL [WS_URL]   (or MIRROR_RPC_URL / MIRROR_WS_URL)
//
// Success: one JSON line on stdout ({"ok": true, ...}), exit code 0.
// Failure: "<check> FAILED at <step>: <message>" on stderr, then the last
// JSON-RPC exchanges seen on the wire, exit code 1.

import { readFileSync } from 'node:fs';

export function packageVersion(name) {
  const path = new URL(`./node_modules/${name}/package.json`, import.meta.url);
  return JSON.parse(readFileSync(path, 'utf8')).version;
}

export function wsUrlFor(rpcUrl) {
  const url = new URL(rpcUrl);
  url.protocol = url.protocol === 'https:' ? 'wss:' : 'ws:';
  url.port = String(Number(url.port || (url.protocol === 'wss:' ? 443 : 80)) + 1);
  return url.toString().replace(/\/$/, '');
}

export class CheckError extends Error {}

/** web3.js v1 Connection options for the node under test: its PubSub URL, the harness's recording fetch, no retries. */
export function web3Options(ctx, commitment) {
  return { commitment, wsEndpoint: ctx.wsUrl, fetch: ctx.fetch, disableRetryOnRateLimit: true };
}

export function fail(message) {
  throw new CheckError(message);
}

export function check(condition, message) {
  if (!condition) fail(message);
}

/** JSON of anything a client returns (bigint, BN and PublicKey included), cut to `max` characters. */
export function short(value, max = 2000) {
  const text =
    typeof value === 'string'
      ? value
      : JSON.stringify(value, (_, v) => (typeof v === 'bigint' ? `${v}n` : v));
  return text && text.length > max ? `${text.slice(0, max)}...` : text;
}

/** JSON with object keys sorted (Agave's field order is not the one a test writes its expectation in). */
export function canonical(value) {
  const sortKeys = (v) =>
    Array.isArray(v)
      ? v.map(sortKeys)
      : v && typeof v === 'object' && !(v.toBase58 instanceof Function)
        ? Object.fromEntries(Object.keys(v).sort().map((k) => [k, sortKeys(v[k])]))
        : v;
  return short(sortKeys(value), Infinity);
}

export function sameJson(a, b) {
  return canonical(a) === canonical(b);
}

export function sleep(ms) {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

export function withTimeout(promise, ms, what) {
  let timer;
  const timeout = new Promise((_, reject) => {
    timer = setTimeout(() => reject(new CheckError(`timed out after ${ms} ms waiting for ${what}`)), ms);
  });
  return Promise.race([promise, timeout]).finally(() => clearTimeout(timer));
}

/**
 * Waits until the server has acknowledged web3.js v1's subscription `id`: web3.js subscribes
 * lazily, and its internal hook (the one confirmTransaction uses; absent in other builds) says when.
 */
export async function subscriptionAcknowledged(connection, id, ms, what) {
  if (typeof connection._onSubscriptionStateChange !== 'function') return;
  await withTimeout(
    new Promise((resolve) => {
      const dispose = connection._onSubscriptionStateChange(id, (state) => {
        if (state === 'subscribed') {
          dispose();
          resolve();
        }
      });
    }),
    ms,
    what,
  );
}

/** Polls `probe` until it returns something other than undefined/null/false. */
export async function eventually(probe, ms, what, everyMs = 100) {
  const deadline = Date.now() + ms;
  for (;;) {
    const value = await probe();
    if (value !== undefined && value !== null && value !== false) return value;
    if (Date.now() > deadline) fail(`timed out after ${ms} ms waiting for ${what}`);
    await sleep(everyMs);
  }
}

/**
 * One check script: `run(name, libraries, main)` parses the URLs, runs
 * `main(ctx)` under an overall timeout and prints the summary it returns.
 * ctx: { rpcUrl, wsUrl, step(name, fn), fetch (recording), summary }.
 */
export async function run(name, libraries, main) {
  const rpcUrl = process.argv[2] || process.env.MIRROR_RPC_URL;
  if (!rpcUrl) {
    console.error(`usage: node ${name}.mjs RPC_URL [WS_URL]  (or set MIRROR_RPC_URL [MIRROR_WS_URL])`);
    process.exit(2);
  }
  const wsUrl = process.argv[3] || process.env.MIRROR_WS_URL || wsUrlFor(rpcUrl);
  const overallMs = Number(process.env.CLIENT_CHECK_TIMEOUT_MS || 90_000);

  const exchanges = [];
  async function recordingFetch(input, init) {
    const entry = { request: String(init?.body ?? ''), status: null, response: null };
    exchanges.push(entry);
    if (exchanges.length > 8) exchanges.shift();
    const res = await fetch(input, init);
    entry.status = res.status;
    entry.response = await res.clone().text();
    return res;
  }

  let currentStep = 'start';
  const ctx = {
    rpcUrl,
    wsUrl,
    fetch: recordingFetch,
    exchanges,
    summary: { ok: false, libraries, rpc: rpcUrl, ws: wsUrl, steps: [] },
    failures: [],
    async step(stepName, fn) {
      currentStep = stepName;
      const value = await fn();
      ctx.summary.steps.push(stepName);
      return value;
    },
    /** Stages of one attempt: each recorded as a step, a failure named by its stage. */
    async stage(stageName, fn) {
      try {
        const value = await fn();
        ctx.summary.steps.push(stageName);
        return value;
      } catch (error) {
        if (error instanceof Error) error.message = `${stageName}: ${error.message}`;
        throw error;
      }
    },
    /** A step whose failure is recorded and reported at the end instead of stopping the run. */
    async attempt(stepName, fn) {
      try {
        return await ctx.step(stepName, fn);
      } catch (error) {
        const code = error?.context?.__code ?? error?.code;
        const message = error instanceof Error ? error.message : short(error);
        ctx.failures.push({ step: stepName, message: short(message, 600), ...(code === undefined ? {} : { code: String(code) }) });
        return undefined;
      }
    },
  };

  try {
    const summary = await withTimeout(main(ctx), overallMs, `the whole ${name} run`);
    if (ctx.failures.length > 0) {
      summary.failures = ctx.failures;
      console.log(short(summary, Infinity));
      const lines = [`${name} FAILED at ${ctx.failures.length} step(s):`];
      for (const f of ctx.failures) lines.push(`  ${f.step}: ${f.code === undefined ? '' : `[${f.code}] `}${f.message}`);
      console.error(lines.join('\n'));
      process.exit(1);
    }
    summary.ok = true;
    console.log(short(summary, Infinity));
    process.exit(0);
  } catch (error) {
    const message = error instanceof Error ? error.message : short(error);
    const lines = [`${name} FAILED at ${currentStep}: ${message}`];
    if (error && !(error instanceof CheckError)) {
      for (const key of ['code', 'context', 'data', 'logs', 'errorLogs', 'cause']) {
        if (error[key] !== undefined) lines.push(`  error ${key}: ${short(error[key])}`);
      }
      if (error.stack) lines.push(`  stack: ${error.stack.split('\n').slice(1, 5).join(' | ')}`);
    }
    lines.push(`  rpc: ${rpcUrl}  ws: ${wsUrl}  ${short(libraries)}`);
    lines.push('  last JSON-RPC exchanges over fetch (oldest first):');
    for (const { request, status, response } of exchanges) {
      lines.push(`    -> ${short(request, 800)}`);
      lines.push(`    <- [${status}] ${short(response, 1500)}`);
    }
    console.error(lines.join('\n'));
    process.exit(1);
  }
}
