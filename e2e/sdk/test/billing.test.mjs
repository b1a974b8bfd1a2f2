// billing.createCheckout and billing.openPortal through the payments
// emulator, the SaaS dashboard they feed, and dashboard.getTotals. The
// tests of this file run in order and build on each other (one server per
// file).

import { describe, test } from 'node:test';
import assert from 'node:assert/strict';

import { email, lastExchange, rejectsDream, useServer } from '../lib/harness.mjs';

const srv = useServer();

// The end user who upgrades to pro in the front end.
const ada = { email: email('ada'), token: '', userId: '', api: null, portalUrl: '' };
// The end user who upgrades to enterprise through the backend.
const bob = { email: email('bob'), token: '', userId: '', api: null };

/** The forms of an emulator portal page: [{action, fields, label}]. */
function forms(html) {
  const out = [];
  for (const m of html.matchAll(/<form[^>]*action="([^"]+)"[^>]*>([\s\S]*?)<\/form>/g)) {
    const fields = {};
    for (const i of m[2].matchAll(/<input[^>]*name="([^"]+)"[^>]*value="([^"]*)"/g)) fields[i[1]] = i[2];
    out.push({ action: m[1].replace(/&amp;/g, '&'), fields, label: m[2].replace(/<[^>]+>/g, ' ').trim() });
  }
  return out;
}

describe('billing.createCheckout, front-end mode', () => {
  test('tier pro: a checkout page of this server, not paid yet', async () => {
    ({ token: ada.token, userId: ada.userId } = await srv.mintToken(srv.saas, ada.email));
    ada.api = srv.frontend(srv.saas, ada.token);
    assert.equal((await ada.api.usage.track()).usage.plan, 'free');

    const res = await ada.api.billing.createCheckout({
      tier: 'pro',
      successUrl: 'https://app.example/billing?ok=1',
      cancelUrl: 'https://app.example/pricing',
    });
    const sent = lastExchange();
    assert.equal(sent.method, 'POST');
    assert.equal(sent.url, `${srv.baseUrl}/api/create-checkout`);
    assert.equal(sent.headers['X-Clerk-Token'], ada.token);
    assert.deepEqual(JSON.parse(sent.body), {
      tier: 'pro',
      successUrl: 'https://app.example/billing?ok=1',
      cancelUrl: 'https://app.example/pricing',
    });
    srv.assertEmulatorUrl(res.url, 'checkout');
    assert.equal(typeof res.sessionId, 'string');

    const html = await srv.page(res.url);
    assert.match(html, /Pro/);
    assert.match(html, /29\.00/);
    assert.equal((await ada.api.usage.check()).plan, 'free', 'nothing changes before paying');
    ada.checkoutUrl = res.url;
  });

  test('paying makes the same SDK instance pro at once, without a new token', async () => {
    const location = await srv.pay(ada.checkoutUrl);
    assert.ok(location?.startsWith('https://app.example/billing?ok=1'), `back to successUrl: ${location}`);
    const t = await ada.api.usage.track();
    assert.equal(t.usage.plan, 'pro');
    assert.equal(t.usage.limit, 10000);
    assert.equal(t.usage.count, 2, 'the upgrade keeps the count');
    assert.equal(t.usage.remaining, 9998);
    const c = await ada.api.usage.check();
    assert.equal(c.plan, 'pro');
    assert.equal(c.limit, 10000);
    assert.equal(c.usageCount, 2);
  });

  test('by priceId only: the tier follows the price', async () => {
    const { tiers } = await srv.frontend(srv.saas).products.listTiers();
    const ent = tiers.find((t) => t.id === 'enterprise');
    const api = srv.frontend(srv.saas, (await srv.mintToken(srv.saas, email('byprice'))).token);
    const res = await api.billing.createCheckout({ priceId: ent.priceId });
    srv.assertEmulatorUrl(res.url, 'checkout');
    assert.match(await srv.page(res.url), /99\.00/);
  });

  test('no params: the default tier (pro); relative return URLs are accepted', async () => {
    const api = srv.frontend(srv.saas, (await srv.mintToken(srv.saas, email('default'))).token);
    const res = await api.billing.createCheckout({});
    srv.assertEmulatorUrl(res.url, 'checkout');
    assert.match(await srv.page(res.url), /29\.00/);
    const rel = await api.billing.createCheckout({ tier: 'pro', successUrl: '/done', cancelUrl: '/pricing' });
    srv.assertEmulatorUrl(rel.url, 'checkout');
  });

  test('refusals: unknown tier, a price of no tier, a price of another tier', async () => {
    const api = srv.frontend(srv.saas, (await srv.mintToken(srv.saas, email('refused'))).token);
    await rejectsDream(
      api.billing.createCheckout({ tier: 'platinum' }),
      400,
      'No price ID configured for tier: platinum',
      'unknown tier',
    );
    await rejectsDream(api.billing.createCheckout({ priceId: 'price_cheap' }), 400, 'Invalid price', 'foreign price');
    const { tiers } = await srv.frontend(srv.saas).products.listTiers();
    await rejectsDream(
      api.billing.createCheckout({ tier: 'enterprise', priceId: tiers.find((t) => t.id === 'pro').priceId }),
      400,
      'Invalid price',
      "pro's price named enterprise",
    );
  });
});

