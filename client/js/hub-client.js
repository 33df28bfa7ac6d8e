// hub-client.js: the browser and Node client of Hub, a realtime WebSocket hub.
//
// One ES module, no dependencies. It works in browsers and in Node.js 18+
// with a global WebSocket (Node 22+, or Node 20 with --experimental-websocket)
// or a WebSocket class passed as options.WebSocket (the "ws" package works).
//
//   import { HubClient } from './hub-client.js';
//   const hub = new HubClient('wss://hub.example.com/ws', { token: () => fetchToken() });
//   hub.on('message', (m) => console.log(m.room, m.from, m.data));
//   await hub.connect();
//   await hub.join('lobby');                 // resolved by the server's ack
//   await hub.send({ text: 'hi' }, { room: 'lobby' });
//
// What it does for you:
//   - reconnects with exponential backoff and jitter after the connection is
//     lost, the node shuts down (1001) or the hub closes with a code in
//     4000-4499, but never after the app called close(), after a code in
//     4500-4999 (kicked, connection limit) or after the backend ended the
//     conversation (1000);
//   - keeps a connection alive past its token's expiry: when the hub sends
//     refresh_required it calls options.token() (when it is a function)
//     and sends the new token in a refresh frame; without a refresh the
//     hub closes with 4002 and the client reconnects, asking token() again;
//   - joins again, after each reconnect, every room it joined (rooms the
//     hub joined for it, announced with 'joined', are the hub's to join);
//   - queues requests made while it is not connected (up to maxQueue) and
//     sends them once it is;
//   - notices a dead connection: when nothing has arrived for pingInterval it
//     sends a probe the server always answers, and gives up on the socket
//     when no answer comes within pongTimeout.
//
// Every request (join, leave, send) returns a promise resolved by the
// server's ack and rejected with a HubError: the server's error (numeric
// code and message, see the hub's error table) or a client-side one (string
// code: "timeout", "closed", "disconnected", "queue_full", "cancelled",
// "invalid").

/** Connection states, as reported by the 'state' event and client.state. */
export const State = Object.freeze({
  IDLE: 'idle', // created, connect() not called yet
  CONNECTING: 'connecting', // first connection attempt in progress
  OPEN: 'open',
  RECONNECTING: 'reconnecting', // waiting for the next attempt, or attempting
  CLOSED: 'closed', // closed by the app, kicked, or ended by the server; no more attempts
});

/** Close codes the hub uses. */
export const CloseCode = Object.freeze({
  NORMAL: 1000, // the backend ended the conversation (reply_end): no reconnect
  GOING_AWAY: 1001, // the node is shutting down: reconnect, perhaps to another node
  PROTOCOL_ERROR: 1002,
  UNSUPPORTED_DATA: 1003,
  ABNORMAL: 1006, // the connection was lost without a close frame
  INVALID_DATA: 1007,
  POLICY: 1008, // slow consumer or rate limit
  TOO_BIG: 1009,
  RECONNECT: 4000, // a backend asked for a reconnect
  TIMEOUT: 4001, // the server (or this client) found the connection dead
  TOKEN_EXPIRED: 4002, // the token expired without a refresh: reconnect with a new token
  MAX_AGE: 4003, // max_connection_age reached: reconnect
  SUB_CHANGED: 4004, // a refresh token named another user: reconnect with it
  KICKED: 4500, // closed through the API: no reconnect
  CONNECTION_LIMIT: 4501, // too many connections of this user: no reconnect
});

/** HubError is how every request fails. */
export class HubError extends Error {
  /**
   * @param {number|string} code server error code (number) or client-side code (string)
   * @param {string} message
   * @param {object} [frame] the server's error frame, when it sent one
   */
  constructor(code, message, frame) {
    super(message);
    this.name = 'HubError';
    this.code = code;
    this.frame = frame;
  }
}

const PROBE_ROOM = '_hub-client.probe';

const defaults = {
  user: undefined,
  token: undefined,
  params: undefined,
  WebSocket: undefined,
  reconnect: true,
  minDelay: 500,
  maxDelay: 30000,
  factor: 2,
  jitter: 0.5,
  requestTimeout: 10000,
  maxQueue: 100,
  pingInterval: 25000,
  pongTimeout: 10000,
  connectTimeout: 10000,
  shouldReconnect: undefined,
};

