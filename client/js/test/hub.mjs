// Test helpers: a real hub binary on free ports, a tiny NATS subscriber and
// a fake WebSocket for unit tests.
import { spawn, execFileSync } from 'node:child_process';
import { mkdtempSync } from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const repo = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../..');
let built;

// hubBin returns the hub binary: $HUB_BIN, else one built into a temp dir.
export function hubBin() {
  if (process.env.HUB_BIN) return process.env.HUB_BIN;
  if (!built) {
    built = path.join(mkdtempSync(path.join(os.tmpdir(), 'hub-js-')), 'hub');
    execFileSync('go', ['build', '-o', built, './cmd/hub'], { cwd: repo, stdio: 'inherit' });
  }
  return built;
}

// WS is the WebSocket class the tests use.
export const WS = globalThis.WebSocket;

let seq = 0;

// startHub starts a development node on 127.0.0.1 (port 0 = any free port)
// and resolves once it listens.
export function startHub({ port = 0, args = [] } = {}) {
  const name = `js${process.pid}-${++seq}`;
  const child = spawn(
    hubBin(),
    [
      '-dev',
      '-host', '127.0.0.1',
      '-port', String(port),
      '-node-name', name,
      '-nats-listen', '127.0.0.1:0',
      '-nats-cluster-listen', '127.0.0.1:0',
      '-gossip-bind', '127.0.0.1:0',
      '-shutdown-timeout', '5s',
      '-log-format', 'text',
      ...args,
    ],
    { stdio: ['ignore', 'pipe', 'pipe'] },
  );
  const log = [];
  return new Promise((resolve, reject) => {
    const hub = { child, log, name };
    let buf = '';
    const onData = (chunk) => {
      buf += chunk;
      let i;
      while ((i = buf.indexOf('\n')) >= 0) {
        const line = buf.slice(0, i);
        buf = buf.slice(i + 1);
        log.push(line);
        if (process.env.HUB_TEST_LOG) console.error(line);
        let m = /embedded nats listening for publishers.* url=(\S+)/.exec(line);
        if (m) hub.natsURL = m[1];
        m = /websocket listening.* addr=(\S+)/.exec(line);
        if (m) {
          hub.addr = m[1];
          hub.port = Number(m[1].split(':').pop());
          hub.wsURL = `ws://${m[1]}/ws`;
          hub.httpURL = `http://${m[1]}`;
          resolve(hub);
        }
      }
    };
    child.stdout.setEncoding('utf8').on('data', onData);
    child.stderr.setEncoding('utf8').on('data', onData);
    child.on('exit', (code) => reject(new Error(`hub exited with ${code}:\n${log.join('\n')}`)));
    hub.exited = new Promise((r) => child.on('exit', r));
    // stop sends SIGTERM (clients get 1001) and waits for the exit.
    hub.stop = async () => {
      if (child.exitCode === null && child.signalCode === null) child.kill('SIGTERM');
      await hub.exited;
    };
  });
}

// api calls the hub's HTTP API and returns {status, body}.
export async function api(hub, method, p, body) {
  const res = await fetch(hub.httpURL + p, {
    method,
    headers: body === undefined ? {} : { 'content-type': 'application/json' },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  const text = await res.text();
  return { status: res.status, body: text ? JSON.parse(text) : undefined };
}

// eventually polls fn until it returns a truthy value.
export async function eventually(what, fn, ms = 10000) {
  const deadline = Date.now() + ms;
  for (;;) {
    const v = await fn();
    if (v) return v;
    if (Date.now() > deadline) throw new Error('timed out waiting for ' + what);
    await sleep(20);
  }
}

export const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

// next resolves with the next emission of event on client (first argument).
export function next(client, event, ms = 10000, filter = () => true) {
  return new Promise((resolve, reject) => {
    const t = setTimeout(() => {
      off();
      reject(new Error(`no ${event} event within ${ms} ms`));
    }, ms);
    const off = client.on(event, (v) => {
      if (!filter(v)) return;
      clearTimeout(t);
      off();
      resolve(v);
    });
  });
}

// subscribeNATS subscribes to subject on a NATS server with the plain text
// protocol and calls onMsg with each payload, parsed as JSON. It resolves
// with a close function once the subscription is live.
export function subscribeNATS(url, subject, onMsg) {
  const u = new URL(url);
  const sock = net.connect(Number(u.port), u.hostname);
  let buf = Buffer.alloc(0);
  let ready;
  const live = new Promise((r) => (ready = r));
  sock.on('data', (chunk) => {
    buf = Buffer.concat([buf, chunk]);
    for (;;) {
      const i = buf.indexOf('\r\n');
      if (i < 0) return;
      const line = buf.subarray(0, i).toString();
      if (line.startsWith('MSG ')) {
        const parts = line.split(' ');
        const n = Number(parts[parts.length - 1]);
        if (buf.length < i + 2 + n + 2) return;
        const payload = buf.subarray(i + 2, i + 2 + n).toString();
        buf = buf.subarray(i + 2 + n + 2);
        onMsg(JSON.parse(payload));
        continue;
      }
      buf = buf.subarray(i + 2);
      if (line.startsWith('INFO ')) {
        sock.write(`CONNECT {"verbose":false,"pedantic":false}\r\nSUB ${subject} 1\r\nPING\r\n`);
      } else if (line === 'PING') {
        sock.write('PONG\r\n');
      } else if (line === 'PONG') {
        ready();
      }
    }
  });
  return live.then(() => () => sock.destroy());
}

// FakeWebSocket records what the client does and lets a test play the server.
export class FakeWebSocket {
  static instances = [];
  constructor(url) {
    this.url = url;
    this.sent = [];
    this.closed = null;
    this.onopen = this.onmessage = this.onerror = this.onclose = null;
    FakeWebSocket.instances.push(this);
  }
  send(text) {
    if (this.closed) throw new Error('closed');
    this.sent.push(JSON.parse(text));
  }
  close(code, reason) {
    this.closed = { code, reason };
  }
  // test side
  open() {
    this.onopen?.({});
  }
  push(frame) {
    this.onmessage?.({ data: JSON.stringify(frame) });
  }
  drop(code = 1006, reason = '') {
    this.onclose?.({ code, reason });
  }
  static last() {
    return FakeWebSocket.instances[FakeWebSocket.instances.length - 1];
  }
  static reset() {
    FakeWebSocket.instances = [];
  }
}