describe('billing.createCheckout, backend mode', () => {
  test('secret key + token: enterprise checkout, paid, unlimited', async () => {
    ({ token: bob.token, userId: bob.userId } = await srv.mintToken(srv.saas, bob.email));
    bob.api = srv.backend(srv.saas, bob.token);
    const res = await bob.api.billing.createCheckout({ tier: 'enterprise', successUrl: 'https://app.example/ok' });
    assert.equal(lastExchange().headers.Authorization, `Bearer ${srv.saas.secretKey}`);
    srv.assertEmulatorUrl(res.url, 'checkout');
    await srv.pay(res.url);
    const t = await bob.api.usage.track();
    assert.equal(t.usage.plan, 'enterprise');
    assert.equal(t.usage.limit, 'unlimited');
    assert.equal(t.usage.remaining, 'unlimited');
  });
});

describe('membership: a trial subscription entitles at once', () => {
  test('member checkout with a 7-day trial; paying makes the plan member', async () => {
    const api = srv.frontend(srv.membership, (await srv.mintToken(srv.membership, email('member'))).token);
    const res = await api.billing.createCheckout({ tier: 'member', successUrl: 'https://club.example/welcome' });
    srv.assertEmulatorUrl(res.url, 'checkout');
    assert.match(await srv.page(res.url), /9\.00/);
    await srv.pay(res.url);
    const t = await api.usage.track();
    assert.equal(t.usage.plan, 'member');
    assert.equal(t.usage.limit, 'unlimited');
  });
});