/**
 * Whether the client should reconnect after a close with this code: always
 * except after 1000 (the backend ended the conversation) and 4500-4999 (the
 * hub wants this client gone). 4000-4499 mean reconnect.
 */
export function defaultShouldReconnect(code) {
  return code !== CloseCode.NORMAL && !(code >= 4500 && code <= 4999);
}

export class HubClient {
  /**
   * @param {string} url WebSocket URL of the hub, such as ws://localhost:8080/ws
   * @param {object} [options] see hub-client.d.ts (HubClientOptions)
   */
  constructor(url, options = {}) {
    this.url = url;
    this.options = { ...defaults, ...options };
    this._state = State.IDLE;
    this._ws = null;
    this._listeners = new Map(); // event -> Set<fn>
    this._roomListeners = new Map(); // room -> Set<fn>
    this._rooms = new Set(); // rooms the app wants to be in
    this._pos = new Map(); // history rooms: room -> { epoch, offset } last seen
    this._serverRooms = new Set(); // rooms the hub joined for this connection
    this._presence = new Map(); // room -> { members: Map<user, member>, count, connections } (rooms asked with presence())
    this._refreshing = false; // a refresh_required is being answered
    this._pending = new Map(); // id -> request
    this._queue = []; // requests not yet written, in order
    this._nextId = 0;
    this._attempt = 0;
    this._opens = 0;
    this._timers = { retry: null, ping: null, pong: null, connect: null, errclose: null };
    this._lastRecv = 0;
    this._probeId = null;
    this._stopped = false;
    this._readyWaiters = [];
    this._onOnline = () => {
      if (this._state === State.RECONNECTING && this._timers.retry) {
        clearTimeout(this._timers.retry);
        this._timers.retry = null;
        this._open();
      }
    };
  }

  /** The connection state: one of State. */
  get state() {
    return this._state;
  }

  /** Whether a connection is open now. */
  get connected() {
    return this._state === State.OPEN;
  }

  /**
   * The rooms the client is in, or will join again once it reconnects, and
   * those the hub joined for the current connection.
   */
  get rooms() {
    return [...new Set([...this._rooms, ...this._serverRooms])];
  }

  /**
   * connect opens the connection (it does nothing if one is open or being
   * opened) and returns a promise resolved once it is open. The promise is
   * rejected when the client is closed before it ever opens; it stays
   * pending while reconnecting.
   */
  connect() {
    const p = new Promise((resolve, reject) => {
      if (this._state === State.OPEN) {
        resolve();
        return;
      }
      this._readyWaiters.push({ resolve, reject });
    });
    if (this._state === State.IDLE || this._state === State.CLOSED) {
      this._stopped = false;
      this._attempt = 0;
      if (typeof globalThis.addEventListener === 'function') {
        globalThis.addEventListener('online', this._onOnline);
      }
      this._setState(State.CONNECTING);
      this._open();
    }
    return p;
  }

  /**
   * close closes the connection for good: no reconnect; pending and queued
   * requests are rejected with code "closed". connect() may be called again.
   */
  close(code = 1000, reason = 'client closed') {
    if (this._state === State.CLOSED || this._state === State.IDLE) return;
    this._stopped = true;
    const ws = this._ws;
    this._detach();
    if (ws) {
      try {
        ws.close(code, reason);
      } catch {
        // already closing
      }
    }
    this._finish(code, reason, false);
  }

  /**
   * join joins room; the promise is resolved by the server's ack. In a
   * history room, opts.since ({ offset, epoch }, e.g. a position() saved
   * earlier) asks for the messages after it first ("recovered" tells).
   */
  join(room, opts = {}) {
    this._rooms.add(room);
    const f = { type: 'join_room', room };
    if (opts.since && typeof opts.since.offset === 'number') {
      // Recover from a position kept elsewhere (another client, storage).
      this._pos.set(room, { epoch: String(opts.since.epoch ?? ''), offset: opts.since.offset });
      f.since = { offset: opts.since.offset, epoch: String(opts.since.epoch ?? '') };
    }
    return this._request(f, 'join', room).catch((err) => {
      if (typeof err.code === 'number') this._rooms.delete(room);
      throw err;
    });
  }

