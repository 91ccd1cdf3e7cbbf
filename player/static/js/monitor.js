// The AV team's monitor: rooms, publishers, viewers and caption languages,
// live from /api/rooms/events (server-sent events), with admin actions.
import { $, el } from './dom.js';

const TOKEN_KEY = 'relay.adminToken';
const SILENT_SECONDS = 60; // a live room's language quiet for longer is highlighted

const app = {
  prev: new Map(), // room -> {at, bytes, cues: Map(lang -> {at, cues})} for rates
  open: new Set(), // rooms whose viewer list is shown
  token: sessionStorage.getItem(TOKEN_KEY) || '',
};

function fmtBitrate(bps) {
  if (!(bps > 0)) return '—';
  return bps >= 1e6 ? `${(bps / 1e6).toFixed(2)} Mb/s` : `${Math.round(bps / 1e3)} kb/s`;
}

function fmtAgo(seconds) {
  if (!isFinite(seconds)) return '—';
  if (seconds < 60) return `${Math.round(seconds)} s`;
  if (seconds < 3600) return `${Math.floor(seconds / 60)} min ${Math.round(seconds % 60)} s`;
  return `${Math.floor(seconds / 3600)} h ${Math.floor((seconds % 3600) / 60)} min`;
}

function fmtTime(iso) {
  const d = new Date(iso);
  return isNaN(d) ? '' : d.toLocaleTimeString([], { hour: '2-digit', minute: '2-digit', second: '2-digit' });
}

// rates turns counters into per-second figures between two snapshots.
function rates(room, now) {
  const video = (room.tracks || []).find((t) => t.kind === 'video');
  const audio = (room.tracks || []).find((t) => t.kind === 'audio');
  const bytes = (video?.bytes || 0) + (audio?.bytes || 0);
  const prev = app.prev.get(room.name);
  const cur = { at: now, bytes, cues: new Map() };
  let bitrate = 0;
  if (prev && now > prev.at && bytes >= prev.bytes) bitrate = ((bytes - prev.bytes) * 8) / ((now - prev.at) / 1000);
  const cueRates = new Map();
  for (const c of room.captions || []) {
    const p = prev?.cues.get(c.lang);
    cur.cues.set(c.lang, { at: now, cues: c.cues, rate: p?.rate ?? 0 });
    if (p && now - p.at >= 5000) {
      const perMin = ((c.cues - p.cues) * 60000) / (now - p.at);
      cueRates.set(c.lang, perMin);
      cur.cues.set(c.lang, { at: now, cues: c.cues, rate: perMin });
    } else if (p) {
      cur.cues.set(c.lang, p); // keep the older baseline for a steadier rate
      cueRates.set(c.lang, p.rate);
    }
  }
  if (!prev || now - prev.at >= 1000) app.prev.set(room.name, { ...cur, bytes });
  return { bitrate, cueRates, codec: video?.codec || audio?.codec || '', keyframes: video?.keyframes, plis: (video?.plis || 0) };
}

async function action(url, method = 'POST') {
  if (!app.token) {
    setAdminState('Enter an admin token first', false);
    $('#admin-token').focus();
    return null;
  }
  const resp = await fetch(url, { method, headers: { Authorization: `Bearer ${app.token}` } });
  if (resp.status === 401 || resp.status === 403) {
    setAdminState('Token refused', false);
    return null;
  }
  if (!resp.ok && resp.status !== 404) {
    setAdminState(`Failed (${resp.status})`, false);
    return null;
  }
  return resp;
}

function setAdminState(text, ok) {
  const s = $('#admin-state');
  s.textContent = text;
  s.dataset.ok = String(ok);
}

async function loadViewers(room, box) {
  const resp = await action(`/api/rooms/${encodeURIComponent(room)}/viewers`, 'GET');
  if (!resp || !resp.ok) return;
  const { viewers } = await resp.json();
  box.replaceChildren(viewers.length
    ? el('ul', {}, viewers.map((v) => el('li', {},
        el('span', {}, `${v.tag} · since ${fmtTime(v.since)} · loss ${(v.loss * 100).toFixed(1)} % · RTT ${v.rttNs ? Math.round(v.rttNs / 1e6) + ' ms' : '—'}`),
        el('button', { class: 'btn small danger', type: 'button', 'aria-label': `Disconnect viewer ${v.tag}`,
          onclick: async () => {
            if (await action(`/api/rooms/${encodeURIComponent(room)}/viewers/${encodeURIComponent(v.tag)}/disconnect`)) loadViewers(room, box);
          } }, 'Disconnect'))))
    : el('p', { class: 'none' }, 'No viewers.'));
}

