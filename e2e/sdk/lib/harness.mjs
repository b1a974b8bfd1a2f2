// Harness of the SDK conformance suite: starts `dream dev` from the binary
// in DREAM_BIN on a free loopback port with a fresh data directory, and
// gives the tests the published SDK pointed at it, the demo projects' keys
// and the dev-mode helpers (end-user tokens, the payments emulator).
//
// Each test file calls useServer() once at its top level; node --test runs
// every file in its own process, so every file gets its own server and its
// own database, and the order of files does not matter.

import { spawn } from 'node:child_process';
import { existsSync, statSync } from 'node:fs';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import { after, before } from 'node:test';
import assert from 'node:assert/strict';

import { DreamAPI, DreamAPIException } from '@dream-api/sdk';

export { DreamAPI, DreamAPIException };

const here = path.dirname(fileURLToPath(import.meta.url));
/** The e2e/sdk directory. */
export const suiteDir = path.resolve(here, '..');

const START_TIMEOUT_MS = 30_000;
const STOP_TIMEOUT_MS = 10_000;
const FETCH_TIMEOUT_MS = 10_000;
const LOG_LINES = 200;

/** The binary to run: $DREAM_BIN (relative to the working directory) or ../../bin/dream. */
export function dreamBinary() {
  const bin = process.env.DREAM_BIN
    ? path.resolve(process.env.DREAM_BIN)
    : path.resolve(suiteDir, '../../bin/dream');
  if (!existsSync(bin) || !statSync(bin).isFile()) {
    throw new Error(
      `dream binary not found at ${bin}: run \`make build\` in the repository root ` +
        '(or point DREAM_BIN at a built binary)',
    );
  }
  return bin;
}

/**
 * Starts `dream dev` and resolves once its banner is complete.
 * @returns {Promise<Server>}
 */
