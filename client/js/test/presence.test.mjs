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
const clients = [];

function client(user) {
  const c = new HubClient(hub.wsURL, { user, WebSocket: WS, minDelay: 50, maxDelay: 300 });
  clients.push(c);
  return c;
}

before(async () => {
  if (skip) return;
  const dir = mkdtempSync(join(tmpdir(), 'hub-presence-'));
  const cfg = join(dir, 'hub.hcl');
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
