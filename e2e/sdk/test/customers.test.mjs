// customers.create / get / update / delete in backend mode, and the
// isolation of one project's customers from another's. The tests of this
// file run in order and build on each other (one server per file).

import { describe, test } from 'node:test';
import assert from 'node:assert/strict';

import { email, lastExchange, rejectsDream, useServer } from '../lib/harness.mjs';

const srv = useServer();

const NOT_FOUND = ['Not found', 'Customer not found'];
const full = { email: email('full'), password: 'correct-horse-battery-1', firstName: 'Ada', lastName: 'Lovelace', plan: 'free' };
let created; // the customer created with every field
let minimal; // the customer created with an email only

/** The customer an earlier test created, or a clear failure if it did not. */
function need(customer, what) {
  assert.ok(customer, `needs the customer of "customers.create ${what}", which failed`);
  return customer;
}

describe('customers.create', () => {
  test('every field: 201 {success, customer{id,email,firstName,lastName,plan,publishableKey,createdAt}}', async () => {
    const before = Date.now();
    const res = await srv.backend(srv.saas).customers.create(full);
    const sent = lastExchange();
    assert.equal(sent.method, 'POST');
    assert.equal(sent.url, `${srv.baseUrl}/api/customers`);
    assert.equal(sent.headers.Authorization, `Bearer ${srv.saas.secretKey}`);
    assert.deepEqual(JSON.parse(sent.body), full);
    assert.equal(sent.status, 201);

    assert.equal(res.success, true);
    const c = res.customer;
    assert.equal(typeof c.id, 'string');
    assert.ok(c.id.length > 0);
    assert.equal(c.email, full.email);
    assert.equal(c.firstName, 'Ada');
    assert.equal(c.lastName, 'Lovelace');
    assert.equal(c.plan, 'free');
    assert.equal(c.publishableKey, srv.saas.publishableKey);
    assert.equal(typeof c.createdAt, 'number', 'createdAt is a number of ms');
    assert.ok(c.createdAt >= before - 60_000 && c.createdAt <= Date.now() + 60_000, `createdAt ${c.createdAt} is now`);
    assert.equal(c.password, undefined, 'the password is never echoed');
    created = c;
  });

  test('email only: 201, plan free', async () => {
    const res = await srv.backend(srv.saas).customers.create({ email: email('minimal') });
    assert.equal(lastExchange().status, 201);
    assert.equal(res.success, true);
    assert.equal(res.customer.plan, 'free');
    assert.equal(res.customer.firstName ?? undefined, undefined);
    assert.equal(res.customer.lastName ?? undefined, undefined);
    assert.equal(res.customer.publishableKey, srv.saas.publishableKey);
    minimal = res.customer;
  });

  test('email only: firstName/lastName are omitted, not null (SDK Customer.firstName?: string; spec §12.1)', async () => {
    const res = await srv.backend(srv.saas).customers.create({ email: email('omitted') });
    assert.ok(!('firstName' in res.customer), `firstName: ${JSON.stringify(res.customer.firstName)}`);
    assert.ok(!('lastName' in res.customer), `lastName: ${JSON.stringify(res.customer.lastName)}`);
  });

  test('with a plan', async () => {
    const res = await srv.backend(srv.saas).customers.create({ email: email('planned'), plan: 'pro' });
    assert.equal(res.customer.plan, 'pro');
  });

  test('refusals: an invalid email and a plan the project does not have are 400', async () => {
    await rejectsDream(srv.backend(srv.saas).customers.create({ email: 'not-an-email' }), 400, null, 'invalid email');
    await rejectsDream(
      srv.backend(srv.saas).customers.create({ email: email('platinum'), plan: 'platinum' }),
      400,
      null,
      'unknown plan',
    );
  });

  test('missing email: 400 "Missing required field"', async () => {
    await rejectsDream(srv.backend(srv.saas).customers.create({ firstName: 'No' }), 400, 'Missing required field');
  });

  test('the same email twice in a project: 409', async () => {
    const err = await rejectsDream(
      srv.backend(srv.saas).customers.create({ email: full.email }),
      409,
      null,
      'duplicate email',
    );
    assert.equal(typeof err.code, 'string');
  });

  test('the same email in another project is another customer', async () => {
    need(created, 'every field');
    const res = await srv.backend(srv.membership).customers.create({ email: full.email });
    assert.equal(res.customer.publishableKey, srv.membership.publishableKey);
    assert.notEqual(res.customer.id, created?.id);
  });
});

describe('customers.get', () => {
  test('answers {customer} with the stored fields', async () => {
    need(created, 'every field');
    const { customer } = await srv.backend(srv.saas).customers.get(created.id);
    assert.equal(lastExchange().url, `${srv.baseUrl}/api/customers/${created.id}`);
    assert.equal(lastExchange().method, 'GET');
    assert.equal(customer.id, created.id);
    assert.equal(customer.email, full.email);
    assert.equal(customer.firstName, 'Ada');
    assert.equal(customer.lastName, 'Lovelace');
    assert.equal(customer.plan, 'free');
    assert.equal(customer.publishableKey, srv.saas.publishableKey);
    assert.equal(typeof customer.createdAt, 'number');
    assert.ok(Math.abs(customer.createdAt - created.createdAt) < 60_000, 'createdAt is about the creation time');
  });

  test('createdAt is the same number in the create answer and in get', async () => {
    need(created, 'every field');
    const { customer } = await srv.backend(srv.saas).customers.get(created.id);
    assert.equal(customer.createdAt, created.createdAt, `create said ${created.createdAt}, get says ${customer.createdAt}`);
  });

  test('a customer without names: firstName/lastName null or absent', async () => {
    need(minimal, 'email only');
    const { customer } = await srv.backend(srv.saas).customers.get(minimal.id);
    assert.equal(customer.id, minimal.id);
    assert.equal(customer.firstName ?? null, null);
    assert.equal(customer.lastName ?? null, null);
  });

  test('an unknown id: 404', async () => {
    await rejectsDream(srv.backend(srv.saas).customers.get('user_doesnotexist'), 404, NOT_FOUND);
  });
});

