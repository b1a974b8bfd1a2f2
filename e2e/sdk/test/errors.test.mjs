// Error paths as the SDK reports them: every one a DreamAPIException with
// the status and code (the server's "error" string) the SDK's users match
// on. (The tier limit is in usage.test.mjs, another project's customer in
// customers.test.mjs, refused carts and checkouts in store/billing.)

import { describe, test } from 'node:test';
import assert from 'node:assert/strict';

import { DreamAPI, DreamAPIException, email, exchangeCount, lastExchange, rejectsDream, useServer } from '../lib/harness.mjs';

const srv = useServer();

const UNKNOWN_PK = 'pk_test_00000000000000000000000000000000';
const UNKNOWN_SK = 'sk_test_' + '0'.repeat(64);

/** A token whose payload was edited after signing (plan raised to enterprise). */
function tamper(token) {
  const [h, p, sig] = token.split('.');
  const claims = JSON.parse(Buffer.from(p, 'base64url').toString('utf8'));
  claims.plan = 'enterprise';
  if (claims.publicMetadata) claims.publicMetadata.plan = 'enterprise';
  return [h, Buffer.from(JSON.stringify(claims)).toString('base64url'), sig].join('.');
}

describe('no end-user token: the SDK refuses locally (auth_required, 401)', () => {
  test('front-end mode: track, check, createCheckout, openPortal make no request', async () => {
    const api = srv.frontend(srv.saas);
    const before = exchangeCount();
    for (const [name, call] of [
      ['usage.track', () => api.usage.track()],
      ['usage.check', () => api.usage.check()],
      ['billing.createCheckout', () => api.billing.createCheckout({ tier: 'pro' })],
      ['billing.openPortal', () => api.billing.openPortal({ returnUrl: 'https://app.example' })],
    ]) {
      const err = await call().then(
        () => assert.fail(`${name} succeeded without a token`),
        (e) => e,
      );
      assert.ok(err instanceof DreamAPIException, `${name}: ${err}`);
      assert.equal(err.status, 401, name);
      assert.equal(err.code, 'auth_required', name);
    }
    assert.equal(exchangeCount(), before, 'nothing was sent');
  });

  test('backend mode and after clearUserToken()', async () => {
    const back = srv.backend(srv.saas);
    await rejectsDream(back.usage.track(), 401, 'auth_required', 'backend track');
    const { token } = await srv.mintToken(srv.saas, email('cleared'));
    const api = srv.frontend(srv.saas, token);
    await api.usage.track();
    api.clearUserToken();
    await rejectsDream(api.usage.check(), 401, 'auth_required', 'check after clearUserToken');
  });

  test('the server answers the same when no token is sent at all', async () => {
    // Not through the SDK (it refuses first): what a client without a token gets.
    const res = await fetch(`${srv.baseUrl}/api/data`, {
      method: 'POST',
      headers: { 'X-Publishable-Key': srv.saas.publishableKey },
    });
    assert.equal(res.status, 401);
    assert.equal((await res.json()).error, 'Invalid or missing end-user token');
  });
});

describe('a bad end-user token: 401 "Invalid or missing end-user token"', () => {
  test('a tampered token (payload edited after signing)', async () => {
    const { token } = await srv.mintToken(srv.saas, email('tampered'));
    const bad = tamper(token);
    const api = srv.frontend(srv.saas, bad);
    await rejectsDream(api.usage.track(), 401, 'Invalid or missing end-user token', 'track');
    await rejectsDream(api.usage.check(), 401, 'Invalid or missing end-user token', 'check');
    await rejectsDream(api.billing.createCheckout({ tier: 'pro' }), 401, 'Invalid or missing end-user token', 'checkout');
    await rejectsDream(api.billing.openPortal({}), 401, 'Invalid or missing end-user token', 'portal');
    await rejectsDream(
      srv.backend(srv.saas, bad).usage.track(),
      401,
      'Invalid or missing end-user token',
      'backend track',
    );
  });

  test('a token with its signature cut off, and garbage', async () => {
    const { token } = await srv.mintToken(srv.saas, email('cut'));
    const [h, p] = token.split('.');
    await rejectsDream(srv.frontend(srv.saas, `${h}.${p}.`).usage.track(), 401, 'Invalid or missing end-user token');
    await rejectsDream(srv.frontend(srv.saas, 'not-a-jwt').usage.check(), 401, 'Invalid or missing end-user token');
  });
});

describe('a token of another project: 403 "Publishable key mismatch"', () => {
  test('a store token on the SaaS project, front-end and backend mode', async () => {
    const { token } = await srv.mintToken(srv.store, email('foreign'));
    await rejectsDream(srv.frontend(srv.saas, token).usage.track(), 403, 'Publishable key mismatch', 'front-end track');
    await rejectsDream(srv.frontend(srv.saas, token).usage.check(), 403, 'Publishable key mismatch', 'front-end check');
    await rejectsDream(
      srv.frontend(srv.saas, token).billing.createCheckout({ tier: 'pro' }),
      403,
      'Publishable key mismatch',
      'front-end checkout',
    );
    await rejectsDream(srv.backend(srv.saas, token).usage.track(), 403, 'Publishable key mismatch', 'backend track');
  });
});

