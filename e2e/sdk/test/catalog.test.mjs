// products.listTiers and products.list, in front-end and backend mode.

import { describe, test } from 'node:test';
import assert from 'node:assert/strict';

import { DreamAPI, lastExchange, useServer } from '../lib/harness.mjs';

const srv = useServer();

describe('products.listTiers', () => {
  test('SaaS, front-end mode: free, pro, enterprise with cent prices and "unlimited"', async () => {
    const api = srv.frontend(srv.saas);
    const { tiers } = await api.products.listTiers();
    const sent = lastExchange();
    assert.equal(sent.method, 'GET');
    assert.equal(sent.url, `${srv.baseUrl}/api/tiers`);
    assert.equal(sent.headers['X-Publishable-Key'], srv.saas.publishableKey);
    assert.equal(sent.headers.Authorization, undefined, 'front-end mode sends no secret key');

    assert.ok(Array.isArray(tiers));
    assert.deepEqual(tiers.map((t) => t.id), ['free', 'pro', 'enterprise']);
    assert.deepEqual(tiers.map((t) => t.name), ['Free', 'Pro', 'Enterprise']);
    assert.deepEqual(tiers.map((t) => t.displayName), ['Free', 'Pro', 'Enterprise']);
    assert.deepEqual(tiers.map((t) => t.price), [0, 2900, 9900]);
    assert.deepEqual(tiers.map((t) => t.limit), [100, 10000, 'unlimited']);
    for (const t of tiers) {
      assert.equal(t.billingMode, 'subscription');
      assert.match(t.priceId, /^price_/);
      assert.equal(t.stripePriceId, t.priceId);
      assert.match(t.productId, /^prod_/);
      assert.ok(Array.isArray(t.features) && t.features.length > 0, `${t.id} has features`);
      assert.equal(typeof t.popular, 'boolean');
      assert.equal(t.inventory, null);
      assert.equal(t.soldOut, false);
    }
    assert.equal(tiers.find((t) => t.id === 'pro').popular, true);
    assert.equal(new Set(tiers.map((t) => t.priceId)).size, 3, 'every tier has its own price');
  });

  test('SaaS, backend mode: the same tiers with the secret key', async () => {
    const front = await srv.frontend(srv.saas).products.listTiers();
    const api = srv.backend(srv.saas);
    const back = await api.products.listTiers();
    const sent = lastExchange();
    assert.equal(sent.headers.Authorization, `Bearer ${srv.saas.secretKey}`);
    assert.equal(sent.headers['X-Publishable-Key'], srv.saas.publishableKey);
    assert.deepEqual(back, front);
  });

  test('SaaS, backend mode with the secret key only (no publishable key)', async () => {
    const api = new DreamAPI({ secretKey: srv.saas.secretKey, baseUrl: srv.baseUrl });
    const { tiers } = await api.products.listTiers();
    assert.equal(lastExchange().headers['X-Publishable-Key'], undefined);
    assert.deepEqual(tiers.map((t) => t.id), ['free', 'pro', 'enterprise']);
  });

  test('membership: free (limit 100) and member ($9, unlimited, 7-day trial)', async () => {
    const { tiers } = await srv.frontend(srv.membership).products.listTiers();
    const free = tiers.find((t) => t.id === 'free');
    const member = tiers.find((t) => t.id === 'member');
    assert.ok(free && member, `tiers: ${JSON.stringify(tiers.map((t) => t.id))}`);
    assert.equal(free.limit, 100);
    assert.equal(free.price, 0);
    assert.equal(member.limit, 'unlimited');
    assert.equal(member.price, 900);
    assert.equal(member.trialDays, 7);
  });

  test('store: the one-off products are tiers too', async () => {
    const { tiers } = await srv.frontend(srv.store).products.listTiers();
    assert.deepEqual(tiers.map((t) => t.id), ['tshirt', 'poster', 'ebook']);
    for (const t of tiers) assert.equal(t.billingMode, 'one_off');
    assert.deepEqual(tiers.map((t) => t.inventory), [5, 0, null]);
    assert.deepEqual(tiers.map((t) => t.soldOut), [false, true, false]);
  });
});

describe('products.list', () => {
  const expectStore = (products) => {
    assert.ok(Array.isArray(products));
    assert.deepEqual(products.map((p) => p.key), ['tshirt', 'poster', 'ebook']);
    assert.deepEqual(products.map((p) => p.inventory), [5, 0, null]);
    assert.deepEqual(products.map((p) => p.soldOut), [false, true, false]);
    for (const p of products) {
      assert.equal(typeof p.name, 'string');
      assert.equal(p.displayName, p.name);
      assert.equal(typeof p.description, 'string');
      assert.equal(typeof p.price, 'number');
      assert.ok(Number.isInteger(p.price) && p.price > 0, `${p.key} price in cents: ${p.price}`);
      assert.equal(p.currency, 'usd');
      assert.match(p.priceId, /^price_/);
      assert.match(p.productId, /^prod_/);
      assert.equal(p.id, p.productId);
      assert.ok(Array.isArray(p.features));
    }
  };

  test('store, front-end mode: tshirt 5 in stock, poster sold out, ebook unlimited', async () => {
    const { products } = await srv.frontend(srv.store).products.list();
    assert.equal(lastExchange().url, `${srv.baseUrl}/api/products`);
    expectStore(products);
  });

  test('store, backend mode: the same products', async () => {
    const front = await srv.frontend(srv.store).products.list();
    const back = await srv.backend(srv.store).products.list();
    expectStore(back.products);
    assert.deepEqual(back, front);
  });

  test('SaaS has no one-off products', async () => {
    const { products } = await srv.frontend(srv.saas).products.list();
    assert.deepEqual(products, []);
  });

  test("backend mode: a secret key narrowed to a sibling project by its publishable key reads that project's catalogue", async () => {
    // The SaaS secret key with the store's publishable key: same developer, same mode.
    const api = srv.backend(srv.saas, undefined, srv.store.publishableKey);
    const { products } = await api.products.list();
    expectStore(products);
    const { tiers } = await api.products.listTiers();
    assert.deepEqual(tiers.map((t) => t.id), ['tshirt', 'poster', 'ebook']);
  });
});
