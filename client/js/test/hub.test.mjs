// Tests of hub-client.js against a real hub binary (see hub.mjs).
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { HubClient, HubError, State } from '../hub-client.js';
import { startHub, api, eventually, next, subscribeNATS, WS } from './hub.mjs';

const skip = WS ? false : 'no global WebSocket: run node with --experimental-websocket (Node 20) or use Node 22+';

let hub;
const clients = [];

function client(user, opts = {}) {
  const c = new HubClient(hub.wsURL, { user, WebSocket: WS, minDelay: 50, maxDelay: 300, ...opts });
  clients.push(c);
  return c;
}

before(async () => {
  if (!skip) hub = await startHub();
});

after(async () => {
  for (const c of clients) c.close();
  if (hub) await hub.stop();
});

test('join is resolved by the ack, errors carry the server code', { skip }, async () => {
  const c = client('alice');
  await c.connect();
  assert.equal(c.state, State.OPEN);
  await c.join('lobby');
  await c.join('lobby'); // joining twice is fine
  assert.deepEqual(c.rooms, ['lobby']);

  await assert.rejects(c.join('bad room'), (err) => {
    assert.ok(err instanceof HubError);
    assert.equal(err.code, 105);
    assert.equal(err.message, 'invalid room name');
    return true;
  });
  assert.deepEqual(c.rooms, ['lobby']);
  await assert.rejects(c.leave('elsewhere'), { code: 109 });
  await assert.rejects(c.sendToRoom('elsewhere', 1), { code: 109, message: 'not a member of this room' });
  await c.leave('lobby');
  assert.deepEqual(c.rooms, []);
  await c.send({ to: 'backend' });
  c.close();
  assert.equal(c.state, State.CLOSED);
});

test('room and user messages reach the other client', { skip }, async () => {
  const a = client('alice');
  const b = client('bob');
  await Promise.all([a.connect(), b.connect()]);
  await Promise.all([a.join('chat'), b.join('chat')]);

  const gotRoom = new Promise((resolve) => b.onRoom('chat', resolve));
  const gotAny = next(b, 'message');
  await a.sendToRoom('chat', { text: 'hi' });
  const m = await gotRoom;
  assert.deepEqual(m.data, { text: 'hi' });
  assert.equal(m.room, 'chat');
  assert.equal(m.from, 'alice');
  assert.equal((await gotAny).room, 'chat');

  const direct = next(b, 'message');
  await a.sendToUser('bob', 'psst');
  const d = await direct;
  assert.equal(d.data, 'psst');
  assert.equal(d.from, 'alice');
  assert.equal(d.room, undefined);

  const fromAPI = next(a, 'message');
  const res = await api(hub, 'POST', '/api/rooms/chat/messages', { n: 1 });
  assert.equal(res.status, 202);
  const f = await fromAPI;
  assert.deepEqual(f.data, { n: 1 });
  assert.equal(f.room, 'chat');

  const bcast = next(b, 'message', 10000, (m) => m.room === undefined);
  await api(hub, 'POST', '/api/broadcast', 'all');
  assert.equal((await bcast).data, 'all');
});

test('a kicked client does not reconnect', { skip }, async () => {
  const events = [];
  const close = await subscribeNATS(hub.natsURL, 'hub.events.connect', (ev) => events.push(ev));
  try {
    const c = client('kickme');
    await c.connect();
    const ev = await eventually('connect event', () => events.find((e) => e.user === 'kickme'));
    const closed = next(c, 'close');
    const res = await api(hub, 'DELETE', '/api/connections/' + ev.connection_id);
    assert.equal(res.status, 204);
    const info = await closed;
    assert.deepEqual(info, { code: 4500, reason: 'kicked', willReconnect: false });
    assert.equal(c.state, State.CLOSED);
    await assert.rejects(c.send(1), { code: 'closed' });
  } finally {
    close();
  }
});

test('the client reconnects after the node restarts, rejoins its rooms and sends what it queued', { skip }, async () => {
  const c = client('carol');
  await c.connect();
  await c.join('stay');
  await c.join('go');
  await c.leave('go');

  const closed = next(c, 'close');
  await hub.stop();
  assert.deepEqual(await closed, { code: 1001, reason: 'shutdown', willReconnect: true });
  assert.equal(c.state, State.RECONNECTING);

  // Sent while the node is down: queued, then acked after the reconnect.
  const queued = c.send({ queued: true });
  const joinedOffline = c.join('later');

  const reopened = next(c, 'open');
  hub = await startHub({ port: hub.port });
  assert.deepEqual(await reopened, { reconnected: true });
  await queued;
  await joinedOffline;

  await eventually('rejoined', async () => (await api(hub, 'GET', '/api/rooms/stay')).body.members === 1);
  assert.equal((await api(hub, 'GET', '/api/rooms/go')).body.members, 0);
  assert.equal((await api(hub, 'GET', '/api/rooms/later')).body.members, 1);
  const got = next(c, 'message');
  await api(hub, 'POST', '/api/rooms/stay/messages', 'back');
  const m = await got;
  assert.equal(m.room, 'stay');
  assert.equal(m.data, 'back');
});
