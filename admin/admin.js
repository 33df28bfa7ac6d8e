// Hub admin page: a client of the node's HTTP API, nothing more. Every call
// carries the admin token or API key typed in (sessionStorage, this tab
// only). No framework, no build step.
'use strict';

const REFRESH_MS = 5000;
const MAX_EVENTS = 500;
const TOKEN_KEY = 'hub-admin-token';

const $ = (sel) => document.querySelector(sel);
const state = {
  token: sessionStorage.getItem(TOKEN_KEY) || '',
  timer: null,
  events: null,          // AbortController of the running events stream
  room: '',              // the room shown in the Room card
  lookup: '',            // the last lookup, refreshed after a kick
  prevCPU: new Map(),    // node → {cpu, at} for CPU % between refreshes
};

class APIError extends Error {
  constructor(status, message) { super(message); this.status = status; }
}

async function api(method, path, body) {
  const headers = {};
  if (state.token) headers.Authorization = 'Bearer ' + state.token;
  if (body !== undefined) headers['Content-Type'] = 'application/json';
  const resp = await fetch(path, { method, headers, body, cache: 'no-store' });
  const text = await resp.text();
  let json = null;
  try { json = text ? JSON.parse(text) : null; } catch { /* not JSON */ }
  if (!resp.ok) {
    const msg = (json && json.error) || text || resp.statusText;
    if (resp.status === 401) needLogin(msg);
    throw new APIError(resp.status, msg);
  }
  return json;
}

// A route the node does not have (an older hub, or a feature not built in)
// answers 404 "no such API call" or 405: the page hides what needs it.
const missingRoute = (e) => e instanceof APIError && (e.status === 405 || (e.status === 404 && /no such API call/.test(e.message)));

// ---- formatting ----

