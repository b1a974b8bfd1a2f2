// The SDK in a browser page: every request it makes must pass the CORS
// preflight with the headers it sets (Content-Type: application/json,
// X-Publishable-Key, X-Clerk-Token, Authorization), and every answer,
// errors included, must be readable by the page, or the SDK sees
// "Failed to fetch" instead of its DreamAPIException.

import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';

import { emulateBrowser, email, lastExchange, rejectsDream, useServer } from '../lib/harness.mjs';

const srv = useServer();
const ORIGIN = 'https://app.example';

before(() => emulateBrowser(ORIGIN));
after(() => emulateBrowser(null));

function assertCors() {
  const e = lastExchange();
  assert.ok(e.preflight, 'a preflight was made');
  assert.equal(e.responseHeaders.get('access-control-allow-origin'), ORIGIN, 'the origin is echoed');
  assert.match(e.responseHeaders.get('vary') || '', /Origin/i, 'Vary: Origin');
}

describe('front-end mode from a page on another origin', () => {
  test('catalogue: listTiers, list, cartCheckout', async () => {
    const saas = srv.frontend(srv.saas);
    assert.equal((await saas.products.listTiers()).tiers.length, 3);
    assertCors();
    const store = srv.frontend(srv.store);
    const { products } = await store.products.list();
    assertCors();
    const res = await store.products.cartCheckout({
      items: [{ priceId: products[0].priceId, quantity: 1 }],
      customerEmail: 'page@example.com',
    });
    assertCors();
    srv.assertEmulatorUrl(res.url, 'checkout');
    // Without return URLs, Pay goes back to the page's origin.
    const location = await srv.pay(res.url);
    assert.ok(location.startsWith(`${ORIGIN}/`), `back to the page's origin: ${location}`);
  });

  test('usage and billing with an end-user token; relative return URLs resolve against the origin', async () => {
    const { token } = await srv.mintToken(srv.saas, email('page'));
    const api = srv.frontend(srv.saas, token);
    assert.equal((await api.usage.track()).usage.count, 1);
    assertCors();
    assert.equal((await api.usage.check()).usageCount, 1);
    assertCors();
    const co = await api.billing.createCheckout({ tier: 'pro', successUrl: '/welcome', cancelUrl: '/pricing' });
    assertCors();
    const location = await srv.pay(co.url);
    assert.ok(location.startsWith(`${ORIGIN}/welcome`), `success URL resolved against the Origin: ${location}`);
    assert.equal((await api.usage.track()).usage.plan, 'pro');
    const portal = await api.billing.openPortal({ returnUrl: '/account' });
    assertCors();
    const html = await srv.page(portal.url);
    assert.ok(html.includes(`href="${ORIGIN}/account"`), 'the portal returns to the page');
  });

  test('errors are readable too: 401, 403 and 404 reach the SDK as DreamAPIException', async () => {
    await rejectsDream(srv.frontend(srv.saas, 'not-a-jwt').usage.track(), 401, 'Invalid or missing end-user token');
    assertCors();
    await rejectsDream(srv.frontend(srv.saas).dashboard.get(), 403, 'Forbidden');
    assertCors();
    await rejectsDream(srv.frontend({ publishableKey: 'pk_test_0000' }).products.list(), 401, 'Invalid publishable key');
    assertCors();
    const { token } = await srv.mintToken(srv.store, email('elsewhere'));
    await rejectsDream(srv.frontend(srv.saas, token).usage.check(), 403, 'Publishable key mismatch');
    assertCors();
  });
});

describe('backend mode through CORS (PATCH and DELETE need the preflight)', () => {
  test('customers.create/get/update/delete, dashboard.get, dashboard.getTotals', async () => {
    const api = srv.backend(srv.saas);
    const { customer } = await api.customers.create({ email: email('cors') });
    assertCors();
    await api.customers.get(customer.id);
    assertCors();
    await api.customers.update(customer.id, { plan: 'pro' });
    assertCors();
    assert.deepEqual(lastExchange().preflight.problems, []);
    await api.customers.delete(customer.id);
    assertCors();
    await api.dashboard.get();
    assertCors();
    await api.dashboard.getTotals();
    assertCors();
  });
});
