// The store: products.cartCheckout through the payments emulator, stock,
// and the store's dashboard. The tests of this file run in order and build
// on each other (one server per file).

import { describe, test } from 'node:test';
import assert from 'node:assert/strict';

import { lastExchange, rejectsDream, useServer } from '../lib/harness.mjs';

const srv = useServer();

const product = async (key) => {
  const { products } = await srv.frontend(srv.store).products.list();
  const p = products.find((x) => x.key === key);
  assert.ok(p, `product ${key} in ${JSON.stringify(products.map((x) => x.key))}`);
  return p;
};

const buyer = 'buyer@example.com';
const paid = []; // {amount, email} of every paid cart, for the dashboard

describe('products.cartCheckout', () => {
  test('front-end mode: two t-shirts by price id; paying takes them from stock', async () => {
    const tshirt = await product('tshirt');
    assert.equal(tshirt.inventory, 5);
    const api = srv.frontend(srv.store);
    const successUrl = 'https://shop.example/thanks';
    const cancelUrl = 'https://shop.example/cart';
    const res = await api.products.cartCheckout({
      items: [{ priceId: tshirt.priceId, quantity: 2 }],
      customerEmail: buyer,
      customerName: 'Ada Buyer',
      successUrl,
      cancelUrl,
    });
    const sent = lastExchange();
    assert.equal(sent.method, 'POST');
    assert.equal(sent.url, `${srv.baseUrl}/api/cart/checkout`);
    assert.deepEqual(JSON.parse(sent.body), {
      items: [{ priceId: tshirt.priceId, quantity: 2 }],
      email: buyer,
      name: 'Ada Buyer',
      successUrl,
      cancelUrl,
    });
    assert.equal(sent.headers['X-Clerk-Token'], undefined, 'guest checkout: no end-user token');

    srv.assertEmulatorUrl(res.url, 'checkout');
    assert.equal(typeof res.sessionId, 'string');
    assert.ok(res.url.endsWith(res.sessionId), `${res.url} names session ${res.sessionId}`);

    const html = await srv.page(res.url);
    assert.match(html, /Dream T-shirt/);
    assert.match(html, /50\.00/, 'two t-shirts at 25.00');

    // The checkout holds its two t-shirts until it is paid or expires.
    const held = await product('tshirt');
    assert.equal(held.inventory, 3);
    assert.equal(held.soldOut, false);

    const location = await srv.pay(res.url);
    assert.ok(location?.startsWith(successUrl), `Pay returns to the success URL: ${location}`);
    paid.push({ amount: 5000, email: buyer });

    const after = await product('tshirt');
    assert.equal(after.inventory, 3);
    assert.equal(after.soldOut, false);
  });

  test('paying the same session twice takes stock once', async () => {
    // Redelivery of the same paid session must not take stock again; a
    // second Pay of a paid session is refused or ignored.
    const tshirt = await product('tshirt');
    const res = await srv.frontend(srv.store).products.cartCheckout({
      items: [{ priceId: tshirt.priceId, quantity: 1 }],
      customerEmail: buyer,
    });
    await srv.pay(res.url);
    paid.push({ amount: 2500, email: buyer });
    assert.equal((await product('tshirt')).inventory, 2);
    await fetch(`${res.url}/pay`, { method: 'POST', redirect: 'manual' }).then((r) => r.text());
    assert.equal((await product('tshirt')).inventory, 2);
  });

  test('backend mode: the e-book by product id and by key; unlimited stock stays unlimited', async () => {
    const ebook = await product('ebook');
    const api = srv.backend(srv.store);
    const byId = await api.products.cartCheckout({ items: [{ productId: ebook.productId, quantity: 1 }] });
    assert.equal(lastExchange().headers.Authorization, `Bearer ${srv.store.secretKey}`);
    srv.assertEmulatorUrl(byId.url, 'checkout');
    const byKey = await api.products.cartCheckout({
      items: [{ tier: 'ebook', quantity: 3 }],
      customerEmail: 'reader@example.com',
    });
    srv.assertEmulatorUrl(byKey.url, 'checkout');
    assert.notEqual(byKey.sessionId, byId.sessionId);
    await srv.pay(byKey.url);
    paid.push({ amount: 2700, email: 'reader@example.com' });
    const after = await product('ebook');
    assert.equal(after.inventory, null);
    assert.equal(after.soldOut, false);
  });

  test('an unpaid checkout holds its stock until it expires', async () => {
    const tshirt = await product('tshirt');
    const res = await srv.frontend(srv.store).products.cartCheckout({
      items: [{ priceId: tshirt.priceId, quantity: 1 }],
    });
    srv.assertEmulatorUrl(res.url, 'checkout');
    assert.equal((await product('tshirt')).inventory, tshirt.inventory - 1);
    // A day on, the checkout has expired and its t-shirt is back.
    await srv.advanceClock(1);
    assert.equal((await product('tshirt')).inventory, tshirt.inventory);
  });

  test('duplicate lines are summed before the stock check', async () => {
    const tshirt = await product('tshirt');
    assert.equal(tshirt.inventory, 2);
    await rejectsDream(
      srv.frontend(srv.store).products.cartCheckout({
        items: [
          { priceId: tshirt.priceId, quantity: 2 },
          { priceId: tshirt.priceId, quantity: 1 },
        ],
      }),
      400,
      'Not enough inventory for Dream T-shirt',
      'two lines of 2 + 1 t-shirts with 2 in stock',
    );
  });

  test('refusals: sold out, too many, unknown item, no items', async () => {
    const api = srv.frontend(srv.store);
    const poster = await product('poster');
    await rejectsDream(
      api.products.cartCheckout({ items: [{ priceId: poster.priceId, quantity: 1 }] }),
      400,
      'Item sold out: Launch poster',
      'sold-out poster',
    );
    const tshirt = await product('tshirt');
    await rejectsDream(
      api.products.cartCheckout({ items: [{ priceId: tshirt.priceId, quantity: 3 }] }),
      400,
      'Not enough inventory for Dream T-shirt',
      '3 t-shirts with 2 in stock',
    );
    await rejectsDream(
      api.products.cartCheckout({ items: [{ priceId: 'price_nope', quantity: 1 }] }),
      400,
      'Invalid item: price_nope',
      'unknown price',
    );
    await rejectsDream(api.products.cartCheckout({ items: [] }), 400, 'No items provided', 'empty cart');
  });

  test("a SaaS project's cart cannot buy the store's products", async () => {
    const tshirt = await product('tshirt');
    await rejectsDream(
      srv.frontend(srv.saas).products.cartCheckout({ items: [{ priceId: tshirt.priceId, quantity: 1 }] }),
      400,
      `Invalid item: ${tshirt.priceId}`,
      'store price through the SaaS key',
    );
  });
});

