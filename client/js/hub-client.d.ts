// Types of hub-client.js, the browser and Node client of Hub.

export declare const State: {
  readonly IDLE: 'idle';
  readonly CONNECTING: 'connecting';
  readonly OPEN: 'open';
  readonly RECONNECTING: 'reconnecting';
  readonly CLOSED: 'closed';
};
export type State = (typeof State)[keyof typeof State];

export declare const CloseCode: {
  readonly NORMAL: 1000;
  readonly GOING_AWAY: 1001;
  readonly PROTOCOL_ERROR: 1002;
  readonly UNSUPPORTED_DATA: 1003;
  readonly ABNORMAL: 1006;
  readonly INVALID_DATA: 1007;
  readonly POLICY: 1008;
  readonly TOO_BIG: 1009;
  readonly RECONNECT: 4000;
  readonly TIMEOUT: 4001;
  readonly TOKEN_EXPIRED: 4002;
  readonly MAX_AGE: 4003;
  readonly SUB_CHANGED: 4004;
  readonly KICKED: 4500;
  readonly CONNECTION_LIMIT: 4501;
};

/** Client-side error codes; server errors have numeric codes (the hub's error table). */
export type ClientErrorCode =
  | 'timeout'
  | 'closed'
  | 'disconnected'
  | 'queue_full'
  | 'cancelled'
  | 'invalid'
  | 'socket'
  | 'token';

/** HubError is how every request fails. */
export declare class HubError extends Error {
  readonly name: 'HubError';
  /** The server's error code (a number, e.g. 109 "not a member of this room") or a client-side code. */
  readonly code: number | ClientErrorCode;
  /** The server's error frame, when it sent one. */
  readonly frame?: { type: 'error'; id?: string | number; code: number; message: string };
  constructor(code: number | string, message: string, frame?: object);
}

/** A message pushed by the server. */
export interface HubMessage<T = unknown> {
  /** The payload, any JSON value. */
  data: T;
  /** Set when the message went to a room this connection joined. */
  room?: string;
  /** Set by the server when another user sent it to this user or room. */
  from?: string;
  /** Its position in the room's history (rooms of a namespace with history only). */
  offset?: number;
  /** The whole frame as received. */
  frame: Record<string, unknown>;
}

/** A constructor compatible with the WHATWG WebSocket. */
export interface WebSocketLike {
  send(data: string): void;
  close(code?: number, reason?: string): void;
  onopen: ((ev: unknown) => void) | null;
  onmessage: ((ev: { data: unknown }) => void) | null;
  onerror: ((ev: unknown) => void) | null;
  onclose: ((ev: { code: number; reason: string }) => void) | null;
}
export type WebSocketConstructor = new (url: string) => WebSocketLike;

export interface HubClientOptions {
  /** Development mode only: the user name, sent as ?user=. */
  user?: string;
  /**
   * A JWT, or a function returning one: called before every connection
   * attempt and when the hub asks for a refresh ahead of the token's
   * expiry, so the connection outlives its tokens.
   */
  token?: string | (() => string | Promise<string>);
  /** Extra query parameters for the upgrade URL. */
  params?: Record<string, string | string[]>;
  /** WebSocket class; default globalThis.WebSocket. */
  WebSocket?: WebSocketConstructor;
  /** Reconnect after the connection is lost; default true. */
  reconnect?: boolean;
  /** First reconnect delay in ms; default 500. */
  minDelay?: number;
  /** Largest reconnect delay in ms; default 30000. */
  maxDelay?: number;
  /** Growth of the delay per failed attempt; default 2. */
  factor?: number;
  /** Fraction of the delay taken off at random (0..1); default 0.5. */
  jitter?: number;
  /** How long a request waits for its ack, in ms, queueing included; default 10000; 0 = forever. */
  requestTimeout?: number;
  /** Requests kept while not connected; default 100. Beyond it requests fail with "queue_full". */
  maxQueue?: number;
  /** Probe the connection after this many ms without any frame; default 25000; 0 = never. */
  pingInterval?: number;
  /** Give up on the socket when a probe gets no answer within this many ms; default 10000. */
  pongTimeout?: number;
  /** Give up on a connection attempt after this many ms; default 10000; 0 = never. */
  connectTimeout?: number;
  /** Decide whether to reconnect after a close; default: not after 1000 and 4500-4999. */
  shouldReconnect?: (code: number, reason: string) => boolean;
}

