// usage.track and usage.check, in front-end and backend mode, and the tier
// limit.

import { describe, test } from 'node:test';
import assert from 'node:assert/strict';

import { DATE, email, lastExchange, rejectsDream, useServer } from '../lib/harness.mjs';

const srv = useServer();

/** Today's date in UTC and the date 29 days later, as YYYY-MM-DD. */
function currentPeriod() {
  const start = new Date();
  const end = new Date(Date.UTC(start.getUTCFullYear(), start.getUTCMonth(), start.getUTCDate() + 29));
  return { start: start.toISOString().slice(0, 10), end: end.toISOString().slice(0, 10) };
}

function assertPeriod(u) {
  assert.match(u.periodStart, DATE, `periodStart ${u.periodStart}`);
  assert.match(u.periodEnd, DATE, `periodEnd ${u.periodEnd}`);
  const days = (Date.parse(u.periodEnd) - Date.parse(u.periodStart)) / 86_400_000;
  assert.equal(days, 29, `a 30-day window: ${u.periodStart} … ${u.periodEnd}`);
  const now = Date.now();
  assert.ok(
    Date.parse(u.periodStart) <= now && now <= Date.parse(u.periodEnd) + 86_400_000,
    `today lies in ${u.periodStart} … ${u.periodEnd}`,
  );
}

describe('usage.track / usage.check, front-end mode', () => {
  test('track counts one unit and answers count, usageCount, limit, remaining, plan and the period', async () => {
    const { token, userId } = await srv.mintToken(srv.saas, email('track'));
    const api = srv.frontend(srv.saas, token);

    const first = await api.usage.track();
    const sent = lastExchange();
    assert.equal(sent.method, 'POST');
    assert.equal(sent.url, `${srv.baseUrl}/api/data`);
    assert.equal(sent.body, undefined, 'the SDK sends no body');
    assert.equal(sent.headers['X-Clerk-Token'], token);
    assert.equal(sent.headers['X-Publishable-Key'], srv.saas.publishableKey);

    assert.equal(first.success, true);
    assert.equal(first.data?.message, 'Request processed successfully');
    const u = first.usage;
    assert.equal(u.count, 1, 'original name usage.count');
    assert.equal(u.usageCount, 1, "SDK's name usage.usageCount");
    assert.equal(u.limit, 100);
    assert.equal(u.remaining, 99);
    assert.equal(u.plan, 'free');
    assertPeriod(u);
    const { start, end } = currentPeriod();
    assert.equal(u.periodStart, start);
    assert.equal(u.periodEnd, end);

    const second = await api.usage.track();
    assert.equal(second.usage.count, 2);
    assert.equal(second.usage.usageCount, 2);
    assert.equal(second.usage.remaining, 98);

    const check = await api.usage.check();
    assert.equal(lastExchange().method, 'GET');
    assert.equal(lastExchange().url, `${srv.baseUrl}/api/usage`);
    // GET /api/usage is flat; the SDK returns body.usage || body.
    assert.deepEqual(Object.keys(check).sort(), [
      'limit',
      'periodEnd',
      'periodStart',
      'plan',
      'remaining',
      'usageCount',
      'userId',
    ]);
    assert.equal(check.userId, userId);
    assert.equal(check.plan, 'free');
    assert.equal(check.usageCount, 2);
    assert.equal(check.limit, 100);
    assert.equal(check.remaining, 98);
    assert.equal(check.periodStart, u.periodStart);
    assert.equal(check.periodEnd, u.periodEnd);
  });

  test('check does not count', async () => {
    const { token } = await srv.mintToken(srv.saas, email('check'));
    const api = srv.frontend(srv.saas, token);
    const a = await api.usage.check();
    const b = await api.usage.check();
    assert.equal(a.usageCount, 0);
    assert.equal(b.usageCount, 0);
    assert.equal(b.remaining, 100);
    assertPeriod(b);
  });

  test('the same email is the same end user, whatever token', async () => {
    const who = email('same');
    const one = await srv.mintToken(srv.saas, who);
    const two = await srv.mintToken(srv.saas, who);
    assert.equal(one.userId, two.userId);
    await srv.frontend(srv.saas, one.token).usage.track();
    const check = await srv.frontend(srv.saas, two.token).usage.check();
    assert.equal(check.usageCount, 1);
  });

  test('usage is kept per project', async () => {
    const who = email('projects');
    const saas = srv.frontend(srv.saas, (await srv.mintToken(srv.saas, who)).token);
    const member = srv.frontend(srv.membership, (await srv.mintToken(srv.membership, who)).token);
    await saas.usage.track();
    await saas.usage.track();
    await member.usage.track();
    assert.equal((await saas.usage.check()).usageCount, 2);
    assert.equal((await member.usage.check()).usageCount, 1);
  });

  test("the token's plan sets the limit: pro 10,000, enterprise unlimited", async () => {
    const pro = srv.frontend(srv.saas, (await srv.mintToken(srv.saas, email('pro'), 'pro')).token);
    const t = await pro.usage.track();
    assert.equal(t.usage.plan, 'pro');
    assert.equal(t.usage.limit, 10000);
    assert.equal(t.usage.remaining, 9999);

    const ent = srv.frontend(srv.saas, (await srv.mintToken(srv.saas, email('ent'), 'enterprise')).token);
    const e = await ent.usage.track();
    assert.equal(e.usage.plan, 'enterprise');
    assert.equal(e.usage.limit, 'unlimited');
    assert.equal(e.usage.remaining, 'unlimited');
    assert.equal(e.usage.count, 1);
    const c = await ent.usage.check();
    assert.equal(c.limit, 'unlimited');
    assert.equal(c.remaining, 'unlimited');
    assert.equal(c.usageCount, 1);
  });

  test('an unknown plan falls back to the free tier, never to limit 0', async () => {
    const api = srv.frontend(srv.saas, (await srv.mintToken(srv.saas, email('unknown'), 'platinum')).token);
    const t = await api.usage.track();
    assert.equal(t.usage.count, 1);
    assert.equal(t.usage.limit, 100);
    const c = await api.usage.check();
    assert.equal(c.limit, 100);
  });

  test('membership: free has 100, member is unlimited', async () => {
    const free = srv.frontend(srv.membership, (await srv.mintToken(srv.membership, email('mfree'))).token);
    assert.equal((await free.usage.track()).usage.limit, 100);
    const member = srv.frontend(srv.membership, (await srv.mintToken(srv.membership, email('mmember'), 'member')).token);
    const t = await member.usage.track();
    assert.equal(t.usage.plan, 'member');
    assert.equal(t.usage.limit, 'unlimited');
  });
});

