// Unit tests of hub-client.js with a fake WebSocket (no hub needed).
import { test, beforeEach } from 'node:test';
import assert from 'node:assert/strict';
import { HubClient, HubError, State, validName } from '../hub-client.js';
import { FakeWebSocket, eventually, next, sleep } from './hub.mjs';

beforeEach(() => FakeWebSocket.reset());

// fake returns a client on FakeWebSocket whose connect() promise may be
// left unawaited (close() before the first open rejects it).
function fake(opts = {}) {
  const c = new HubClient('ws://hub.test/ws', {
    WebSocket: FakeWebSocket,
    minDelay: 5,
    maxDelay: 20,
    pingInterval: 0,
    ...opts,
  });
  const connect = c.connect.bind(c);
  c.connect = () => {
    const p = connect();
    p.catch(() => {});
    return p;
  };
  return c;
}

// ackAll answers every frame the socket got since the last call.
function ackAll(ws, from = 0) {
  for (const f of ws.sent.slice(from)) ws.push({ type: 'ack', id: f.id });
  return ws.sent.length;
}

test('the URL carries user, token and params', async () => {
  const c = fake({ user: 'al', token: async () => 't0k', params: { tenant: 'x', tag: ['a', 'b'] } });
  c.connect();
  await eventually('socket', () => FakeWebSocket.last());
  const u = new URL(FakeWebSocket.last().url);
  assert.equal(u.searchParams.get('user'), 'al');
  assert.equal(u.searchParams.get('token'), 't0k');
  assert.equal(u.searchParams.get('tenant'), 'x');
  assert.deepEqual(u.searchParams.getAll('tag'), ['a', 'b']);
  c.close();
});

for (const [code, reason] of [
  [4500, 'kicked'],
  [4501, 'connection_limit'],
  [1000, 'reply_end'],
]) {
  test(`no reconnect after ${code} ${reason}`, async () => {
    const c = fake();
    const opened = c.connect();
    await eventually('socket', () => FakeWebSocket.last());
    FakeWebSocket.last().open();
    await opened;
    const p = c.send('x');
    const closed = next(c, 'close');
    FakeWebSocket.last().drop(code, reason);
    assert.deepEqual(await closed, { code, reason, willReconnect: false });
    await assert.rejects(p, { code: 'closed' });
    await sleep(50);
    assert.equal(FakeWebSocket.instances.length, 1);
    assert.equal(c.state, State.CLOSED);
  });
}

test('no reconnect after close() by the app; pending requests fail', async () => {
  const c = fake();
  c.connect();
  await eventually('socket', () => FakeWebSocket.last());
  const ws = FakeWebSocket.last();
  ws.open();
  const p = c.join('r');
  c.close();
  await assert.rejects(p, (e) => e instanceof HubError && e.code === 'closed');
  assert.deepEqual(ws.closed, { code: 1000, reason: 'client closed' });
  ws.drop(1000, 'client closed'); // late event: ignored
  await sleep(50);
  assert.equal(FakeWebSocket.instances.length, 1);
  await assert.rejects(c.send(1), { code: 'closed' });
});

test('reconnect backs off exponentially with jitter and resets once open', async () => {
  const c = fake({ minDelay: 10, maxDelay: 80, factor: 2, jitter: 0.5 });
  const delays = [];
  c.on('reconnecting', (r) => delays.push(r));
  c.connect();
  for (let i = 1; i <= 5; i++) {
    await eventually('socket ' + i, () => FakeWebSocket.instances.length === i);
    FakeWebSocket.last().drop(1006);
  }
  await eventually('socket 6', () => FakeWebSocket.instances.length === 6);
  assert.deepEqual(delays.map((d) => d.attempt), [1, 2, 3, 4, 5]);
  const bases = [10, 20, 40, 80, 80];
  delays.forEach((d, i) => {
    assert.ok(d.delay >= bases[i] / 2 && d.delay <= bases[i], `delay ${i} = ${d.delay}, want in [${bases[i] / 2}, ${bases[i]}]`);
  });
  FakeWebSocket.last().open();
  FakeWebSocket.last().drop(1001, 'shutdown');
  assert.equal(delays.at(-1).attempt, 1);
  c.close();
});