  /**
   * position returns the epoch and offset of the last message (or join ack)
   * seen in a history room, or undefined for other rooms. The client sends
   * it as "since" when it joins the room again after a reconnect.
   */
  position(room) {
    const p = this._pos.get(room);
    return p ? { ...p } : undefined;
  }

  /**
   * presence asks who is in room (a presence room this client joined) and
   * keeps the list up to date from the join, leave and presence_diff frames
   * that follow: members(room) reads it, 'presence' events tell each
   * change. The promise resolves with { room, members, count, connections }
   * (members undefined above the room's max_list: counts only). After a
   * reconnect the client asks again for every room it keeps, once it has
   * joined them again, and tells what changed meanwhile as 'join' and
   * 'leave' events.
   */
  presence(room) {
    return this._request({ type: 'presence', room }, 'presence', room);
  }

  /**
   * members returns the users in room as kept since presence(room):
   * [{ user, info, connections }], or undefined when presence(room) was not
   * asked (or the room is above its max_list).
   */
  members(room) {
    const p = this._presence.get(room);
    return p && p.members ? [...p.members.values()] : undefined;
  }

  _presenceFrame(f) {
    const p = this._presence.get(f.room);
    if (!p) return;
    const joins = [];
    const leaves = [];
    if (f.type === 'join') joins.push({ user: f.user, info: f.info });
    if (f.type === 'leave') leaves.push(f.user);
    if (f.type === 'presence_diff') {
      for (const j of f.joins || []) joins.push({ user: j.user, info: j.info });
      for (const u of f.leaves || []) leaves.push(u);
    }
    // Only what changes the list is told (a frame that crossed an answer
    // repeats what it already holds).
    for (const u of leaves) {
      if (p.members && !p.members.delete(u)) continue;
      this._emit('leave', { room: f.room, user: u });
    }
    for (const j of joins) {
      if (p.members) {
        if (p.members.has(j.user)) continue;
        p.members.set(j.user, { user: j.user, info: j.info, connections: [] });
      }
      this._emit('join', { room: f.room, user: j.user, info: j.info });
    }
    if (typeof f.count === 'number') p.count = f.count;
    else if (p.members) p.count = p.members.size;
    if (typeof f.connections === 'number') p.connections = f.connections;
    this._emit('presence', { room: f.room, members: this.members(f.room), count: p.count, connections: p.connections });
  }

  /** leave leaves room; the promise is resolved by the server's ack. */
  leave(room) {
    this._presence.delete(room);
    this._pos.delete(room);
    if (!this._rooms.delete(room) && this._state !== State.OPEN) {
      return Promise.resolve();
    }
    if (this._state !== State.OPEN) {
      // Not connected: the next connection simply will not join it.
      this._cancelQueuedJoins(room);
      return Promise.resolve();
    }
    return this._request({ type: 'leave_room', room }, 'leave', room);
  }

  /**
   * send sends a message: to the backends only, or also to a room's members
   * ({room}) or to a user's connections ({user}). Resolved by the ack.
   */
  send(data, opts = {}) {
    if (data === undefined) return Promise.reject(new HubError('invalid', 'data is required'));
    const frame = { type: 'message', data };
    if (opts.room !== undefined) frame.room = opts.room;
    if (opts.user !== undefined) frame.user = opts.user;
    return this._request(frame, 'message');
  }

  /** sendToRoom sends data to the members of room (the client must be in it). */
  sendToRoom(room, data) {
    return this.send(data, { room });
  }

  /** sendToUser sends data to every connection of user. */
  sendToUser(user, data) {
    return this.send(data, { user });
  }

  /**
   * on adds a listener: 'message' (msg), 'error' (HubError), 'state'
   * (state, previous), 'open' ({reconnected}), 'close' ({code, reason,
   * willReconnect}), 'reconnecting' ({attempt, delay}), 'joined' ({room,
   * by}) and 'left' ({room, by, reason}) when the hub made the connection
   * join or leave a room, 'refresh' ({expiresAt}) once a new token was
   * accepted. It returns a function that removes the listener.
   */
  on(event, fn) {
    let set = this._listeners.get(event);
    if (!set) this._listeners.set(event, (set = new Set()));
    set.add(fn);
    return () => this.off(event, fn);
  }

  /** off removes a listener added with on. */
  off(event, fn) {
    this._listeners.get(event)?.delete(fn);
  }