describe('dashboard.get (store)', () => {
  test('original names: metrics.storeSalesCount, storeTotalRevenue, stock', async () => {
    const d = await srv.backend(srv.store).dashboard.get();
    assert.equal(lastExchange().url, `${srv.baseUrl}/api/dashboard`);
    const m = d.metrics;
    assert.equal(typeof m, 'object', 'metrics object');
    const revenue = paid.reduce((s, p) => s + p.amount, 0);
    assert.equal(m.storeSalesCount, paid.length);
    assert.equal(m.storeTotalRevenue, revenue);
    assert.equal(m.lowStockProducts, 1, 'the t-shirt, 2 left');
    assert.equal(m.totalInventory, 2, 't-shirt 2 + poster 0');
    assert.equal(m.activeSubs, 0);
    assert.equal(m.mrr, 0);
    assert.ok(Array.isArray(d.tiers));
    assert.deepEqual(d.tiers.map((t) => t.displayName).sort(), ['Dream T-shirt', 'Indie SaaS e-book', 'Launch poster']);
    const tshirt = d.tiers.find((t) => t.inventory === 2);
    assert.ok(tshirt, `a tier with inventory 2 in ${JSON.stringify(d.tiers)}`);
    assert.equal(typeof d.webhook, 'object');
    assert.ok(Array.isArray(d.webhook.recent));
    assert.ok(d.webhook.recent.some((e) => e.type === 'checkout.session.completed'));
  });

  test("SDK names: totalSales, totalRevenue, avgOrderValue, orders, products", async () => {
    const d = await srv.backend(srv.store).dashboard.get();
    const revenue = paid.reduce((s, p) => s + p.amount, 0);
    assert.equal(d.totalSales, paid.length, 'totalSales');
    assert.equal(d.totalRevenue, revenue, 'totalRevenue (cents)');
    assert.equal(typeof d.avgOrderValue, 'number');
    assert.ok(Math.abs(d.avgOrderValue - revenue / paid.length) <= 1, `avgOrderValue ${d.avgOrderValue}`);
    assert.equal(d.activeSubscriptions, 0);
    assert.equal(d.mrr, 0);

    assert.ok(Array.isArray(d.orders) && d.orders.length === paid.length, `orders: ${JSON.stringify(d.orders)}`);
    for (const o of d.orders) {
      // The SDK's Order: customer, email, amount, paymentId, date.
      assert.equal(typeof o.email, 'string');
      assert.equal(typeof o.amount, 'number');
      assert.equal(typeof o.paymentId, 'string');
      assert.equal(typeof o.date, 'string');
      assert.ok(!Number.isNaN(Date.parse(o.date)), `order date parses: ${o.date}`);
      assert.ok('customer' in o, 'order.customer');
    }
    assert.deepEqual(d.orders.map((o) => o.amount).sort((a, b) => a - b), paid.map((p) => p.amount).sort((a, b) => a - b));
    assert.ok(d.orders.some((o) => o.email === buyer));

    assert.ok(Array.isArray(d.products), 'products');
    const byName = Object.fromEntries(d.products.map((p) => [p.name, p]));
    assert.equal(byName['Dream T-shirt']?.inventory, 2, JSON.stringify(d.products));
    assert.equal(byName['Launch poster']?.soldOut, true);
    assert.equal(byName['Indie SaaS e-book']?.inventory, null);

    assert.equal(typeof d.webhookStatus, 'object');
    assert.ok(Array.isArray(d.webhookStatus.recentEvents));
    assert.ok(d.webhookStatus.recentEvents.some((e) => e.type === 'checkout.session.completed'));
  });

  test("the store's dashboard does not see another project's orders", async () => {
    const d = await srv.backend(srv.saas).dashboard.get();
    assert.equal(d.totalSales ?? 0, 0);
    assert.equal(d.totalRevenue ?? 0, 0);
    assert.deepEqual(d.orders ?? [], []);
    assert.equal(d.metrics.storeSalesCount, 0);
  });
});