describe('unknown keys', () => {
  test('an unknown publishable key: 401 "Invalid publishable key"', async () => {
    const api = srv.frontend({ publishableKey: UNKNOWN_PK });
    await rejectsDream(api.products.listTiers(), 401, 'Invalid publishable key', 'listTiers');
    await rejectsDream(api.products.list(), 401, 'Invalid publishable key', 'list');
    await rejectsDream(
      api.products.cartCheckout({ items: [{ priceId: 'price_x', quantity: 1 }] }),
      401,
      'Invalid publishable key',
      'cartCheckout',
    );
    const { token } = await srv.mintToken(srv.saas, email('unknownpk'));
    api.setUserToken(token);
    await rejectsDream(api.usage.track(), 401, 'Invalid publishable key', 'track');
  });

  test('an unknown secret key: 401 "Invalid API key"', async () => {
    const api = new DreamAPI({ secretKey: UNKNOWN_SK, baseUrl: srv.baseUrl });
    await rejectsDream(api.products.listTiers(), 401, 'Invalid API key', 'listTiers');
    const withPk = new DreamAPI({ secretKey: UNKNOWN_SK, publishableKey: srv.saas.publishableKey, baseUrl: srv.baseUrl });
    await rejectsDream(withPk.products.list(), 401, 'Invalid API key', 'list with a valid pk beside it');
    const { token } = await srv.mintToken(srv.saas, email('unknownsk'));
    withPk.setUserToken(token);
    await rejectsDream(withPk.usage.track(), 401, 'Invalid API key', 'track with a valid token');
    await rejectsDream(api.dashboard.get(), 401, 'Invalid API key', 'dashboard.get');
    await rejectsDream(api.dashboard.getTotals(), 401, 'Invalid API key', 'dashboard.getTotals');
    await rejectsDream(api.customers.create({ email: email('x') }), 401, 'Invalid API key', 'customers.create');
    await rejectsDream(api.customers.get('user_x'), 401, 'Invalid API key', 'customers.get');
  });

  test('a secret key narrowed to a publishable key of no project of its developer: 403 "Forbidden"', async () => {
    const api = srv.backend(srv.saas, undefined, UNKNOWN_PK);
    const err = await rejectsDream(api.products.listTiers(), 403, 'Forbidden', 'listTiers');
    assert.equal(err.message, 'Publishable key does not belong to this account');
    await rejectsDream(api.dashboard.get(), 403, 'Forbidden', 'dashboard.get');
    await rejectsDream(api.customers.create({ email: email('override') }), 403, 'Forbidden', 'customers.create');
  });
});

describe('a publishable key on a backend route: 403 "Forbidden"', () => {
  test('front-end mode: customers.*, dashboard.get, dashboard.getTotals', async () => {
    const { token } = await srv.mintToken(srv.saas, email('frontend-backend'));
    for (const api of [srv.frontend(srv.saas), srv.frontend(srv.saas, token)]) {
      for (const [name, call] of [
        ['customers.create', () => api.customers.create({ email: email('pk') })],
        ['customers.get', () => api.customers.get('user_x')],
        ['customers.update', () => api.customers.update('user_x', { plan: 'pro' })],
        ['customers.delete', () => api.customers.delete('user_x')],
        ['dashboard.get', () => api.dashboard.get()],
        ['dashboard.getTotals', () => api.dashboard.getTotals()],
      ]) {
        const err = await rejectsDream(call(), 403, 'Forbidden', name);
        assert.equal(err.message, 'This endpoint requires a secret key (backend only)', name);
      }
    }
  });

  test('the refusal does not depend on the key being valid', async () => {
    await rejectsDream(srv.frontend({ publishableKey: UNKNOWN_PK }).dashboard.get(), 403, 'Forbidden');
  });
});

describe('every error is JSON the SDK can parse', () => {
  test('an unknown route answers 404 JSON', async () => {
    const api = srv.backend(srv.saas);
    // Through the SDK's own request method: an id with a slash reaches no route.
    await rejectsDream(api.customers.get(''), 404, null, 'GET /api/customers/');
    assert.match(lastExchange().responseBody, /^\{/);
  });
});

describe('local SDK behaviour (no server involved)', () => {
  test('a client needs a key', () => {
    assert.throws(() => new DreamAPI({ baseUrl: srv.baseUrl }), /Either secretKey or publishableKey is required/);
  });

  test("auth URL helpers point at the hosted sign-up worker or the configured signupUrl, not at baseUrl", () => {
    const api = new DreamAPI({
      secretKey: srv.saas.secretKey,
      publishableKey: srv.saas.publishableKey,
      baseUrl: srv.baseUrl,
      signupUrl: 'https://signup.example',
    });
    const url = new URL(api.auth.getSignUpUrl({ redirect: 'https://app.example/after' }));
    assert.equal(url.origin + url.pathname, 'https://signup.example/signup');
    assert.equal(url.searchParams.get('pk'), srv.saas.publishableKey);
    assert.equal(url.searchParams.get('redirect'), 'https://app.example/after');
    assert.equal(new URL(api.auth.getSignInUrl({ redirect: '/x' })).pathname, '/signin');
    assert.equal(new URL(api.auth.getCustomerPortalUrl({ returnUrl: '/x' })).pathname, '/account');
    assert.equal(new URL(api.auth.getRefreshUrl({ redirect: '/x' })).pathname, '/refresh');
  });
});