  /**
   * onRoom adds a listener for the messages of one room. It does not join
   * the room. It returns a function that removes the listener.
   */
  onRoom(room, fn) {
    let set = this._roomListeners.get(room);
    if (!set) this._roomListeners.set(room, (set = new Set()));
    set.add(fn);
    return () => {
      set.delete(fn);
      if (set.size === 0) this._roomListeners.delete(room);
    };
  }

  // ---- internals ----

  _emit(event, ...args) {
    const set = this._listeners.get(event);
    if (!set) return;
    for (const fn of [...set]) {
      try {
        fn(...args);
      } catch (err) {
        // A listener's bug must not break the connection; surface it.
        setTimeout(() => {
          throw err;
        }, 0);
      }
    }
  }

  _setState(state) {
    const prev = this._state;
    if (prev === state) return;
    this._state = state;
    this._emit('state', state, prev);
  }

  async _buildURL() {
    const u = new URL(this.url);
    const o = this.options;
    let token = o.token;
    if (typeof token === 'function') token = await token();
    if (token) u.searchParams.set('token', token);
    if (o.user) u.searchParams.set('user', o.user);
    if (o.params) {
      for (const [k, v] of Object.entries(o.params)) {
        if (Array.isArray(v)) for (const x of v) u.searchParams.append(k, x);
        else u.searchParams.set(k, v);
      }
    }
    return u.toString();
  }

  async _open() {
    const WS = this.options.WebSocket || globalThis.WebSocket;
    if (!WS) {
      this._stopped = true;
      this._finish(0, 'no WebSocket implementation', false);
      this._emit('error', new HubError('invalid', 'no WebSocket class: pass options.WebSocket'));
      return;
    }
    let url;
    try {
      url = await this._buildURL();
    } catch (err) {
      if (this._stopped) return;
      this._emit('error', new HubError('token', 'getting the token: ' + (err && err.message)));
      this._retry(0, 'token');
      return;
    }
    if (this._stopped) return;
    let ws;
    try {
      ws = new WS(url);
    } catch (err) {
      this._emit('error', new HubError('socket', String(err && err.message)));
      this._retry(0, 'socket');
      return;
    }
    this._ws = ws;
    ws.onopen = () => this._onOpen(ws);
    ws.onmessage = (ev) => this._onMessage(ws, ev);
    ws.onerror = () => {
      if (this._ws !== ws) return;
      this._emit('error', new HubError('socket', 'WebSocket error'));
      // Browsers follow an error with a close event; some implementations
      // (Node 20's) do not when the connection attempt fails.
      if (this._state !== State.OPEN) {
        this._abandon(ws, 'connection failed', CloseCode.ABNORMAL);
      } else {
        clearTimeout(this._timers.errclose);
        this._timers.errclose = setTimeout(() => {
          if (this._ws === ws) this._abandon(ws, 'connection failed', CloseCode.ABNORMAL);
        }, 1000);
      }
    };
    ws.onclose = (ev) => {
      if (this._ws === ws) this._onClose(ev.code, ev.reason || '');
    };
    const t = this.options.connectTimeout;
    if (t > 0) {
      this._timers.connect = setTimeout(() => {
        if (this._ws === ws && this._state !== State.OPEN) this._abandon(ws, 'connect timeout', CloseCode.TIMEOUT);
      }, t);
    }
  }

  // _abandon gives up on a socket: it stops listening to it, closes it and
  // proceeds as if it had closed with code.
  _abandon(ws, reason, code) {
    this._detach();
    try {
      ws.close(4001, reason);
    } catch {
      // not open yet, or already closing
    }
    this._onClose(code, reason);
  }

  _detach() {
    const ws = this._ws;
    if (ws) {
      ws.onopen = ws.onmessage = ws.onerror = ws.onclose = null;
      // Keep an error listener so a late error event is not unhandled.
      ws.onerror = () => {};
    }
    this._ws = null;
    for (const k of Object.keys(this._timers)) {
      if (k !== 'retry') {
        clearTimeout(this._timers[k]);
        clearInterval(this._timers[k]);
        this._timers[k] = null;
      }
    }
  }