test('rooms are joined again after a reconnect, queued requests are sent after them', async () => {
  const c = fake();
  c.connect();
  await eventually('socket', () => FakeWebSocket.last());
  let ws = FakeWebSocket.last();
  ws.open();
  const j = c.join('a');
  ackAll(ws);
  await j;
  const sentMsg = c.send('m1');
  const closed = next(c, 'close');
  ws.drop(1001, 'shutdown');
  assert.deepEqual(await closed, { code: 1001, reason: 'shutdown', willReconnect: true });
  await assert.rejects(sentMsg, { code: 'disconnected' });

  const queued = c.send('m2');
  const joinB = c.join('b');
  await eventually('second socket', () => FakeWebSocket.instances.length === 2);
  ws = FakeWebSocket.last();
  const opened = next(c, 'open');
  ws.open();
  assert.deepEqual(await opened, { reconnected: true });
  assert.deepEqual(
    ws.sent.map((f) => [f.type, f.room ?? f.data]),
    [
      ['join_room', 'a'],
      ['message', 'm2'],
      ['join_room', 'b'],
    ],
  );
  ackAll(ws);
  await queued;
  await joinB;
  assert.deepEqual(c.rooms.sort(), ['a', 'b']);
  c.close();
});

test('a room the server refuses on rejoin is dropped and reported', async () => {
  const c = fake();
  c.connect();
  await eventually('socket', () => FakeWebSocket.last());
  let ws = FakeWebSocket.last();
  ws.open();
  const j = c.join('secret');
  ackAll(ws);
  await j;
  ws.drop(1006);
  await eventually('second socket', () => FakeWebSocket.instances.length === 2);
  ws = FakeWebSocket.last();
  ws.open();
  const errored = next(c, 'error');
  ws.push({ type: 'error', id: ws.sent[0].id, code: 200, message: 'room not allowed for this connection' });
  const err = await errored;
  assert.equal(err.code, 200);
  assert.deepEqual(c.rooms, []);
  c.close();
});

test('leave while disconnected cancels a queued join', async () => {
  const c = fake();
  c.connect();
  const j = c.join('r');
  const l = c.leave('r');
  await l;
  await assert.rejects(j, { code: 'cancelled' });
  await eventually('socket', () => FakeWebSocket.last());
  FakeWebSocket.last().open();
  assert.deepEqual(FakeWebSocket.last().sent, []);
  c.close();
});

test('the offline queue is bounded', async () => {
  const c = fake({ maxQueue: 2 });
  c.connect();
  const a = c.send(1);
  const b = c.send(2);
  await assert.rejects(c.send(3), { code: 'queue_full' });
  await eventually('socket', () => FakeWebSocket.last());
  const ws = FakeWebSocket.last();
  ws.open();
  ackAll(ws);
  await Promise.all([a, b]);
  assert.deepEqual(ws.sent.map((f) => f.data), [1, 2]);
  c.close();
});

test('requests time out without an ack', async () => {
  const c = fake({ requestTimeout: 30 });
  c.connect();
  await eventually('socket', () => FakeWebSocket.last());
  FakeWebSocket.last().open();
  await assert.rejects(c.send('x'), { code: 'timeout' });
  await assert.rejects(c.send(undefined), { code: 'invalid' });
  c.close();
});

test('server errors without an id and for a request are told apart', async () => {
  const c = fake();
  c.connect();
  await eventually('socket', () => FakeWebSocket.last());
  const ws = FakeWebSocket.last();
  ws.open();
  const p = c.sendToUser('bob', 'x');
  ws.push({ type: 'error', id: ws.sent[0].id, code: 205, message: 'sending to a user requires an authenticated connection' });
  await assert.rejects(p, { code: 205 });
  const e = next(c, 'error');
  ws.push({ type: 'error', code: 202, message: 'rate limit exceeded' });
  assert.equal((await e).code, 202);
  c.close();
});