const esc = (s) => String(s ?? '').replace(/[&<>"']/g, (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' }[c]));
const num = (n) => (n ?? 0).toLocaleString('en-US');
function bytes(n) {
  if (!n) return '–';
  const u = ['B', 'KiB', 'MiB', 'GiB', 'TiB'];
  let i = 0;
  while (n >= 1024 && i < u.length - 1) { n /= 1024; i++; }
  return (n >= 100 || i === 0 ? n.toFixed(0) : n.toFixed(1)) + ' ' + u[i];
}
function duration(s) {
  s = Math.max(0, Math.floor(s));
  const d = Math.floor(s / 86400), h = Math.floor(s % 86400 / 3600), m = Math.floor(s % 3600 / 60);
  if (d) return `${d}d ${h}h`;
  if (h) return `${h}h ${m}m`;
  if (m) return `${m}m ${s % 60}s`;
  return `${s}s`;
}
const since = (iso) => iso ? duration((Date.now() - Date.parse(iso)) / 1000) + ' ago' : '–';
const clock = (d) => d.toTimeString().slice(0, 8);

function showBanner(msg) {
  const b = $('#banner');
  b.textContent = msg;
  b.hidden = !msg;
}

// ---- sign in ----

function needLogin(why) {
  $('#login').hidden = false;
  $('#login-why').textContent = state.token ? 'The token was refused: ' + why : 'This node needs its admin token or API key.';
  $('#login-token').focus();
  stopEvents();
}

$('#login-form').addEventListener('submit', (ev) => {
  ev.preventDefault();
  state.token = $('#login-token').value.trim();
  sessionStorage.setItem(TOKEN_KEY, state.token);
  $('#login').hidden = true;
  $('#signout').hidden = !state.token;
  refresh();
});

$('#signout').addEventListener('click', () => {
  sessionStorage.removeItem(TOKEN_KEY);
  state.token = '';
  $('#signout').hidden = true;
  needLogin('');
});

// ---- nodes ----

function nodeState(n) {
  if (n.draining) return ['draining', 'warn'];
  if (!n.ready) {
    const failed = Object.entries(n.checks || {}).filter(([, ok]) => !ok).map(([k]) => k);
    return ['not ready' + (failed.length ? ': ' + failed.join(', ') : ''), 'bad'];
  }
  return ['ready', 'ok'];
}

function cpuPercent(n) {
  // Between two refreshes when we have both, else the node's own figure.
  const prev = state.prevCPU.get(n.node);
  const now = { cpu: n.cpu_seconds, at: Date.parse(n.time) || Date.now() };
  state.prevCPU.set(n.node, now);
  if (prev && now.at > prev.at && now.cpu >= prev.cpu) {
    return 100 * (now.cpu - prev.cpu) / ((now.at - prev.at) / 1000);
  }
  return n.cpu_percent;
}

function renderNodes(res) {
  const tbody = $('#nodes tbody');
  const rows = [];
  let conns = 0, ready = 0;
  for (const n of res.nodes) {
    const [word, cls] = nodeState(n);
    if (cls === 'ok') ready++;
    conns += n.connections;
    const cpu = cpuPercent(n);
    const cores = n.gomaxprocs || 1;
    const load = Math.min(100, cpu / cores);
    const mem = n.memory_limit_bytes ? ` <span class="muted small">/ ${bytes(n.memory_limit_bytes)}</span>` : '';
    rows.push(`<tr data-node="${esc(n.node)}">
      <td data-label="node">${esc(n.node)}</td>
      <td data-label="state"><span class="pill ${cls}">${esc(word)}</span></td>
      <td data-label="connections" class="num conns">${num(n.connections)}</td>
      <td data-label="rooms" class="num">${num(n.rooms)}</td>
      <td data-label="users" class="num">${num(n.users)}</td>
      <td data-label="CPU" class="num"><span class="meter" title="${cpu.toFixed(1)} % of one core, ${cores} usable"><i><b style="width:${load.toFixed(0)}%"></b></i>${cpu.toFixed(1)} %</span></td>
      <td data-label="memory" class="num" title="resident set; Go heap ${bytes(n.heap_bytes)}">${bytes(n.rss_bytes)}${mem}</td>
      <td data-label="goroutines" class="num">${num(n.goroutines)}</td>
      <td data-label="version">${esc(n.version)}</td>
      <td data-label="uptime" class="num" title="since ${esc(n.started_at)}">${duration(n.uptime_seconds)}</td>
    </tr>`);
  }
  for (const name of res.missing || []) {
    rows.push(`<tr data-node="${esc(name)}"><td data-label="node">${esc(name)}</td><td data-label="state"><span class="pill bad">no answer</span></td>` +
      '<td colspan="8" class="muted" data-label="">in the gossip membership, but it did not answer through NATS within 2 s</td></tr>');
  }
  tbody.innerHTML = rows.join('') || '<tr class="empty"><td colspan="10">no nodes</td></tr>';
  const total = res.nodes.length + (res.missing || []).length;
  $('#sum-nodes').textContent = `${res.nodes.length}${total !== res.nodes.length ? ' / ' + total : ''}`;
  $('#sum-conns').textContent = num(conns);
  const healthy = ready === total;
  $('#sum-health').innerHTML = `<span class="pill ${healthy ? 'ok' : 'bad'}">${healthy ? 'all ready' : `${total - ready} not ready`}</span>`;
  $('#nodes-note').textContent = res.complete ? `answered by ${res.nodes.length} of ${total}` : `${(res.missing || []).length} node(s) did not answer`;
}

// ---- busiest rooms ----

async function loadRooms() {
  const prefix = $('#rooms-prefix').value.trim();
  const q = new URLSearchParams({ sort: 'members', limit: '10' });
  if (prefix) q.set('prefix', prefix);
  try {
    const res = await api('GET', '/api/rooms?' + q);
    const rooms = res.rooms || [];
    const max = Math.max(1, ...rooms.map((r) => r.members));
    $('#rooms tbody').innerHTML = rooms.map((r) => `<tr data-room="${esc(r.room)}" tabindex="0">
        <td>${esc(r.room)}</td>
        <td class="num"><span class="bar" style="width:${Math.max(2, 60 * r.members / max).toFixed(0)}px"></span>${num(r.members)}</td>
      </tr>`).join('') || `<tr class="empty"><td colspan="2">${prefix ? 'no room starts with ' + esc(prefix) : 'no rooms yet'}</td></tr>`;
    $('#rooms-note').textContent = res.complete === false ? 'some nodes did not answer' : '';
    $('#rooms-card').hidden = false;
  } catch (e) {
    if (missingRoute(e)) { $('#rooms-card').hidden = true; return; }
    $('#rooms tbody').innerHTML = `<tr class="empty"><td colspan="2">${esc(e.message)}</td></tr>`;
  }
}

$('#rooms-form').addEventListener('submit', (ev) => { ev.preventDefault(); loadRooms(); });
$('#rooms tbody').addEventListener('click', (ev) => {
  const tr = ev.target.closest('tr[data-room]');
  if (tr) showRoom(tr.dataset.room);
});
$('#rooms tbody').addEventListener('keydown', (ev) => {
  const tr = ev.target.closest('tr[data-room]');
  if (tr && ev.key === 'Enter') showRoom(tr.dataset.room);
});

// ---- look up and kick ----

function connItem(c) {
  const rooms = (c.rooms || []).length ? c.rooms.map(esc).join(', ') : '<span class="muted">none</span>';
  return `<li data-conn="${esc(c.id)}">
    <div class="top"><span class="id">${esc(c.id)}</span><button class="danger kick" data-conn="${esc(c.id)}" type="button">Kick</button></div>
    <dl>
      <dt>user</dt><dd>${c.user ? esc(c.user) : '<span class="muted">anonymous</span>'}</dd>
      <dt>node</dt><dd>${esc(c.node)}</dd>
      <dt>since</dt><dd title="${esc(c.connected_at)}">${esc(since(c.connected_at))}</dd>
      <dt>from</dt><dd>${esc(c.peer || '–')}</dd>
      <dt>rooms</dt><dd class="rooms">${rooms}</dd>
    </dl>
  </li>`;
}

async function lookup(what) {
  state.lookup = what;
  const status = $('#lookup-status'), list = $('#lookup-results');
  status.textContent = 'looking…';
  try {
    let conns = [], note = '';
    // A connection id is <node>.<sequence>; anything else is a user name.
    // A user name may hold dots too, so a miss as a connection falls back.
    if (what.includes('.')) {
      try { conns = [await api('GET', '/api/connections/' + encodeURIComponent(what))]; } catch (e) { if (e.status !== 404) throw e; }
    }
    if (!conns.length) {
      const res = await api('GET', '/api/users/' + encodeURIComponent(what) + '/connections');
      conns = res.connections || [];
      note = res.complete === false ? ' (some nodes did not answer)' : '';
    }
    list.innerHTML = conns.map(connItem).join('');
    status.textContent = conns.length
      ? `${conns.length} connection${conns.length > 1 ? 's' : ''} of ${conns[0].user ? 'user ' + conns[0].user : 'an anonymous user'}${note}`
      : `no connection of user or id "${what}"${note}`;
  } catch (e) {
    list.innerHTML = '';
    status.textContent = e.message;
  }
}

$('#lookup-form').addEventListener('submit', (ev) => {
  ev.preventDefault();
  const what = $('#lookup').value.trim();
  if (what) lookup(what);
});

$('#lookup-results').addEventListener('click', async (ev) => {
  const btn = ev.target.closest('button.kick');
  if (!btn) return;
  const id = btn.dataset.conn;
  btn.disabled = true;
  btn.textContent = 'Kicking…';
  try {
    await api('DELETE', '/api/connections/' + encodeURIComponent(id));
    const li = btn.closest('li');
    li.classList.add('gone');
    btn.textContent = 'Kicked';
    $('#lookup-status').textContent = `kicked ${id}`;
    refresh();
  } catch (e) {
    btn.disabled = false;
    btn.textContent = 'Kick';
    $('#lookup-status').textContent = `kick ${id}: ${e.message}`;
  }
});

// ---- publish ----

const placeholders = { room: 'room name', user: 'user name', connection: 'connection id', broadcast: 'every connection in the cluster' };
$('#pub-kind').addEventListener('change', () => {
  const kind = $('#pub-kind').value;
  const t = $('#pub-target');
  t.placeholder = placeholders[kind];
  t.disabled = kind === 'broadcast';
  if (kind === 'broadcast') t.value = '';
});

$('#publish-form').addEventListener('submit', async (ev) => {
  ev.preventDefault();
  const kind = $('#pub-kind').value, target = $('#pub-target').value.trim();
  let data = $('#pub-data').value.trim();
  const status = $('#pub-status');
  if (kind !== 'broadcast' && !target) { status.textContent = `a ${placeholders[kind]} is needed`; return; }
  if (!data) { status.textContent = 'write a message first'; return; }
  try { JSON.parse(data); } catch { data = JSON.stringify(data); }
  const path = kind === 'broadcast' ? '/api/broadcast'
    : `/api/${kind === 'connection' ? 'connections' : kind + 's'}/${encodeURIComponent(target)}/messages`;
  $('#pub-send').disabled = true;
  try {
    const res = await api('POST', path, data);
    status.textContent = `accepted at ${clock(new Date())}` + (res && res.offset ? `, stored at offset ${res.offset}` : '');
    if (kind === 'room' && state.room === target) showRoom(target);
  } catch (e) {
    status.textContent = e.message;
  } finally {
    $('#pub-send').disabled = false;
  }
});

// ---- room: members, presence, history ----

async function showRoom(room) {
  state.room = room;
  $('#room-name').value = room;
  if ($('#pub-kind').value === 'room') $('#pub-target').value = room;
  const status = $('#room-status');
  try {
    const r = await api('GET', '/api/rooms/' + encodeURIComponent(room));
    status.textContent = `${num(r.members)} member${r.members === 1 ? '' : 's'} on ${r.nodes} node${r.nodes === 1 ? '' : 's'}${r.complete === false ? ' (incomplete)' : ''}`;
  } catch (e) {
    status.textContent = e.message;
  }
  // Presence and history exist where the node has them: a missing route
  // hides the panel; a room without them says so.
  try {
    const p = await api('GET', `/api/rooms/${encodeURIComponent(room)}/presence`);
    const members = p.members || [];
    $('#presence-count').textContent = `${num(p.count ?? members.length)}${p.complete === false ? ', incomplete' : ''}`;
    $('#presence-list').innerHTML = members.map((m) => {
      const conns = (m.connections || []).map((c) => (typeof c === 'string' ? c : `${c.id} on ${c.node}`));
      return `<li title="${esc(conns.join(', '))}">${esc(m.user || 'anonymous')}${conns.length > 1 ? ' ×' + conns.length : ''}</li>`;
    }).join('') || (p.count ? `<li class="muted">${num(p.count)} members (above max_list: counts only)</li>` : '<li class="muted">nobody</li>');
    $('#room-presence').hidden = false;
  } catch (e) {
    $('#room-presence').hidden = missingRoute(e);
    if (!missingRoute(e)) { $('#presence-count').textContent = ''; $('#presence-list').innerHTML = `<li>${esc(e.message)}</li>`; }
  }
  try {
    const h = await api('GET', `/api/rooms/${encodeURIComponent(room)}/history?limit=20`);
    const msgs = h.messages || [];
    $('#history-meta').textContent = `epoch ${h.epoch || '–'}, offset ${h.offset ?? '–'}`;
    $('#history-list').innerHTML = msgs.map((m) => `<li><span class="off">#${esc(m.offset)}</span>${m.from ? '<b>' + esc(m.from) + '</b> ' : ''}${esc(JSON.stringify(m.data))}</li>`).join('') ||
      '<li class="muted">no stored messages</li>';
    $('#room-history').hidden = false;
  } catch (e) {
    $('#room-history').hidden = missingRoute(e);
    if (!missingRoute(e)) { $('#history-meta').textContent = ''; $('#history-list').innerHTML = `<li class="muted">${esc(e.message)}</li>`; }
  }
}

$('#room-form').addEventListener('submit', (ev) => {
  ev.preventDefault();
  const room = $('#room-name').value.trim();
  if (room) showRoom(room);
});

// ---- live events (GET /api/events, Server-Sent Events over fetch so the
// token goes in a header, not in the URL) ----

function eventLine(name, data) {
  const grep = $('#events-grep').value.trim();
  if (grep && !(name + ' ' + data).includes(grep)) return;
  let summary = data;
  try {
    const e = JSON.parse(data);
    const parts = [];
    for (const k of ['connection_id', 'user', 'node', 'room', 'to_user', 'reason', 'reported_by']) {
      if (e[k]) parts.push(`${k === 'connection_id' ? 'conn' : k}=${e[k]}`);
    }
    if (e.message !== undefined) parts.push('message=' + JSON.stringify(e.message));
    if (e.dropped) parts.push(`${e.dropped} events not shown: this page read too slowly`);
    summary = parts.length ? parts.join(' ') : data;
  } catch { /* shown as it came */ }
  addEvent(`<span class="t">${clock(new Date())}</span><span class="n ${esc(name)}">${esc(name)}</span>${esc(summary)}`);
}

function addEvent(html, cls) {
  const list = $('#events');
  const atBottom = list.scrollHeight - list.scrollTop - list.clientHeight < 30;
  const li = document.createElement('li');
  if (cls) li.className = cls;
  li.innerHTML = html;
  list.appendChild(li);
  while (list.children.length > MAX_EVENTS) list.firstChild.remove();
  if (atBottom) list.scrollTop = list.scrollHeight;
}

function setEventsState(word, cls) {
  const s = $('#events-state');
  s.textContent = word;
  s.className = 'pill ' + (cls || '');
  $('#events-toggle').textContent = state.events ? 'Stop' : 'Start';
}

async function startEvents() {
  stopEvents();
  const ctl = new AbortController();
  state.events = ctl;
  const filter = $('#events-filter').value.trim() || '>';
  setEventsState('connecting', 'warn');
  try {
    const headers = { Accept: 'text/event-stream' };
    if (state.token) headers.Authorization = 'Bearer ' + state.token;
    const resp = await fetch('/api/events?' + new URLSearchParams({ filter }), { headers, signal: ctl.signal, cache: 'no-store' });
    if (!resp.ok) {
      const j = await resp.json().catch(() => ({}));
      if (resp.status === 401) needLogin(j.error || '');
      throw new Error(j.error || resp.statusText);
    }
    const reader = resp.body.pipeThrough(new TextDecoderStream()).getReader();
    let buf = '';
    for (;;) {
      const { value, done } = await reader.read();
      if (done) break;
      buf += value;
      let i;
      while ((i = buf.indexOf('\n\n')) >= 0) {
        const block = buf.slice(0, i);
        buf = buf.slice(i + 2);
        let name = 'message';
        const data = [];
        for (const line of block.split('\n')) {
          if (line.startsWith('event: ')) name = line.slice(7);
          else if (line.startsWith('data: ')) data.push(line.slice(6));
        }
        if (!data.length) continue; // a ping
        if (name === 'ready') {
          const r = JSON.parse(data.join('\n'));
          setEventsState('live', 'ok');
          addEvent(`tailing ${esc(r.filters.join(', '))} (via node ${esc(r.node)})`, 'note');
          continue;
        }
        eventLine(name, data.join('\n'));
      }
    }
    if (state.events === ctl) addEvent('stream ended by the node', 'note');
  } catch (e) {
    if (e.name !== 'AbortError') addEvent('events: ' + esc(e.message), 'note');
  }
  if (state.events === ctl) {
    state.events = null;
    setEventsState('off');
  }
}

function stopEvents() {
  if (!state.events) return;
  const ctl = state.events;
  state.events = null;
  ctl.abort();
  setEventsState('off');
}

$('#events-form').addEventListener('submit', (ev) => {
  ev.preventDefault();
  if (state.events) stopEvents(); else startEvents();
});
$('#events-clear').addEventListener('click', () => { $('#events').innerHTML = ''; });

// ---- refresh loop ----

async function refresh() {
  clearTimeout(state.timer);
  try {
    const res = await api('GET', '/api/nodes');
    renderNodes(res);
    showBanner('');
    $('#refreshed').textContent = 'updated ' + clock(new Date());
    await loadRooms();
    if (!state.events && !refresh.started) { refresh.started = true; startEvents(); }
  } catch (e) {
    if (e.status === 401) return; // the sign-in form is up; it calls refresh
    showBanner(e.status === 403 ? e.message : 'cannot reach the node: ' + e.message);
  }
  state.timer = setTimeout(refresh, REFRESH_MS);
}

$('#signout').hidden = !state.token;
refresh();
