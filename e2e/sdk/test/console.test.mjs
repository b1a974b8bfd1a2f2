// The developer's side in dev mode, offline: the demo developer signs in to
// the management API, creates a fourth project, connects test mode to the
// payments emulator and adds a tier, and the published SDK sees the tier at
// once and checks out on it.

import { describe, test } from 'node:test';
import assert from 'node:assert/strict';

import { email, useServer } from '../lib/harness.mjs';

const srv = useServer();
const dev = {};

/** Calls the management API as the demo developer. */
async function v1(method, path, body) {
  const res = await fetch(`${srv.baseUrl}${path}`, {
    method,
    redirect: 'manual',
    headers: { 'Content-Type': 'application/json', ...(dev.token ? { Authorization: `Bearer ${dev.token}` } : {}) },
    body: body === undefined ? undefined : JSON.stringify(body),
    signal: AbortSignal.timeout(10_000),
  });
  const text = await res.text();
  let json;
  try {
    json = JSON.parse(text);
  } catch {
    json = undefined;
  }
  return { status: res.status, location: res.headers.get('location'), json, text };
}

describe('the management API in dev mode', () => {
  test('the demo developer signs in with the password of dev.json', async () => {
    assert.equal(srv.developer.email, 'demo@localhost');
    const res = await v1('POST', '/v1/session', srv.developer);
    assert.equal(res.status, 200, res.text);
    dev.token = res.json.token;
    const projects = await v1('GET', '/v1/projects');
    assert.deepEqual(projects.json.projects.map((p) => p.type), ['saas', 'store', 'membership']);
  });

  test('a fourth project, connected to the emulator, with a tier', async () => {
    const created = await v1('POST', '/v1/projects', { name: 'Fourth', type: 'saas' });
    assert.equal(created.status, 201, created.text);
    dev.project = {
      id: created.json.id,
      publishableKey: created.json.environments.test.publishableKey,
      secretKey: created.json.environments.test.secretKey,
    };
    assert.match(dev.project.secretKey, /^sk_test_[0-9a-f]{64}$/);

    const start = await v1('GET', '/v1/connect/test/authorize');
    assert.equal(start.status, 302, start.text);
    const page = new URL(start.location);
    assert.equal(page.pathname, '/dev/connect/authorize');
    const connected = await srv.submitForm('/dev/connect/authorize', {
      mode: 'test',
      state: page.searchParams.get('state'),
      decision: 'allow',
    });
    const callback = await v1('GET', new URL(connected.headers.get('location')).pathname + new URL(connected.headers.get('location')).search);
    assert.equal(callback.status, 302, callback.text);
    assert.equal(callback.location, '/dashboard?mode=test&stripe=connected');

    const tier = await v1('POST', `/v1/projects/${dev.project.id}/environments/test/tiers`, {
      name: 'starter', displayName: 'Starter', price: 1500, limit: 500, features: ['500 requests'], popular: true,
    });
    assert.equal(tier.status, 201, tier.text);
    assert.match(tier.json.priceId, /^price_dev_/);
    dev.priceId = tier.json.priceId;
  });

  test('the SDK lists the new tier at once and checks out on it', async () => {
    const { tiers } = await srv.frontend(dev.project).products.listTiers();
    assert.deepEqual(tiers.map((t) => t.id), ['starter']);
    assert.equal(tiers[0].price, 1500);
    assert.equal(tiers[0].limit, 500);
    assert.equal(tiers[0].priceId, dev.priceId);

    const { token } = await srv.mintToken(dev.project, email('fourth'));
    const api = srv.frontend(dev.project, token);
    const res = await api.billing.createCheckout({ tier: 'starter', successUrl: 'https://app.example/ok', cancelUrl: 'https://app.example/no' });
    srv.assertEmulatorUrl(res.url, 'checkout');
    assert.match(await srv.page(res.url), /15\.00/);
    await srv.pay(res.url);
    assert.equal((await api.usage.check()).plan, 'starter');
  });
});