describe('usage.track / usage.check, backend mode (secret key + end-user token)', () => {
  test('the secret key and a token act for the same end user as the front end', async () => {
    const { token, userId } = await srv.mintToken(srv.saas, email('backend'));
    const front = srv.frontend(srv.saas, token);
    const back = srv.backend(srv.saas, token);

    await front.usage.track();
    const t = await back.usage.track();
    const sent = lastExchange();
    assert.equal(sent.headers.Authorization, `Bearer ${srv.saas.secretKey}`);
    assert.equal(sent.headers['X-Clerk-Token'], token);
    assert.equal(t.success, true);
    assert.equal(t.usage.count, 2);
    assert.equal(t.usage.usageCount, 2);
    assert.equal(t.usage.limit, 100);
    assert.equal(t.usage.remaining, 98);
    assert.equal(t.usage.plan, 'free');
    assertPeriod(t.usage);

    const c = await back.usage.check();
    assert.equal(c.userId, userId);
    assert.equal(c.usageCount, 2);
    assert.deepEqual(c, await front.usage.check());
  });
});

describe('the tier limit', () => {
  test('a free user tracks 100 times; the 101st is refused with 403 "Tier limit reached"', async () => {
    const { token } = await srv.mintToken(srv.saas, email('limit'));
    const api = srv.frontend(srv.saas, token);
    let last;
    for (let i = 1; i <= 100; i++) {
      last = await api.usage.track();
      assert.equal(last.usage.count, i);
    }
    assert.equal(last.usage.usageCount, 100);
    assert.equal(last.usage.remaining, 0);

    const err = await rejectsDream(api.usage.track(), 403, 'Tier limit reached', 'track #101');
    assert.ok(err.message.length > 0);
    const body = JSON.parse(lastExchange().responseBody);
    assert.equal(body.usageCount, 100, 'the 403 body carries usageCount');
    assert.equal(body.limit, 100, 'the 403 body carries limit');

    // The refused call did not count, and a check still works.
    const c = await api.usage.check();
    assert.equal(c.usageCount, 100);
    assert.equal(c.remaining, 0);
    assert.equal(c.limit, 100);

    // Backend mode is refused the same way.
    await rejectsDream(
      srv.backend(srv.saas, token).usage.track(),
      403,
      'Tier limit reached',
      'backend track #102',
    );
  });
});