test('a silent connection is probed and abandoned', async () => {
  const c = fake({ pingInterval: 20, pongTimeout: 30 });
  c.connect();
  await eventually('socket', () => FakeWebSocket.last());
  let ws = FakeWebSocket.last();
  ws.open();
  // An answered probe keeps the connection.
  await eventually('probe', () => ws.sent.length === 1, 2000);
  assert.equal(ws.sent[0].type, 'leave_room');
  const errors = [];
  c.on('error', (e) => errors.push(e));
  ws.push({ type: 'error', id: ws.sent[0].id, code: 109, message: 'not a member of this room' });
  assert.deepEqual(errors, []);
  // An unanswered one ends it with 4001, and the client reconnects.
  const closed = next(c, 'close', 3000);
  assert.deepEqual(await closed, { code: 4001, reason: 'no answer to ping', willReconnect: true });
  assert.ok(ws.closed);
  await eventually('second socket', () => FakeWebSocket.instances.length === 2);
  c.close();
});

test('a connection attempt that never opens times out', async () => {
  const c = fake({ connectTimeout: 20 });
  c.connect();
  const closed = await next(c, 'close');
  assert.equal(closed.code, 4001);
  await eventually('second socket', () => FakeWebSocket.instances.length === 2);
  c.close();
});

test('listeners: on returns an unsubscribe; room listeners see only their room', async () => {
  const c = fake();
  c.connect();
  await eventually('socket', () => FakeWebSocket.last());
  const ws = FakeWebSocket.last();
  ws.open();
  const all = [];
  const lobby = [];
  const off = c.on('message', (m) => all.push(m.data));
  const offRoom = c.onRoom('lobby', (m) => lobby.push(m.data));
  ws.push({ type: 'message', room: 'lobby', from: 'x', data: 1 });
  ws.push({ type: 'message', room: 'other', data: 2 });
  ws.push({ type: 'message', data: 3 });
  off();
  offRoom();
  ws.push({ type: 'message', room: 'lobby', data: 4 });
  assert.deepEqual(all, [1, 2, 3]);
  assert.deepEqual(lobby, [1]);
  c.close();
});

test('validName follows the hub rule', () => {
  for (const s of ['a', 'room-1', 'a.b', 'x:y@z_']) assert.ok(validName(s), s);
  for (const s of ['', '.a', 'a.', 'a..b', 'a b', 'é', 'x'.repeat(129)]) assert.ok(!validName(s), s);
});

test('history rooms: the position is kept and sent as since on rejoin; recovered is emitted', async () => {
  const c = fake();
  c.connect();
  await eventually('socket', () => FakeWebSocket.last());
  let ws = FakeWebSocket.last();
  ws.open();
  const j = c.join('chat.a');
  ws.push({ type: 'ack', id: ws.sent[0].id, room: 'chat.a', epoch: 'e1', offset: 7 });
  await j;
  const got = [];
  c.on('message', (m) => got.push(m.offset));
  ws.push({ type: 'message', room: 'chat.a', offset: 9, data: 1 });
  await eventually('message', () => got.length === 1);
  assert.deepEqual(c.position('chat.a'), { epoch: 'e1', offset: 9 });
  const closed = next(c, 'close');
  ws.drop(1001, 'shutdown');
  await closed;
  await eventually('second socket', () => FakeWebSocket.instances.length === 2);
  ws = FakeWebSocket.last();
  ws.open();
  assert.deepEqual(ws.sent[0].since, { offset: 9, epoch: 'e1' });
  const rec = next(c, 'recovered');
  ws.push({ type: 'message', room: 'chat.a', offset: 12, data: 2 });
  ws.push({ type: 'ack', id: ws.sent[0].id, room: 'chat.a', epoch: 'e1', offset: 12, recovered: true });
  assert.deepEqual(await rec, { room: 'chat.a', recovered: true });
  assert.deepEqual(got, [9, 12]);
  const lost = next(c, 'recovered');
  ws.push({ type: 'resync', room: 'chat.a' });
  assert.deepEqual(await lost, { room: 'chat.a', recovered: false, resync: true });
  c.close();
});