/** One user present in a room, with its connections (SPEC §11). */
export interface PresenceMember {
  user: string;
  info?: unknown;
  connections: { id: string; node: string; connected_at: string }[];
}

/** A room's presence; members is undefined above the room's max_list (counts only). */
export interface Presence {
  room: string;
  members?: PresenceMember[];
  count: number;
  connections: number;
}

export interface HubClientEvents {
  message: (msg: HubMessage) => void;
  error: (err: HubError) => void;
  state: (state: State, previous: State) => void;
  open: (info: { reconnected: boolean }) => void;
  close: (info: { code: number; reason: string; willReconnect: boolean }) => void;
  reconnecting: (info: { attempt: number; delay: number }) => void;
  /**
   * After a reconnect, for each history room joined again: recovered true
   * means every missed message was replayed (already emitted, in order);
   * false means the history no longer reaches back (or was created anew, or
   * a resync frame announced a hole): reload the room's state from your backend.
   */
  recovered: (info: { room: string; recovered: boolean; resync?: boolean }) => void;
  /** A user came into a room this client asked presence() of (join_leave rooms). */
  join: (info: { room: string; user: string; info?: unknown }) => void;
  /** A user's last connection left such a room. */
  leave: (info: { room: string; user: string }) => void;
  /** The kept presence of a room changed (or was answered). */
  presence: (p: Presence) => void;
  /** The hub made the connection join a room (JWT join claim, connect proxy, server API). */
  joined: (info: { room: string; by: 'server' }) => void;
  /** The hub made the connection leave a room: reason "api" (server API) or "token" (a refreshed rooms claim). */
  left: (info: { room: string; by: 'server'; reason: string }) => void;
  /** A new token from options.token() was accepted; expiresAt is the old token's expiry (Unix seconds). */
  refresh: (info: { expiresAt: number }) => void;
}

export declare class HubClient {
  constructor(url: string, options?: HubClientOptions);
  readonly url: string;
  readonly state: State;
  readonly connected: boolean;
  /** Rooms the client is in, or will join again once it reconnects, and those the hub joined for it. */
  readonly rooms: string[];
  /** Open the connection; resolved once it is open, rejected if closed before it ever opens. */
  connect(): Promise<void>;
  /** Close for good: no reconnect; pending requests fail with "closed". */
  close(code?: number, reason?: string): void;
  join(room: string, opts?: { since?: { offset: number; epoch: string } }): Promise<void>;
  /** The last position seen in a history room (sent as "since" when rejoining); undefined for other rooms. */
  position(room: string): { epoch: string; offset: number } | undefined;
  leave(room: string): Promise<void>;
  /**
   * Who is in room (joined, with presence); the list is then kept up to date from the hub's
   * frames, and asked again after each reconnect (changes meanwhile come as join/leave events).
   */
  presence(room: string): Promise<Presence>;
  /** The users in room as kept since presence(room); undefined before it or above max_list. */
  members(room: string): PresenceMember[] | undefined;
  send(data: unknown, opts?: { room?: string; user?: string }): Promise<void>;
  sendToRoom(room: string, data: unknown): Promise<void>;
  sendToUser(user: string, data: unknown): Promise<void>;
  on<E extends keyof HubClientEvents>(event: E, fn: HubClientEvents[E]): () => void;
  off<E extends keyof HubClientEvents>(event: E, fn: HubClientEvents[E]): void;
  onRoom(room: string, fn: (msg: HubMessage) => void): () => void;
}

/** Create a client and start connecting. */
export declare function connect(url: string, options?: HubClientOptions): HubClient;
export declare function defaultShouldReconnect(code: number): boolean;
/** The hub's rule for room and user names. */
export declare function validName(s: string): boolean;