describe('customers.update', () => {
  test('plan pro: {success, customer{id,email,plan}}; get shows it; the limit follows; usage is kept', async (t) => {
    need(created, 'every field');
    // A token for the customer's email. In dev mode the issuer and the
    // customers route may or may not share end users; if they do, the
    // customer's usage must survive the plan change.
    const { token, userId } = await srv.mintToken(srv.saas, full.email);
    const sameUser = userId === created.id;
    const user = srv.frontend(srv.saas, token);
    if (sameUser) {
      for (let i = 0; i < 3; i++) await user.usage.track();
      assert.equal((await user.usage.check()).usageCount, 3);
    } else {
      t.diagnostic(`dev token user ${userId} is not customer ${created.id}: usage-kept assertions skipped`);
    }

    const res = await srv.backend(srv.saas).customers.update(created.id, { plan: 'pro' });
    const sent = lastExchange();
    assert.equal(sent.method, 'PATCH');
    assert.equal(sent.url, `${srv.baseUrl}/api/customers/${created.id}`);
    assert.deepEqual(JSON.parse(sent.body), { plan: 'pro' });
    assert.equal(res.success, true);
    assert.equal(res.customer.id, created.id);
    assert.equal(res.customer.email, full.email);
    assert.equal(res.customer.plan, 'pro');

    assert.equal((await srv.backend(srv.saas).customers.get(created.id)).customer.plan, 'pro');

    if (sameUser) {
      const c = await user.usage.check();
      assert.equal(c.plan, 'pro', 'the plan set by PATCH is the effective plan');
      assert.equal(c.limit, 10000);
      assert.equal(c.usageCount, 3, 'a plan change never resets the count');
      const tr = await user.usage.track();
      assert.equal(tr.usage.count, 4);
      assert.equal(tr.usage.plan, 'pro');
    }
  });

  test('the dashboard lists the customer with its plan and usage', async () => {
    need(created, 'every field');
    need(minimal, 'email only');
    const d = await srv.backend(srv.saas).dashboard.get();
    const c = d.customers.find((x) => x.id === created.id);
    assert.ok(c, `customer ${created.id} in ${JSON.stringify(d.customers.map((x) => x.id))}`);
    assert.equal(c.email, full.email);
    assert.equal(c.plan, 'pro');
    assert.equal(c.limit, 10000);
    assert.equal(typeof c.usage, 'number');
    const { userId } = await srv.mintToken(srv.saas, full.email);
    if (userId === created.id) assert.equal(c.usage, 4, 'the usage tracked before and after the plan change');
    assert.ok(d.customers.some((x) => x.id === minimal.id), 'the minimal customer is listed');
  });
});

describe("isolation: another project's secret key", () => {
  test("the store's secret key cannot get, update or delete a SaaS customer (404)", async () => {
    need(created, 'every field');
    const store = srv.backend(srv.store);
    await rejectsDream(store.customers.get(created.id), 404, NOT_FOUND, 'get');
    await rejectsDream(store.customers.update(created.id, { plan: 'enterprise' }), 404, NOT_FOUND, 'update');
    await rejectsDream(store.customers.delete(created.id), 404, NOT_FOUND, 'delete');
    const { customer } = await srv.backend(srv.saas).customers.get(created.id);
    assert.equal(customer.plan, 'pro', 'unchanged');
  });

  test("the store's dashboard does not list the SaaS customers", async () => {
    need(created, 'every field');
    const d = await srv.backend(srv.store).dashboard.get();
    assert.ok(!d.customers.some((x) => x.id === created.id));
  });
});

describe('customers.delete', () => {
  test('answers {success, message, deleted{id,email}}; afterwards get is 404', async () => {
    need(created, 'every field');
    const res = await srv.backend(srv.saas).customers.delete(created.id);
    assert.equal(lastExchange().method, 'DELETE');
    assert.equal(lastExchange().url, `${srv.baseUrl}/api/customers/${created.id}`);
    assert.equal(lastExchange().body, undefined);
    assert.deepEqual(res, {
      success: true,
      message: 'Customer deleted successfully',
      deleted: { id: created.id, email: full.email },
    });
    await rejectsDream(srv.backend(srv.saas).customers.get(created.id), 404, NOT_FOUND, 'get after delete');
  });

  test('deleting again: 404', async () => {
    need(created, 'every field');
    await rejectsDream(srv.backend(srv.saas).customers.delete(created.id), 404, NOT_FOUND);
  });

  test('the email can be used again after the delete', async () => {
    const res = await srv.backend(srv.saas).customers.create({ email: full.email });
    assert.equal(res.success, true);
    assert.equal(res.customer.email, full.email);
  });
});