describe('dashboard.get (SaaS) after the upgrades', () => {
  test('original names: metrics, tiers, customers, webhook', async () => {
    const d = await srv.backend(srv.saas).dashboard.get();
    assert.equal(lastExchange().url, `${srv.baseUrl}/api/dashboard`);
    const m = d.metrics;
    assert.equal(typeof m, 'object');
    for (const k of ['activeSubs', 'cancelingSubs', 'mrr', 'usageThisPeriod', 'storeSalesCount', 'storeTotalRevenue', 'lowStockProducts', 'totalInventory']) {
      assert.equal(typeof m[k], 'number', `metrics.${k}`);
    }
    assert.equal(m.activeSubs, 2, 'ada (pro) and bob (enterprise)');
    assert.equal(m.cancelingSubs, 0);
    assert.equal(m.mrr, 2900 + 9900);
    assert.ok(m.usageThisPeriod >= 3, `usageThisPeriod ${m.usageThisPeriod}`);
    assert.equal(m.storeSalesCount, 0);

    assert.ok(Array.isArray(d.tiers));
    assert.deepEqual(d.tiers.map((t) => t.price), [0, 2900, 9900]);
    assert.deepEqual(d.tiers.map((t) => t.limit), [100, 10000, 'unlimited']);

    assert.equal(typeof d.webhook, 'object');
    assert.ok(Array.isArray(d.webhook.recent) && d.webhook.recent.length > 0, 'webhook.recent');
    for (const e of d.webhook.recent) {
      assert.equal(typeof e.type, 'string');
      assert.equal(typeof e.createdAt, 'string');
    }
    assert.equal(typeof d.webhook.lastEventAt, 'string');
  });

  test("SDK names: activeSubscriptions, mrr, customers, tiers, webhookStatus", async () => {
    const d = await srv.backend(srv.saas).dashboard.get();
    assert.ok(d.activeSubscriptions >= 1, `activeSubscriptions ${d.activeSubscriptions}`);
    assert.equal(d.activeSubscriptions, d.metrics.activeSubs);
    assert.equal(d.cancelingSubscriptions, 0);
    assert.ok(d.mrr >= 2900, `mrr ${d.mrr}`);
    assert.equal(d.mrr, d.metrics.mrr);
    assert.equal(d.usageThisPeriod, d.metrics.usageThisPeriod);

    assert.ok(Array.isArray(d.customers));
    const a = d.customers.find((c) => c.id === ada.userId);
    assert.ok(a, `ada (${ada.userId}) among customers ${JSON.stringify(d.customers.map((c) => c.id))}`);
    assert.equal(a.email, ada.email);
    assert.equal(a.plan, 'pro');
    assert.equal(a.usage, 2);
    assert.equal(a.limit, 10000);
    assert.equal(a.status, 'active');
    const b = d.customers.find((c) => c.id === bob.userId);
    assert.ok(b, 'bob among customers');
    assert.equal(b.plan, 'enterprise');
    assert.equal(b.limit, 'unlimited');
    for (const c of d.customers) {
      assert.equal(typeof c.id, 'string');
      assert.equal(typeof c.plan, 'string');
      assert.equal(typeof c.usage, 'number');
      assert.equal(typeof c.status, 'string');
    }

    const ws = d.webhookStatus;
    assert.equal(typeof ws, 'object');
    assert.equal(typeof ws.url, 'string');
    assert.match(ws.url, /\/webhook\/stripe$/, `webhookStatus.url ${ws.url}`);
    assert.ok(Array.isArray(ws.recentEvents) && ws.recentEvents.length > 0);
    for (const e of ws.recentEvents) {
      assert.equal(typeof e.type, 'string');
      assert.equal(typeof e.timestamp, 'string');
    }
    assert.ok(ws.recentEvents.some((e) => e.type === 'checkout.session.completed'));
    if (ws.lastEvent !== undefined) assert.equal(typeof ws.lastEvent, 'string');
  });
});