  _onOpen(ws) {
    if (this._ws !== ws) return;
    clearTimeout(this._timers.connect);
    this._timers.connect = null;
    this._attempt = 0;
    this._opens++;
    this._lastRecv = Date.now();
    this._setState(State.OPEN);
    // Rooms first (except those whose join the app queued), then the queue.
    const queued = new Set(this._queue.filter((r) => r.kind === 'join').map((r) => r.room));
    for (const room of this._rooms) {
      if (!queued.has(room)) this._rejoin(room);
    }
    const asked = new Set(this._queue.filter((r) => r.kind === 'presence').map((r) => r.room));
    const q = this._queue;
    this._queue = [];
    for (const r of q) this._write(r);
    // The presence of the rooms kept may have changed while away: ask again,
    // after the joins (unless the app's own presence() was queued).
    for (const room of this._presence.keys()) {
      if (!asked.has(room)) this._refetch(room);
    }
    this._startPing();
    this._emit('open', { reconnected: this._opens > 1 });
    const waiters = this._readyWaiters;
    this._readyWaiters = [];
    for (const w of waiters) w.resolve();
  }

  // _joinFrame is a join that recovers what was missed in a history room.
  _joinFrame(room, id) {
    const f = { type: 'join_room', room, id };
    const p = this._pos.get(room);
    if (p) f.since = { offset: p.offset, epoch: p.epoch };
    return f;
  }

  _rejoin(room) {
    const id = ++this._nextId;
    const r = {
      id,
      kind: 'rejoin',
      room,
      text: JSON.stringify(this._joinFrame(room, id)),
      resolve: () => {},
      reject: (err) => {
        if (typeof err.code === 'number') {
          this._rooms.delete(room);
          this._presence.delete(room);
          this._emit('error', err);
        }
      },
      timer: null,
    };
    this._pending.set(id, r);
    this._write(r);
  }

  _refetch(room) {
    const id = ++this._nextId;
    const r = {
      id,
      kind: 'refetch',
      room,
      text: JSON.stringify({ type: 'presence', room, id }),
      resolve: () => {},
      reject: (err) => {
        if (typeof err.code === 'number') {
          this._presence.delete(room);
          this._emit('error', err);
        }
      },
      timer: null,
    };
    this._pending.set(id, r);
    this._write(r);
  }

  _startPing() {
    const every = this.options.pingInterval;
    if (!(every > 0)) return;
    this._timers.ping = setInterval(() => {
      if (this._state !== State.OPEN || this._probeId !== null) return;
      if (Date.now() - this._lastRecv < every) return;
      const ws = this._ws;
      this._probeId = 'probe-' + ++this._nextId;
      try {
        ws.send(JSON.stringify({ type: 'leave_room', room: PROBE_ROOM, id: this._probeId }));
      } catch {
        // the close event will follow
      }
      this._timers.pong = setTimeout(() => {
        if (this._ws === ws && this._probeId !== null) this._abandon(ws, 'no answer to ping', CloseCode.TIMEOUT);
      }, this.options.pongTimeout);
    }, Math.min(every, 1000 + every / 4));
  }