function roomCard(room, now) {
  const r = rates(room, now);
  const live = room.state === 'live';
  const langs = (room.captions || []).filter((c) => c.announced || c.viewers > 0);
  let alert = room.state === 'lost' && room.viewers > 0;
  const rows = langs.map((c) => {
    const since = c.lastCue ? (now - Date.parse(c.lastCue)) / 1000 : Infinity;
    // Quiet since the last cue, or since the room went live if none yet.
    const quiet = Math.min(since, (now - Date.parse(room.since)) / 1000);
    const silent = live && c.announced && quiet > SILENT_SECONDS;
    if (silent) alert = true;
    const names = (c.captioners || []).map((x) => x.name || x.via).join(', ') || 'none';
    const rate = r.cueRates.get(c.lang);
    return el('tr', { dataset: { silent: String(silent) } },
      el('td', {}, c.lang),
      el('td', {}, names),
      el('td', { class: 'num' }, c.viewers),
      el('td', { class: 'num' }, c.cues),
      el('td', { class: 'num' }, rate === undefined ? '—' : rate.toFixed(1)),
      el('td', { class: 'num' }, c.lastCue ? fmtAgo(since) : 'never'));
  });
  const q = room.quality || {};
  const viewersBox = el('div', { class: 'viewers', hidden: !app.open.has(room.name) });
  if (app.open.has(room.name)) loadViewers(room.name, viewersBox);
  const stateText = room.state === 'idle' ? 'no publisher' : room.state;
  return el('article', { class: 'mon-room', dataset: { room: room.name, alert: String(alert) }, 'aria-label': `Room ${room.title}` },
    el('header', {},
      el('h2', {}, room.title, el('small', {}, room.name)),
      el('span', { class: 'state', dataset: { state: room.state } }, stateText),
      el('span', { class: 'badge', title: 'since' }, fmtTime(room.since))),
    el('dl', { class: 'facts' },
      fact('Viewers', room.viewers, 'viewers'),
      fact('Ingest', live ? fmtBitrate(r.bitrate) : '—'),
      fact('Codec', (r.codec || '—').replace(/^(video|audio)\//, '')),
      fact('Publisher', room.publisher ? `${room.publisher.tag} · ${fmtTime(room.publisher.since)}` : '—'),
      fact('Viewer loss', q.reporting ? `${(q.lossMedian * 100).toFixed(1)} % / ${(q.lossMax * 100).toFixed(1)} %` : '—', '', q.lossMax > 0.05),
      fact('Viewer RTT', q.reporting ? `${Math.round(q.rttMedianMs)} / ${Math.round(q.rttMaxMs)} ms` : '—'),
      fact('Keyframes', r.keyframes ?? '—'),
      fact('PLIs', r.plis)),
    langs.length
      ? el('table', { class: 'langs' },
          el('thead', {}, el('tr', {}, ['Language', 'Captioners', 'Viewers', 'Cues', 'Cues/min', 'Last cue'].map((h) => el('th', { scope: 'col' }, h)))),
          el('tbody', {}, rows))
      : el('p', { class: 'none' }, 'No caption languages yet.'),
    el('div', { class: 'actions' },
      el('button', { class: 'btn small', type: 'button', 'aria-expanded': String(app.open.has(room.name)),
        onclick: () => {
          if (app.open.has(room.name)) app.open.delete(room.name); else app.open.add(room.name);
          render(app.last);
        } }, app.open.has(room.name) ? 'Hide viewers' : 'Show viewers'),
      el('button', { class: 'btn small danger', type: 'button', disabled: !room.publisher,
        onclick: async () => {
          if (confirm(`Disconnect the publisher of ${room.title}? Viewers stay and resume when it reconnects.`)) {
            await action(`/api/rooms/${encodeURIComponent(room.name)}/publisher/disconnect`);
          }
        } }, 'Disconnect publisher')),
    viewersBox);
}

function fact(label, value, key = '', warn = false) {
  return el('div', { class: 'fact' }, el('dt', {}, label), el('dd', { class: warn ? 'warn' : '', dataset: key ? { fact: key } : {} }, value));
}

function render(snapshot) {
  if (!snapshot) return;
  app.last = snapshot;
  const now = Date.now();
  const rooms = snapshot.rooms || [];
  $('#empty').hidden = rooms.length > 0;
  const viewers = rooms.reduce((n, r) => n + r.viewers, 0);
  const live = rooms.filter((r) => r.state === 'live').length;
  const captioners = rooms.reduce((n, r) => n + (r.captions || []).reduce((m, c) => m + (c.captioners || []).length, 0), 0);
  $('#totals').replaceChildren(
    el('div', { class: 'total' }, el('b', { id: 'total-viewers' }, viewers), el('span', {}, 'viewers')),
    el('div', { class: 'total' }, el('b', {}, `${live} / ${rooms.length}`), el('span', {}, 'rooms live')),
    el('div', { class: 'total' }, el('b', {}, captioners), el('span', {}, 'captioners connected')));
  $('#rooms').replaceChildren(...rooms.map((r) => roomCard(r, now)));
}

function connect() {
  const status = $('#status');
  const es = new EventSource('/api/rooms/events');
  es.addEventListener('rooms', (ev) => {
    status.dataset.state = 'ok';
    status.textContent = 'Live data';
    render(JSON.parse(ev.data));
  });
  es.onerror = () => {
    // EventSource reconnects by itself; say so meanwhile.
    status.dataset.state = 'reconnecting';
    status.textContent = 'Reconnecting…';
  };
}

$('#admin-token').value = app.token;
if (app.token) setAdminState('Token set', true);
$('#admin').addEventListener('submit', (ev) => {
  ev.preventDefault();
  app.token = $('#admin-token').value.trim();
  if (app.token) sessionStorage.setItem(TOKEN_KEY, app.token); else sessionStorage.removeItem(TOKEN_KEY);
  setAdminState(app.token ? 'Token set' : 'No token', Boolean(app.token));
});
connect();
