// Presence through hub-client.js against a real hub binary (see hub.mjs).
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { writeFileSync, mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { HubClient } from '../hub-client.js';
import { startHub, eventually, next, WS } from './hub.mjs';

const skip = WS ? false : 'no global WebSocket: run node with --experimental-websocket (Node 20) or use Node 22+';

let hub;
let cfg;
const clients = [];

function client(user, opts = {}) {
  const c = new HubClient(hub.wsURL, { user, WebSocket: WS, minDelay: 50, maxDelay: 300, ...opts });
  clients.push(c);
  return c;
}

before(async () => {
  if (skip) return;
  const dir = mkdtempSync(join(tmpdir(), 'hub-presence-'));
  cfg = join(dir, 'hub.hcl');
  writeFileSync(cfg, 'namespace "chat" {\n  rooms = ["chat.>"]\n  presence {\n    join_leave = true\n  }\n}\n');
  hub = await startHub({ args: ['-config', cfg] });
});

after(async () => {
  for (const c of clients) c.close();
  if (hub) await hub.stop();
});

test('presence: the member list, kept up to date from join and leave frames', { skip }, async () => {
  const a = client('alice');
  await a.connect();
  await a.join('chat.lobby');
  const p = await a.presence('chat.lobby');
  assert.deepEqual(p.members.map((m) => m.user), ['alice']);
  assert.equal(p.count, 1);

  const b = client('bob');
  const joined = next(a, 'join', 10000, (e) => e.user === 'bob');
  await b.connect();
  await b.join('chat.lobby');
  assert.deepEqual(await joined, { room: 'chat.lobby', user: 'bob', info: undefined });
  assert.deepEqual(a.members('chat.lobby').map((m) => m.user).sort(), ['alice', 'bob']);

  const left = next(a, 'leave', 10000, (e) => e.user === 'bob');
  b.close();
  assert.deepEqual(await left, { room: 'chat.lobby', user: 'bob' });
  await eventually('bob gone from the list', () => a.members('chat.lobby').length === 1);
  assert.equal(a.members('chat.elsewhere'), undefined);
});

test('presence: after a reconnect the list is asked again and what changed meanwhile is told', { skip }, async () => {
  const a = client('carol');
  await a.connect();
  await a.join('chat.again');
  const b = client('dave', { reconnect: false });
  await b.connect();
  await b.join('chat.again');
  await eventually('carol to list dave', async () => {
    const p = await a.presence('chat.again');
    return p.members.length === 2;
  });
  assert.deepEqual(a.members('chat.again').map((m) => m.user).sort(), ['carol', 'dave']);
  // The node restarts on the same port: dave does not come back, and no
  // frame will ever say he left; only asking again can.
  const reopened = next(a, 'open', 20000, (e) => e.reconnected);
  const left = next(a, 'leave', 20000, (e) => e.user === 'dave');
  await hub.stop();
  hub = await startHub({ port: hub.port, args: ['-config', cfg] });
  await reopened;
  assert.deepEqual(await left, { room: 'chat.again', user: 'dave' });
  await eventually('carol alone in her list', () => {
    const m = a.members('chat.again');
    return m && m.length === 1 && m[0].user === 'carol';
  });
});
