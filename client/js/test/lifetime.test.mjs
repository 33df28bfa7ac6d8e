// Tests of hub-client.js against a real hub with expiring tokens: the
// client refreshes its token through options.token() when the hub asks,
// and reconnects with a fresh one when the hub closed it at expiry (4002).
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { createHmac } from 'node:crypto';
import { HubClient, CloseCode, State } from '../hub-client.js';
import { startHub, api, next, WS } from './hub.mjs';

const skip = WS ? false : 'no global WebSocket: run node with --experimental-websocket (Node 20) or use Node 22+';
const SECRET = 'js-lifetime-secret-0123456789';

// mint signs an HS256 JWT for sub that expires ttl seconds from now.
function mint(sub, ttl, extra = {}) {
  const b64 = (v) => Buffer.from(JSON.stringify(v)).toString('base64url');
  const now = Math.floor(Date.now() / 1000);
  const body = `${b64({ alg: 'HS256', typ: 'JWT' })}.${b64({ sub, iat: now, exp: now + ttl, ...extra })}`;
  return `${body}.${createHmac('sha256', SECRET).update(body).digest('base64url')}`;
}

let hub;
const clients = [];

function client(opts) {
  const c = new HubClient(hub.wsURL, { WebSocket: WS, minDelay: 50, maxDelay: 300, ...opts });
  clients.push(c);
  return c;
}

before(async () => {
  if (!skip) hub = await startHub({ args: ['-jwt-secret', SECRET, '-token-grace', '500ms'] });
});

after(async () => {
  for (const c of clients) c.close();
  if (hub) await hub.stop();
});

test('a refreshed token keeps the connection open past its expiry', { skip }, async () => {
  let calls = 0;
  const c = client({ token: () => (++calls === 1 ? mint('ana', 2) : mint('ana', 60)) });
  const closes = [];
  c.on('close', (info) => closes.push(info));
  await c.connect();
  await c.join('r');
  const refreshed = await next(c, 'refresh', 10000);
  assert.ok(refreshed.expiresAt > 0);
  assert.equal(calls, 2);
  // Past the first token's expiry and the grace: still the same connection.
  await new Promise((r) => setTimeout(r, Math.max(0, refreshed.expiresAt * 1000 + 1500 - Date.now())));
  assert.equal(c.state, State.OPEN);
  assert.deepEqual(closes, []);
  const got = next(c, 'message');
  const res = await api(hub, 'POST', '/api/rooms/r/messages', 'still here');
  assert.equal(res.status, 202);
  assert.equal((await got).data, 'still here');
});

test('without a refresh the hub closes with 4002 and the client reconnects with a fresh token', { skip }, async () => {
  let calls = 0;
  const c = client({
    token: async () => {
      calls++;
      if (calls === 2) throw new Error('token service down'); // the refresh fails
      return mint('bea', calls === 1 ? 2 : 60);
    },
  });
  const errors = [];
  c.on('error', (e) => errors.push(e));
  await c.connect();
  await c.join('s');
  const closed = await next(c, 'close', 10000);
  assert.deepEqual(closed, { code: CloseCode.TOKEN_EXPIRED, reason: 'token_expired', willReconnect: true });
  assert.ok(errors.some((e) => e.code === 'token'), 'the failed refresh is reported');
  const opened = await next(c, 'open', 10000);
  assert.deepEqual(opened, { reconnected: true });
  assert.equal(calls, 3);
  // The room was joined again on the new connection.
  const got = next(c, 'message', 10000, (m) => m.room === 's');
  await api(hub, 'POST', '/api/rooms/s/messages', 'back');
  assert.equal((await got).data, 'back');
});

test('rooms joined by the hub are reported and not joined again by the client', { skip }, async () => {
  const c = client({ token: () => mint('cid', 60, { join: ['feed.cid'] }) });
  const joined = next(c, 'joined');
  await c.connect();
  assert.deepEqual(await joined, { room: 'feed.cid', by: 'server' });
  assert.deepEqual(c.rooms, ['feed.cid']);
  const got = next(c, 'message', 10000, (m) => m.room === 'feed.cid');
  await api(hub, 'POST', '/api/rooms/feed.cid/messages', 'feed');
  assert.equal((await got).data, 'feed');
  const left = next(c, 'left');
  const res = await api(hub, 'DELETE', '/api/users/cid/rooms/feed.cid');
  assert.equal(res.status, 200);
  assert.equal(res.body.connections, 1);
  assert.deepEqual(await left, { room: 'feed.cid', by: 'server', reason: 'api' });
  assert.deepEqual(c.rooms, []);
});