  _onMessage(ws, ev) {
    if (this._ws !== ws) return;
    this._lastRecv = Date.now();
    if (this._probeId !== null) {
      this._probeId = null;
      clearTimeout(this._timers.pong);
      this._timers.pong = null;
    }
    if (typeof ev.data !== 'string') return;
    let f;
    try {
      f = JSON.parse(ev.data);
    } catch {
      this._emit('error', new HubError('invalid', 'server sent invalid JSON'));
      return;
    }
    if (!f || typeof f !== 'object') return;
    switch (f.type) {
      case 'ack': {
        if (typeof f.room === 'string' && typeof f.epoch === 'string' && typeof f.offset === 'number') {
          // A history room's position when the join was answered.
          this._pos.set(f.room, { epoch: f.epoch, offset: f.offset });
          if (typeof f.recovered === 'boolean') this._emit('recovered', { room: f.room, recovered: f.recovered });
        }
        const r = this._pending.get(f.id);
        if (r) {
          this._pending.delete(f.id);
          clearTimeout(r.timer);
          r.resolve();
        }
        return;
      }
      case 'error': {
        if (typeof f.id === 'string' && f.id.startsWith('probe-')) return;
        const err = new HubError(f.code, f.message || 'error', f);
        const r = f.id !== undefined ? this._pending.get(f.id) : undefined;
        if (r) {
          this._pending.delete(f.id);
          clearTimeout(r.timer);
          r.reject(err);
        } else {
          this._emit('error', err);
        }
        return;
      }
      case 'presence': {
        if (typeof f.room !== 'string') return;
        const r = this._pending.get(f.id);
        if (!r && !this._presence.has(f.room)) return;
        const members = Array.isArray(f.members) ? new Map(f.members.map((m) => [m.user, m])) : null;
        const old = this._presence.get(f.room);
        this._presence.set(f.room, { members, count: f.count, connections: f.connections });
        const ans = { room: f.room, members: members ? [...members.values()] : undefined, count: f.count, connections: f.connections };
        if (old && old.members && members) {
          // Asked again (after a reconnect): what changed meanwhile.
          for (const u of old.members.keys()) {
            if (!members.has(u)) this._emit('leave', { room: f.room, user: u });
          }
          for (const [u, m] of members) {
            if (!old.members.has(u)) this._emit('join', { room: f.room, user: u, info: m.info });
          }
        }
        if (r) {
          this._pending.delete(f.id);
          clearTimeout(r.timer);
          r.resolve(ans);
        }
        this._emit('presence', ans);
        return;
      }
      case 'join':
      case 'leave':
      case 'presence_diff':
        if (typeof f.room === 'string') this._presenceFrame(f);
        return;
      case 'resync': {
        if (typeof f.room === 'string') this._emit('recovered', { room: f.room, recovered: false, resync: true });
        return;
      }
      case 'refresh_required':
        this._refresh(f.expires_at);
        return;
      case 'joined':
        if (typeof f.room === 'string') {
          this._serverRooms.add(f.room);
          this._emit('joined', { room: f.room, by: f.by });
        }
        return;
      case 'left':
        if (typeof f.room === 'string') {
          this._serverRooms.delete(f.room);
          this._rooms.delete(f.room);
          this._presence.delete(f.room);
          this._emit('left', { room: f.room, by: f.by, reason: f.reason });
        }
        return;
      case 'message': {
        const msg = { data: f.data, frame: f };
        if (f.room !== undefined) msg.room = f.room;
        if (typeof f.offset === 'number') {
          msg.offset = f.offset;
          const p = this._pos.get(f.room);
          if (p && f.offset > p.offset) p.offset = f.offset;
        }
        if (f.from !== undefined) msg.from = f.from;
        if (msg.room !== undefined) {
          const set = this._roomListeners.get(msg.room);
          if (set) {
            for (const fn of [...set]) {
              try {
                fn(msg);
              } catch (err) {
                setTimeout(() => {
                  throw err;
                }, 0);
              }
            }
          }
        }
        this._emit('message', msg);
        return;
      }
    }
  }

  // _refresh answers refresh_required: a new token from options.token(),
  // sent in a refresh frame. A failure is reported as an 'error'; the hub
  // then closes at the old token's expiry (4002) and the client reconnects.
  async _refresh(expiresAt) {
    const get = this.options.token;
    if (typeof get !== 'function' || this._refreshing) return;
    const ws = this._ws;
    this._refreshing = true;
    try {
      const token = await get();
      if (this._ws !== ws || this._state !== State.OPEN) return;
      await this._request({ type: 'refresh', token }, 'refresh');
      this._emit('refresh', { expiresAt });
    } catch (err) {
      if (this._ws === ws && !(err && err.code === 'disconnected')) {
        this._emit('error', err instanceof HubError ? err : new HubError('token', 'getting the token: ' + (err && err.message)));
      }
    } finally {
      this._refreshing = false;
    }
  }

  _onClose(code, reason) {
    this._detach();
    this._probeId = null;
    this._serverRooms.clear();
    const should = this.options.shouldReconnect || defaultShouldReconnect;
    const again = !this._stopped && this.options.reconnect !== false && should(code, reason);
    if (!again) {
      this._stopped = true;
      this._finish(code, reason, true);
      return;
    }
    // Requests written on the lost socket: joins and presence questions are
    // sent again (re-fetches and re-joins are made anew on open), leaves are
    // done (the next connection is not in the room), messages may or may not
    // have arrived, so they fail with "disconnected".
    const again2 = [];
    for (const [id, r] of this._pending) {
      if (!r.sent) continue;
      this._pending.delete(id);
      if (r.kind === 'join' || r.kind === 'presence') {
        r.sent = false;
        this._pending.set(id, r);
        again2.push(r);
      } else if (r.kind === 'leave') {
        clearTimeout(r.timer);
        r.resolve();
      } else if (r.kind === 'message' || r.kind === 'refresh') {
        clearTimeout(r.timer);
        r.reject(new HubError('disconnected', 'connection lost before the ack'));
      }
    }
    this._queue = again2.concat(this._queue);
    this._emit('close', { code, reason, willReconnect: true });
    this._retry(code, reason);
  }