export async function startServer({ env = {} } = {}) {
  const bin = dreamBinary();
  const dataDir = await mkdtemp(path.join(tmpdir(), 'dream-sdk-e2e-'));
  const child = spawn(bin, ['dev', '--addr', '127.0.0.1:0', '--data', dataDir], {
    cwd: dataDir,
    env: { ...process.env, DREAM_RATE_LIMIT_PER_MINUTE: '100000', ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  const logs = [];
  const keep = (stream, line) => {
    logs.push(`${stream}: ${line}`);
    if (logs.length > LOG_LINES) logs.shift();
    if (process.env.DREAM_E2E_VERBOSE) process.stderr.write(`[dream ${stream}] ${line}\n`);
  };
  createInterface({ input: child.stderr }).on('line', (line) => keep('stderr', line));
  const exited = new Promise((resolve) => child.once('exit', (code, signal) => resolve({ code, signal })));
  // Never leave a server behind, even if this process ends without after().
  const orphanGuard = () => child.kill('SIGKILL');
  process.once('exit', orphanGuard);
  exited.then(() => process.removeListener('exit', orphanGuard));

  let baseUrl;
  try {
    baseUrl = await new Promise((resolve, reject) => {
      let url = null;
      const timer = setTimeout(
        () => reject(new Error(`dream dev did not print its banner within ${START_TIMEOUT_MS / 1000} s`)),
        START_TIMEOUT_MS,
      );
      child.once('error', (err) => {
        clearTimeout(timer);
        reject(new Error(`cannot start ${bin}: ${err.message}`));
      });
      exited.then(({ code, signal }) => {
        clearTimeout(timer);
        reject(new Error(`dream dev exited before it was ready (code ${code}, signal ${signal})`));
      });
      createInterface({ input: child.stdout }).on('line', (line) => {
        keep('stdout', line);
        const m = line.match(/Dream API dev server listening on (http:\/\/127\.0\.0\.1:\d+)/);
        if (m) url = m[1];
        if (/^-{10,}\s*$/.test(line)) {
          clearTimeout(timer);
          if (url) resolve(url);
          else reject(new Error('dream dev printed its banner without a "listening on http://127.0.0.1:<port>" line'));
        }
      });
    });
  } catch (err) {
    await stopChild(child, exited);
    await rm(dataDir, { recursive: true, force: true });
    err.message += `\n--- last output of dream dev ---\n${logs.join('\n')}`;
    throw err;
  }

  let projects;
  let developer;
  try {
    const devJson = JSON.parse(await readFile(path.join(dataDir, 'dev.json'), 'utf8'));
    projects = devJson.projects;
    developer = devJson.developer;
    assert.ok(Array.isArray(projects) && projects.length >= 3, 'dev.json lists the three demo projects');
  } catch (err) {
    await stopChild(child, exited);
    await rm(dataDir, { recursive: true, force: true });
    throw new Error(`cannot read ${dataDir}/dev.json: ${err.message}`);
  }
  const byType = (type) => {
    const p = projects.find((x) => x.type === type);
    assert.ok(p, `dev.json has a ${type} project`);
    return p;
  };

  return {
    baseUrl,
    dataDir,
    projects,
    developer,
    saas: byType('saas'),
    store: byType('store'),
    membership: byType('membership'),
    logs: () => logs.join('\n'),
    async stop() {
      await stopChild(child, exited);
      await rm(dataDir, { recursive: true, force: true });
    },
  };
}

async function stopChild(child, exited) {
  if (child.exitCode !== null || child.signalCode !== null) return;
  child.kill('SIGTERM');
  let timer;
  const killed = new Promise((resolve) => {
    timer = setTimeout(() => {
      child.kill('SIGKILL');
      resolve();
    }, STOP_TIMEOUT_MS);
  });
  await Promise.race([exited, killed]);
  clearTimeout(timer);
  await exited;
}

/**
 * Registers before()/after() hooks that start and stop one server for the
 * calling test file, and returns an object whose fields are filled in once
 * the server is up (see Server and the helpers below). options.env adds
 * environment variables for the server.
 */
export function useServer(options = {}) {
  const ctx = {};
  before(async () => {
    Object.assign(ctx, await startServer(options));
    Object.assign(ctx, helpers(ctx));
  });
  after(async () => {
    if (ctx.stop) await ctx.stop();
    if (process.env.DREAM_E2E_VERBOSE && ctx.logs) process.stderr.write(ctx.logs() + '\n');
  });
  return ctx;
}

// --- fetch recorder -------------------------------------------------------
//
// The SDK calls the global fetch. Wrapping it lets a test see what the SDK
// really sent and what status it got (the SDK hides the status of a
// success, e.g. the 201 of customers.create), and lets failures quote the
// exchange.

const exchanges = [];
let exchangeTotal = 0;
let browserOrigin = null;
const realFetch = globalThis.fetch;
globalThis.fetch = async function recordingFetch(input, init = {}) {
  const url = typeof input === 'string' ? input : input.url;
  const entry = {
    method: init.method || 'GET',
    url,
    headers: { ...(init.headers || {}) },
    body: init.body,
    status: undefined,
    responseBody: undefined,
    done: Promise.resolve(),
    preflight: undefined,
  };
  exchanges.push(entry);
  exchangeTotal += 1;
  if (exchanges.length > 50) exchanges.shift();
  if (browserOrigin) {
    entry.preflight = await preflight(url, entry.method, Object.keys(entry.headers));
    init = { ...init, headers: { ...init.headers, Origin: browserOrigin } };
  }
  const res = await realFetch(input, { signal: AbortSignal.timeout(FETCH_TIMEOUT_MS), ...init });
  entry.status = res.status;
  entry.responseHeaders = res.headers;
  if (browserOrigin) {
    const allowed = res.headers.get('access-control-allow-origin');
    if (allowed !== browserOrigin && allowed !== '*') {
      entry.responseBody = await res.text();
      // What a browser does: the page cannot read the response at all.
      throw new TypeError(
        `Failed to fetch: ${entry.method} ${url} answered ${res.status} without ` +
          `Access-Control-Allow-Origin for ${browserOrigin} (got ${allowed})`,
      );
    }
  }
  // Keep a copy of the body without consuming the SDK's.
  entry.done = res
    .clone()
    .text()
    .then((t) => (entry.responseBody = t), () => {});
  return res;
};

/**
 * From now on the SDK's requests behave as a browser page on origin sends
 * them: a CORS preflight first (refused unless it allows the method and
 * every header the SDK sets), an Origin header, and a response the page
 * cannot read unless Access-Control-Allow-Origin allows origin. null turns
 * it off.
 */
export function emulateBrowser(origin) {
  browserOrigin = origin;
}

// CORS-safelisted methods and request headers (Fetch standard); everything
// else must be allowed by the preflight. Content-Type: application/json is
// not safelisted.
const SAFE_METHODS = new Set(['GET', 'HEAD', 'POST']);

async function preflight(url, method, headerNames) {
  const names = headerNames.map((h) => h.toLowerCase()).sort();
  const res = await realFetch(url, {
    method: 'OPTIONS',
    headers: {
      Origin: browserOrigin,
      'Access-Control-Request-Method': method,
      'Access-Control-Request-Headers': names.join(','),
    },
    signal: AbortSignal.timeout(FETCH_TIMEOUT_MS),
  });
  await res.arrayBuffer();
  const list = (h) =>
    (res.headers.get(h) || '')
      .split(',')
      .map((x) => x.trim().toLowerCase())
      .filter(Boolean);
  const origin = res.headers.get('access-control-allow-origin');
  const methods = list('access-control-allow-methods');
  const headers = list('access-control-allow-headers');
  const problems = [];
  if (res.status < 200 || res.status > 299) problems.push(`status ${res.status}`);
  if (origin !== browserOrigin && origin !== '*') problems.push(`Access-Control-Allow-Origin ${origin}`);
  if (!SAFE_METHODS.has(method) && !methods.includes(method.toLowerCase()) && !methods.includes('*')) {
    problems.push(`method ${method} not in Access-Control-Allow-Methods ${methods}`);
  }
  for (const n of names) {
    if (!headers.includes(n) && !headers.includes('*')) problems.push(`header ${n} not in Access-Control-Allow-Headers`);
  }
  const result = { status: res.status, origin, methods, headers, problems };
  if (problems.length) {
    throw new TypeError(`Failed to fetch: CORS preflight of ${method} ${url} refused: ${problems.join('; ')}`);
  }
  return result;
}

/** How many requests went through the SDK's fetch so far. */
export function exchangeCount() {
  return exchangeTotal;
}

/** The last request the SDK (or a helper) made. */
export function lastExchange() {
  return exchanges[exchanges.length - 1];
}

/** A one-line description of an exchange for assertion messages. */
export function describeExchange(e = lastExchange()) {
  if (!e) return '(no request made)';
  const h = Object.entries(e.headers)
    .map(([k, v]) => `${k}: ${/token|authorization/i.test(k) ? String(v).slice(0, 16) + '…' : v}`)
    .join(', ');
  return `${e.method} ${e.url} [${h}] body=${e.body ?? '(none)'} -> ${e.status} ${e.responseBody ?? ''}`;
}

// --- helpers ---------------------------------------------------------------

function helpers(srv) {
  const { baseUrl } = srv;
  return {
    /** Front-end mode: publishable key only, plus an optional end-user token. */
    frontend(project, token) {
      const api = quiet(() => new DreamAPI({ publishableKey: project.publishableKey, baseUrl }));
      if (token) api.setUserToken(token);
      return api;
    },
    /** Backend mode: secret key and the project's publishable key. */
    backend(project, token, publishableKey = project.publishableKey) {
      const api = new DreamAPI({ secretKey: project.secretKey, publishableKey, baseUrl });
      if (token) api.setUserToken(token);
      return api;
    },
    /** POST /dev/tokens: an end-user token of the dev issuer. */
    async mintToken(project, email, plan) {
      const body = { publishableKey: project.publishableKey, email };
      if (plan) body.plan = plan;
      const res = await realFetch(`${baseUrl}/dev/tokens`, {
        method: 'POST',
        headers: { 'Content-Type': 'application/json' },
        body: JSON.stringify(body),
        signal: AbortSignal.timeout(FETCH_TIMEOUT_MS),
      });
      const text = await res.text();
      assert.equal(res.status, 200, `POST /dev/tokens ${JSON.stringify(body)} -> ${res.status} ${text}`);
      const out = JSON.parse(text);
      assert.equal(typeof out.token, 'string');
      assert.equal(typeof out.userId, 'string');
      return out;
    },
    /** Presses Pay on an emulator checkout page; returns the redirect location. */
    async pay(checkoutUrl) {
      const res = await realFetch(`${checkoutUrl}/pay`, {
        method: 'POST',
        redirect: 'manual',
        signal: AbortSignal.timeout(FETCH_TIMEOUT_MS),
      });
      const text = await res.text();
      assert.equal(res.status, 303, `POST ${checkoutUrl}/pay -> ${res.status} ${text}`);
      return res.headers.get('location');
    },
    /** GETs an emulator page (checkout or portal) and returns its HTML. */
    async page(url) {
      const res = await realFetch(url, { signal: AbortSignal.timeout(FETCH_TIMEOUT_MS) });
      const text = await res.text();
      assert.equal(res.status, 200, `GET ${url} -> ${res.status} ${text.slice(0, 300)}`);
      assert.match(res.headers.get('content-type') || '', /text\/html/);
      return text;
    },
    /** Submits a form of an emulator page: action is the form's (relative) action. */
    async submitForm(action, fields = {}) {
      const res = await realFetch(new URL(action, baseUrl), {
        method: 'POST',
        redirect: 'manual',
        headers: { 'Content-Type': 'application/x-www-form-urlencoded' },
        body: new URLSearchParams(fields).toString(),
        signal: AbortSignal.timeout(FETCH_TIMEOUT_MS),
      });
      const text = await res.text();
      assert.ok(res.status === 303 || res.status === 200, `POST ${action} -> ${res.status} ${text.slice(0, 300)}`);
      return res;
    },
    /** POST /dev/clock/advance. */
    async advanceClock(days) {
      const res = await realFetch(`${baseUrl}/dev/clock/advance`, {
        method: 'POST',
        headers: { 'Content-Type': 'application/json' },
        body: JSON.stringify({ days }),
        signal: AbortSignal.timeout(FETCH_TIMEOUT_MS),
      });
      const text = await res.text();
      assert.ok(res.ok, `POST /dev/clock/advance -> ${res.status} ${text}`);
    },
    /** Asserts that url is a page of this server's payments emulator. */
    assertEmulatorUrl(url, kind) {
      assert.equal(typeof url, 'string', `url is a string: ${url}`);
      assert.ok(
        url.startsWith(`${baseUrl}/dev/${kind}/`),
        `expected a ${kind} page of this server (${baseUrl}/dev/${kind}/…), got ${url}`,
      );
    },
  };
}

/** Runs fn with the SDK's "[DreamAPI] Running in frontend-only mode" log line muted. */
function quiet(fn) {
  const log = console.log;
  console.log = (...args) => {
    if (typeof args[0] === 'string' && args[0].startsWith('[DreamAPI]')) return;
    log(...args);
  };
  try {
    return fn();
  } finally {
    console.log = log;
  }
}

/**
 * Asserts that promise rejects with a DreamAPIException of this status and
 * code (a string, a list of accepted strings, or null for any string), and
 * returns the exception.
 */
export async function rejectsDream(promise, status, code, what = '') {
  let err;
  try {
    const value = await promise;
    assert.fail(`${what} expected DreamAPIException ${status} ${code}, got success ${JSON.stringify(value)}`);
  } catch (e) {
    if (e instanceof assert.AssertionError) throw e;
    err = e;
  }
  await lastExchange()?.done;
  const ctx = `${what}: ${describeExchange()}`;
  assert.ok(err instanceof DreamAPIException, `${ctx}\nexpected DreamAPIException, got ${err?.stack || err}`);
  assert.equal(err.status, status, `status; ${ctx}`);
  if (code === null) assert.equal(typeof err.code, 'string', `code; ${ctx}`);
  else if (Array.isArray(code)) assert.ok(code.includes(err.code), `code ${err.code} not one of ${code}; ${ctx}`);
  else assert.equal(err.code, code, `code; ${ctx}`);
  assert.equal(typeof err.message, 'string');
  return err;
}

/** A unique email for this run. */
let seq = 0;
export function email(tag) {
  seq += 1;
  return `${tag}-${process.pid}-${Date.now()}-${seq}@example.com`;
}

export const DATE = /^\d{4}-\d{2}-\d{2}$/;

/**
 * @typedef {{type: string, name: string, publishableKey: string, secretKey: string}} Project
 * @typedef {object} Server
 * @property {string} baseUrl
 * @property {Project} saas
 * @property {Project} store
 * @property {Project} membership
 */
