// The per-user rate limit as the SDK reports it: 429 "Rate limit exceeded".
// This file's server runs with a limit of 5 requests a minute.

import { describe, test } from 'node:test';
import assert from 'node:assert/strict';

import { email, lastExchange, rejectsDream, useServer } from '../lib/harness.mjs';

const LIMIT = 5;
const srv = useServer({ env: { DREAM_RATE_LIMIT_PER_MINUTE: String(LIMIT) } });

describe('rate limit', () => {
  test(`the ${LIMIT + 1}th end-user call in a minute: 429 "Rate limit exceeded" with Retry-After`, async () => {
    const who = email('busy');
    const api = srv.frontend(srv.saas, (await srv.mintToken(srv.saas, who)).token);
    for (let i = 0; i < LIMIT; i++) {
      if (i % 2) await api.usage.check();
      else await api.usage.track();
      assert.ok(lastExchange().responseHeaders.get('ratelimit-limit'), 'RateLimit-Limit header');
    }
    const err = await rejectsDream(api.usage.track(), 429, 'Rate limit exceeded', `call #${LIMIT + 1}`);
    assert.equal(typeof err.message, 'string');
    const retryAfter = Number(lastExchange().responseHeaders.get('retry-after'));
    assert.ok(retryAfter > 0 && retryAfter <= 60, `Retry-After ${retryAfter}`);
    const body = JSON.parse(lastExchange().responseBody);
    assert.equal(typeof body.retryAfter, 'number', 'the body carries retryAfter');
    await rejectsDream(api.usage.check(), 429, 'Rate limit exceeded', 'check too');
    await rejectsDream(api.billing.createCheckout({ tier: 'pro' }), 429, 'Rate limit exceeded', 'checkout too');
    // The refused track did not count.
    // (Checked below through another project: the limit is per project.)

    // Another end user, and the same email in another project, are not limited.
    const other = srv.frontend(srv.saas, (await srv.mintToken(srv.saas, email('idle'))).token);
    assert.equal((await other.usage.track()).usage.count, 1);
    const elsewhere = srv.frontend(srv.membership, (await srv.mintToken(srv.membership, who)).token);
    assert.equal((await elsewhere.usage.track()).usage.count, 1);

    // Routes without an end user are not rate limited.
    for (let i = 0; i < LIMIT + 2; i++) await api.products.listTiers();
  });
});