  _retry() {
    if (this._stopped) return;
    const o = this.options;
    const base = Math.min(o.maxDelay, o.minDelay * Math.pow(o.factor, this._attempt));
    const delay = Math.round(base * (1 - o.jitter * Math.random()));
    this._attempt++;
    this._setState(State.RECONNECTING);
    this._emit('reconnecting', { attempt: this._attempt, delay });
    clearTimeout(this._timers.retry);
    this._timers.retry = setTimeout(() => {
      this._timers.retry = null;
      if (!this._stopped) this._open();
    }, delay);
  }

  // _finish ends the client: everything pending fails with "closed".
  _finish(code, reason, emitClose) {
    clearTimeout(this._timers.retry);
    this._timers.retry = null;
    if (typeof globalThis.removeEventListener === 'function') {
      globalThis.removeEventListener('online', this._onOnline);
    }
    const err = new HubError('closed', 'connection closed' + (reason ? ': ' + reason : ''));
    for (const r of this._pending.values()) {
      clearTimeout(r.timer);
      r.reject(err);
    }
    this._pending.clear();
    this._queue = [];
    const waiters = this._readyWaiters;
    this._readyWaiters = [];
    for (const w of waiters) w.reject(err);
    this._setState(State.CLOSED);
    if (emitClose) this._emit('close', { code, reason, willReconnect: false });
  }

  _request(frame, kind, room) {
    if (this._stopped && this._state === State.CLOSED) {
      return Promise.reject(new HubError('closed', 'client is closed'));
    }
    const id = ++this._nextId;
    let text;
    try {
      text = JSON.stringify({ ...frame, id });
    } catch (err) {
      return Promise.reject(new HubError('invalid', 'data is not JSON: ' + err.message));
    }
    return new Promise((resolve, reject) => {
      const r = { id, kind, room, text, resolve, reject, timer: null, sent: false };
      const t = this.options.requestTimeout;
      if (t > 0) {
        r.timer = setTimeout(() => {
          this._pending.delete(id);
          const i = this._queue.indexOf(r);
          if (i >= 0) this._queue.splice(i, 1);
          reject(new HubError('timeout', `no answer within ${t} ms`));
        }, t);
      }
      if (this._state === State.OPEN) {
        this._pending.set(id, r);
        this._write(r);
        return;
      }
      if (this._queue.length >= this.options.maxQueue) {
        clearTimeout(r.timer);
        reject(new HubError('queue_full', `more than ${this.options.maxQueue} requests waiting for a connection`));
        return;
      }
      this._pending.set(id, r);
      this._queue.push(r);
    });
  }

  _write(r) {
    r.sent = true;
    try {
      this._ws.send(r.text);
    } catch {
      // The socket is closing; _onClose deals with r.
    }
  }

  _cancelQueuedJoins(room) {
    this._queue = this._queue.filter((r) => {
      if (r.kind !== 'join' || r.room !== room) return true;
      this._pending.delete(r.id);
      clearTimeout(r.timer);
      r.reject(new HubError('cancelled', 'left the room before joining it'));
      return false;
    });
  }
}

/** connect creates a client and starts connecting; see HubClient. */
export function connect(url, options) {
  const c = new HubClient(url, options);
  c.connect().catch(() => {});
  return c;
}

// validName mirrors the hub's rule for room and user names: 1 to 128 of
// letters, digits and _-:@. with no empty dot-separated part.
export function validName(s) {
  return (
    typeof s === 'string' &&
    s.length >= 1 &&
    s.length <= 128 &&
    /^[A-Za-z0-9_\-:@.]+$/.test(s) &&
    !s.split('.').some((p) => p === '')
  );
}