describe('billing.openPortal', () => {
  test('without a subscription: 400 "No active subscription found"', async () => {
    const api = srv.frontend(srv.saas, (await srv.mintToken(srv.saas, email('nosub'))).token);
    await rejectsDream(api.billing.openPortal({ returnUrl: 'https://app.example' }), 400, 'No active subscription found');
  });

  test('front-end mode: {returnUrl} → a portal page of this server that links back', async () => {
    const returnUrl = 'https://app.example/account';
    const res = await ada.api.billing.openPortal({ returnUrl });
    const sent = lastExchange();
    assert.equal(sent.url, `${srv.baseUrl}/api/customer-portal`);
    assert.deepEqual(JSON.parse(sent.body), { returnUrl });
    srv.assertEmulatorUrl(res.url, 'portal');
    const html = await srv.page(res.url);
    assert.ok(html.includes(`href="${returnUrl}"`), 'the portal links back to returnUrl');
    assert.match(html, /active/);
    ada.portalUrl = res.url;
  });

  test('no params and backend mode also open the portal', async () => {
    srv.assertEmulatorUrl((await ada.api.billing.openPortal()).url, 'portal');
    const back = srv.backend(srv.saas, ada.token);
    const res = await back.billing.openPortal({ returnUrl: 'https://app.example/x' });
    assert.equal(lastExchange().headers.Authorization, `Bearer ${srv.saas.secretKey}`);
    srv.assertEmulatorUrl(res.url, 'portal');
  });

  test('cancel at period end in the portal: still pro, shown as canceling', async () => {
    const html = await srv.page(ada.portalUrl);
    const cancel = forms(html).find((f) => /\/subscriptions\/[^/]+\/cancel$/.test(f.action));
    assert.ok(cancel, `a cancel form in ${JSON.stringify(forms(html))}`);
    await srv.submitForm(cancel.action, cancel.fields);
    assert.match(await srv.page(ada.portalUrl), /canceling/);

    const t = await ada.api.usage.track();
    assert.equal(t.usage.plan, 'pro', 'a canceling subscription keeps the plan until the period ends');
    assert.equal(t.usage.limit, 10000);
  });

  test('dashboard.get while canceling: cancelingSubscriptions 1, the customer still pro', async () => {
    const d = await srv.backend(srv.saas).dashboard.get();
    assert.equal(d.metrics.cancelingSubs, 1);
    assert.equal(d.cancelingSubscriptions, 1);
    const a = d.customers.find((c) => c.id === ada.userId);
    assert.equal(a?.plan, 'pro');
  });

  test('resume, then switch to enterprise in the portal: the plan follows the price', async () => {
    let html = await srv.page(ada.portalUrl);
    const resume = forms(html).find((f) => f.action.endsWith('/resume'));
    assert.ok(resume, 'a resume form');
    await srv.submitForm(resume.action, resume.fields);
    html = await srv.page(ada.portalUrl);
    assert.doesNotMatch(html, /canceling/);
    const { tiers } = await srv.frontend(srv.saas).products.listTiers();
    const entPrice = tiers.find((t) => t.id === 'enterprise').priceId;
    const sw = forms(html).find((f) => f.action.endsWith('/switch') && f.fields.price === entPrice);
    assert.ok(sw, 'a switch-to-enterprise form');
    await srv.submitForm(sw.action, sw.fields);
    const c = await ada.api.usage.check();
    assert.equal(c.plan, 'enterprise');
    assert.equal(c.limit, 'unlimited');
  });

  test('cancel now: back to free, count kept', async () => {
    const html = await srv.page(ada.portalUrl);
    const now = forms(html).find((f) => f.action.endsWith('/cancel-now'));
    assert.ok(now, 'a cancel-now form');
    await srv.submitForm(now.action, now.fields);
    const t = await ada.api.usage.track();
    assert.equal(t.usage.plan, 'free');
    assert.equal(t.usage.limit, 100);
    assert.equal(t.usage.count, 4);
  });

  test('canceled at period end, then the period passes (emulator clock): back to free', async () => {
    const res = await bob.api.billing.openPortal({ returnUrl: 'https://app.example/account' });
    srv.assertEmulatorUrl(res.url, 'portal');
    const cancel = forms(await srv.page(res.url)).find((f) => /\/subscriptions\/[^/]+\/cancel$/.test(f.action));
    assert.ok(cancel, 'a cancel form');
    await srv.submitForm(cancel.action, cancel.fields);
    assert.equal((await bob.api.usage.check()).plan, 'enterprise');
    await srv.advanceClock(32);
    const t = await bob.api.usage.track();
    assert.equal(t.usage.plan, 'free');
    assert.equal(t.usage.limit, 100);
  });
});

describe('dashboard.getTotals', () => {
  test('backend mode: the original totals object and the SDK names, all zero in test mode', async () => {
    const res = await srv.backend(srv.saas).dashboard.getTotals();
    assert.equal(lastExchange().url, `${srv.baseUrl}/api/dashboard/totals`);
    assert.equal(typeof res.totals, 'object');
    assert.deepEqual(res.totals, { mrr: 0, activeSubs: 0, cancelingSubs: 0, totalProducts: 0, liveProjects: 0 });
    assert.equal(typeof res.platformId, 'string');
    assert.ok(res.platformId.length > 0);
    assert.equal(res.totalRevenue, 0);
    assert.equal(res.totalCustomers, 0);
    assert.equal(res.totalMRR, 0);
  });

  test("every project of the developer sees the same platform's totals", async () => {
    const a = await srv.backend(srv.saas).dashboard.getTotals();
    const b = await srv.backend(srv.store).dashboard.getTotals();
    assert.deepEqual(a, b);
  });
});
