// The AV team's monitor: rooms, publishers, viewers, video layers
// (simulcast), language channels (interpreter booths, sign language) and
// caption languages, live from /api/rooms/events (server-sent events,
// roomfeed.js), with admin actions.
// The admin token, when set, also goes with the event stream: the relay
// keeps a few streams for it, so the AV team gets in while anonymous
// clients hold all the others.
import { $, el, clock } from './dom.js';
import { RoomFeed } from './roomfeed.js';
import { dir, nativeName } from './langs.js';

const TOKEN_KEY = 'relay.adminToken';
const STALLED_MS = 3000; // a live track without packets for longer is flagged
const CUE_RATE_WINDOW_MS = 5000; // cue rates are measured over at least this
const BOOTH_SILENT_S = 30; // as the RelayBoothSilent alert
const LEVEL_FLOOR_DBOV = -60; // the meter's empty end; 0 dBov is full
const SILENCE_DBOV = -50; // the relay's silence threshold

const app = {
  prev: new Map(), // room -> {at, bytes, bitrate, cues: Map(lang -> {at, cues, rate})}
  open: new Set(), // rooms whose viewer list is shown
  viewers: new Map(), // room -> last viewer list (kept across re-renders)
  viewersAt: new Map(), // room -> when its viewer list was last asked for
  token: sessionStorage.getItem(TOKEN_KEY) || '',
  refused: false, // the relay refused the token; no automatic retries
  silentAfter: 60, // seconds; the server says in each snapshot
  last: null, // the last snapshot
  rates: new Map(), // room -> figures computed when that snapshot arrived
};

function fmtBitrate(bps) {
  if (!(bps > 0)) return '—';
  return bps >= 1e6 ? `${(bps / 1e6).toFixed(2)} Mb/s` : `${Math.round(bps / 1e3)} kb/s`;
}

function fmtAgo(seconds) {
  if (!isFinite(seconds)) return '—';
  seconds = Math.max(0, seconds);
  if (seconds < 60) return `${Math.round(seconds)} s`;
  if (seconds < 3600) return `${Math.floor(seconds / 60)} min ${Math.round(seconds % 60)} s`;
  return `${Math.floor(seconds / 3600)} h ${Math.floor((seconds % 3600) / 60)} min`;
}

function fmtTime(iso) {
  const d = new Date(iso);
  return isNaN(d) || d.getFullYear() < 2000 ? '' : clock(d);
}

function fmtMs(ms) {
  return ms < 10 ? ms.toFixed(1) : String(Math.round(ms));
}

function fmtPercent(x) {
  return `${(x * 100).toFixed(1)} %`;
}

// rates turns the counters of two snapshots into per-second figures: the
// ingest bitrate between consecutive snapshots, cue rates over a window of
// at least CUE_RATE_WINDOW_MS so that one cue does not make a spike. now is
// the server's time of the snapshot.
function rates(room, now) {
  const tracks = room.tracks || [];
  const video = tracks.find((t) => t.kind === 'video');
  const audio = tracks.find((t) => t.kind === 'audio');
  const bytes = tracks.reduce((n, t) => n + (t.bytes || 0), 0);
  const prev = app.prev.get(room.name);
  let bitrate = prev?.bitrate ?? 0;
  if (prev && now - prev.at >= 500) {
    // A new publisher starts its counters again: no figure for that step.
    bitrate = bytes >= prev.bytes ? ((bytes - prev.bytes) * 8) / ((now - prev.at) / 1000) : 0;
  }
  const cues = new Map();
  const cueRates = new Map();
  for (const c of room.captions || []) {
    const p = prev?.cues.get(c.lang);
    if (!p) {
      cues.set(c.lang, { at: now, cues: c.cues, rate: undefined });
    } else if (now - p.at >= CUE_RATE_WINDOW_MS) {
      const rate = (Math.max(0, c.cues - p.cues) * 60000) / (now - p.at);
      cues.set(c.lang, { at: now, cues: c.cues, rate });
    } else {
      cues.set(c.lang, p); // keep the older baseline
    }
    cueRates.set(c.lang, cues.get(c.lang).rate);
  }
  if (!prev || now - prev.at >= 500) {
    app.prev.set(room.name, { at: now, bytes, bitrate, cues });
  } else {
    prev.cues = cues;
  }
  const stalled = tracks.some((t) => t.lastPacketMs > STALLED_MS);
  return {
    bitrate, cueRates, stalled,
    codec: [video?.codec, audio?.codec].filter(Boolean).map((c) => c.replace(/^(video|audio)\//, '')).join(' + '),
    keyframes: video?.keyframes, plis: video?.plis || 0,
  };
}

async function action(url, method = 'POST') {
  if (!app.token) {
    setAdminState('Enter an admin token first', false);
    $('#admin-token').focus();
    return null;
  }
  let resp;
  try {
    resp = await fetch(url, { method, headers: { Authorization: `Bearer ${app.token}` } });
  } catch {
    setAdminState('Relay unreachable', false);
    return null;
  }
  if (resp.status === 401 || resp.status === 403) {
    app.refused = true;
    setAdminState('Token refused', false);
    return null;
  }
  if (!resp.ok && resp.status !== 404) {
    setAdminState(`Failed (${resp.status})`, false);
    return null;
  }
  setAdminState('Token accepted', true);
  return resp;
}

function setAdminState(text, ok) {
  const s = $('#admin-state');
  s.textContent = text;
  s.dataset.ok = String(ok);
}

async function loadViewers(room) {
  app.viewersAt.set(room, Date.now());
  const resp = await action(`/api/rooms/${encodeURIComponent(room)}/viewers`, 'GET');
  if (!resp || !resp.ok) {
    app.viewers.delete(room);
  } else {
    app.viewers.set(room, (await resp.json()).viewers || []);
  }
  render(app.last);
}

function viewerList(room) {
  const list = app.viewers.get(room);
  if (!list) {
    const why = !app.token ? 'Enter an admin token to list viewers.' : app.refused ? 'The admin token was refused.' : 'Loading…';
    return el('p', { class: 'none' }, why);
  }
  if (!list.length) return el('p', { class: 'none' }, 'No viewers.');
  return el('ul', {}, list.map((v) => el('li', {},
    el('b', { dataset: { col: 'tag' } }, v.tag),
    el('span', { dataset: { col: 'watching' }, title: `since ${fmtTime(v.since)}` }, `watching ${fmtAgo((Date.now() - Date.parse(v.since)) / 1000)}`),
    el('span', { class: v.loss > 0.05 ? 'warn' : '', dataset: { col: 'loss' } }, v.reports ? `loss ${fmtPercent(v.loss)}` : 'no reports yet'),
    el('span', { dataset: { col: 'rtt' } }, v.rttNs ? `RTT ${fmtMs(v.rttNs / 1e6)} ms` : ''),
    selection(v),
    layerCell(v, app.last?.rooms?.find((r) => r.name === room)?.layers || []),
    el('span', { dataset: { col: 'estimate' }, title: 'Bandwidth estimate from the viewer\'s congestion feedback' },
      v.estimateBps > 0 ? `est. ${fmtBitrate(v.estimateBps)}` : 'est. —'),
    el('button', {
      class: 'btn small danger', type: 'button', 'aria-label': `Disconnect viewer ${v.tag}`,
      onclick: async () => {
        if (await action(`/api/rooms/${encodeURIComponent(room)}/viewers/${encodeURIComponent(v.tag)}/disconnect`)) loadViewers(room);
      },
    }, 'Disconnect'))));
}

// selection says what a viewer chose and, where it differs, what it gets
// now (the floor while its booth is down).
function selection(v) {
  const audio = v.audio || 'floor';
  const playing = v.playingAudio || audio;
  const parts = [playing === audio ? `audio ${audio}` : `audio ${playing} (${audio} down)`];
  const signDown = Boolean(v.sign) && v.playingSign !== v.sign;
  if (v.sign) parts.push(signDown ? `sign ${v.sign} (down)` : `sign ${v.sign}`);
  return el('span', { class: playing !== audio || signDown ? 'warn' : '', dataset: { col: 'selection' } }, parts.join(' · '));
}

// layerName names a layer by its picture height ("720p"), by its rid until
// a keyframe said the size, and "layer x" for one that no longer flows.
function layerName(rid, layers) {
  const l = layers.find((x) => x.rid === rid);
  if (!l) return rid ? `layer ${rid}` : 'video';
  return l.height > 0 ? `${l.height}p` : rid || 'video';
}

// simulcast says whether a room's video comes as named layers.
function simulcast(layers) {
  return layers.some((l) => l.rid !== '');
}

// layerCell says which layer a viewer receives and whether it chose it:
// "auto · 720p", "360p pinned", "no video" (its estimate is below the
// lowest layer, or it is starting). Without simulcast only the height.
function layerCell(v, layers) {
  const cell = (text, warn) => el('span', { class: warn ? 'warn' : '', dataset: { col: 'layer' } }, text);
  if (!simulcast(layers)) return cell(layers.length ? layerName('', layers) : '—', false);
  if (!v.layer) return cell('no video', true);
  const playing = layerName(v.layer, layers);
  if (!v.video || v.video === 'auto') return cell(`auto · ${playing}`, false);
  if (v.video === v.layer) return cell(`${playing} pinned`, false);
  return cell(`${playing} (pinned ${layerName(v.video, layers)} stopped)`, true);
}

// layerTable shows how a room's viewers spread over its video layers (best
// first): a bar with a segment per layer and the viewers without video,
// and a row per layer. Only for two layers or more: one layer says nothing
// the Viewers figure does not.
function layerTable(room) {
  const layers = room.layers || [];
  if (layers.length < 2) return null;
  const onLayers = layers.reduce((n, l) => n + l.viewers, 0);
  const noVideo = Math.max(0, room.viewers - onLayers);
  // A layer's element carries data-layer (its rid), the viewers without
  // video data-video="none": any name is a valid rid.
  const parts = layers.map((l, i) => ({ data: { layer: l.rid }, rank: String(i), name: layerName(l.rid, layers), viewers: l.viewers, layer: l }));
  if (noVideo > 0) parts.push({ data: { video: 'none' }, rank: 'none', name: 'no video', viewers: noVideo });
  const total = onLayers + noVideo;
  const bar = el('div', { class: 'layer-bar', role: 'img', 'aria-label': `Viewers per layer: ${parts.map((p) => `${p.name} ${p.viewers}`).join(', ')}` },
    parts.filter((p) => p.viewers > 0).map((p) => {
      const seg = el('span', { class: 'seg', dataset: { rank: p.rank, ...p.data }, title: `${p.name} · ${p.viewers} viewers` });
      seg.style.flexGrow = String(p.viewers); // CSSOM, which the page's CSP allows
      return seg;
    }));
  const share = (n) => (total > 0 ? `${Math.round((n * 100) / total)} %` : '—');
  const rows = parts.map((p) => el('tr', { dataset: p.data,
    title: p.layer ? null : 'Receiving no video now: their estimate is below the lowest layer (audio and captions go on), or they are starting' },
    el('td', {}, el('i', { class: 'swatch', dataset: { rank: p.rank }, 'aria-hidden': 'true' }),
      el('b', { dataset: { col: 'name' } }, p.name),
      p.layer?.rid && p.name !== p.layer.rid ? el('small', {}, p.layer.rid) : null),
    el('td', { class: 'faint', dataset: { col: 'size' } }, p.layer?.width > 0 ? `${p.layer.width}×${p.layer.height}` : ''),
    el('td', { class: 'num', dataset: { col: 'bitrate' } }, p.layer ? fmtBitrate(p.layer.bitrate) : ''),
    el('td', { class: 'num', dataset: { col: 'viewers' } }, p.viewers),
    el('td', { class: 'num faint', dataset: { col: 'share' } }, share(p.viewers))));
  return el('div', { class: 'layers', dataset: { layers: layers.length } },
    bar,
    el('table', { class: 'langs layer-table' },
      el('thead', {}, el('tr', {}, ['Layer', 'Size', 'Bitrate', 'Viewers', 'Share'].map((h, i) =>
        el('th', { scope: 'col', class: i >= 2 ? 'num' : '' }, h)))),
      el('tbody', {}, rows)));
}

function levelCell(level) {
  if (typeof level !== 'number') return el('td', { class: 'faint', dataset: { col: 'level' } }, 'no level');
  const v = Math.max(LEVEL_FLOOR_DBOV, Math.min(0, level));
  return el('td', { class: 'level', dataset: { col: 'level' }, title: `loudest of the last 2 s: ${Math.round(level)} dBov` },
    el('meter', { min: LEVEL_FLOOR_DBOV, max: 0, low: SILENCE_DBOV, high: -6, optimum: -20, value: v, 'aria-label': `${Math.round(level)} dBov` }),
    el('span', {}, Math.round(level)));
}

function silenceCell(seconds, highlight) {
  if (typeof seconds !== 'number') return el('td', { class: 'faint', dataset: { col: 'silent' } }, '—');
  return el('td', { class: highlight ? 'warn' : '', dataset: { col: 'silent' } },
    seconds < 1 ? 'sound' : `silent for ${fmtAgo(seconds)}`);
}

// fmtFor is a short "for how long": seconds only under a minute.
function fmtFor(iso, now) {
  const t = Date.parse(iso);
  if (isNaN(t) || new Date(t).getFullYear() < 2000) return '—';
  const s = Math.max(0, (now - t) / 1000);
  if (s < 60) return `${Math.round(s)} s`;
  return s < 3600 ? `${Math.floor(s / 60)} min` : `${Math.floor(s / 3600)} h ${Math.floor((s % 3600) / 60)} min`;
}

const KIND_TEXT = { audio: 'booth', sign: 'sign' };

// nameCell shows a language by its own name, with its tag and kind below.
function nameCell(lang, kind) {
  const name = nativeName(lang);
  return el('td', { class: 'chan-name' },
    el('span', { lang, dir: dir(lang) }, name),
    el('small', {}, name === lang ? '' : lang, name !== lang && kind ? ' · ' : '',
      kind ? el('span', { dataset: { col: 'kind' } }, KIND_TEXT[kind] || kind) : null));
}

// stateCell shows live or down and since when (iso; none without one).
function stateCell(state, text, iso, now) {
  return el('td', {},
    el('span', { class: 'chan-state', dataset: { state } }, text),
    iso ? el('small', { dataset: { col: 'since' }, title: `since ${fmtTime(iso)}` }, `for ${fmtFor(iso, now)}`) : null);
}

// channelRow is one language channel. A channel down while delegates
// selected it is a problem (they hear the floor), and so is a live booth
// silent past BOOTH_SILENT_S while the floor is not known to be silent.
function channelRow(c, floorSilent, now) {
  const down = !c.live && c.viewers > 0;
  const silent = c.live && c.kind === 'audio' && c.silentSeconds > BOOTH_SILENT_S && !floorSilent;
  const problem = down ? 'down' : silent ? 'silent' : '';
  const title = down ? `Down while ${c.viewers} delegates selected it: they get the floor`
    : silent ? `No sound for over ${BOOTH_SILENT_S} s while the floor is not silent` : null;
  const state = c.live ? 'live' : 'down';
  return {
    problem,
    row: el('tr', { dataset: { channel: c.lang, kind: c.kind, state, problem }, title },
      nameCell(c.lang, c.kind),
      stateCell(state, state, c.since, now),
      el('td', { class: c.interpreter ? '' : 'faint', dataset: { col: 'interpreter' } }, c.interpreter || '—'),
      c.kind === 'audio' ? levelCell(c.levelDbov) : el('td', { dataset: { col: 'level' } }),
      c.kind === 'audio' ? silenceCell(c.silentSeconds, silent) : el('td', { dataset: { col: 'silent' } }),
      el('td', { class: 'num', dataset: { col: 'listeners' } }, c.viewers)),
  };
}

// channelTable lists the floor, the channels that have been live and the
// other declared languages (selectable; their listeners hear the floor
// until a booth comes); no table for a room without channels or floor
// levels, where it would only repeat the caption languages.
function channelTable(room, now) {
  const floor = room.floor || {};
  const channels = room.channels || [];
  const declared = (room.languages || []).filter((l) => !channels.some((c) => c.lang === l));
  if (!channels.length && typeof floor.levelDbov !== 'number') return { table: null, problems: 0 };
  const floorSilent = floor.silentSeconds > BOOTH_SILENT_S;
  const rows = channels.map((c) => channelRow(c, floorSilent, now));
  const floorRow = el('tr', { dataset: { channel: 'floor', kind: 'audio', state: room.state } },
    el('td', { class: 'chan-name' }, el('b', {}, 'Floor'), el('small', {}, 'original')),
    stateCell(room.state, STATE_TEXT[room.state] || room.state, room.since, now),
    el('td', { class: room.publisher ? '' : 'faint', dataset: { col: 'interpreter' }, title: 'publisher' }, room.publisher ? room.publisher.tag : '—'),
    levelCell(floor.levelDbov),
    silenceCell(floor.silentSeconds, false),
    el('td', { class: 'num', dataset: { col: 'listeners' } }, floor.listeners ?? '—'));
  const declaredRows = declared.map((l) => el('tr', { dataset: { channel: l, state: 'none' }, title: 'Declared in the config; no interpreter has published it yet' },
    nameCell(l, ''),
    stateCell('none', 'no booth', '', now),
    el('td', { class: 'faint' }, '—'), el('td', {}), el('td', {}),
    el('td', { class: 'num faint', dataset: { col: 'listeners' } }, '—')));
  const table = el('table', { class: 'langs channels' },
    el('thead', {}, el('tr', {}, ['Channel', 'State', 'Interpreter', 'Level, dBov', 'Sound', 'Listeners'].map((h, i) =>
      el('th', { scope: 'col', class: i === 5 ? 'num' : '' }, h)))),
    el('tbody', {}, floorRow, rows.map((x) => x.row), declaredRows));
  return { table: el('div', { class: 'table-scroll' }, table), problems: rows.filter((x) => x.problem).length };
}

function langRow(room, c, rate, now) {
  const live = room.state === 'live';
  const since = c.lastCue ? (now - Date.parse(c.lastCue)) / 1000 : Infinity;
  // Quiet since the last cue, or since the room went live if none yet.
  const quiet = Math.min(since, (now - Date.parse(room.since)) / 1000);
  const silent = live && c.announced && quiet > app.silentAfter;
  const names = (c.captioners || []).map((x) => x.name || x.via).join(', ');
  return {
    silent,
    row: el('tr', { dataset: { lang: c.lang, silent: String(silent) }, title: silent ? `No caption for over ${app.silentAfter} s while live` : null },
      el('td', {}, el('b', {}, c.lang)),
      el('td', { class: names ? '' : 'faint' }, names || 'none'),
      el('td', { class: 'num', dataset: { col: 'viewers' } }, c.viewers),
      el('td', { class: 'num' }, c.cues),
      el('td', { class: 'num', dataset: { col: 'rate' } }, rate === undefined ? '—' : rate.toFixed(1)),
      el('td', { class: 'num', dataset: { col: 'last' } }, c.lastCue ? fmtAgo(since) : 'never')),
  };
}

const STATE_TEXT = { live: 'live', lost: 'lost', idle: 'no publisher' };

function roomCard(room, now) {
  const r = app.rates.get(room.name) || { cueRates: new Map(), bitrate: 0, stalled: false, codec: '', plis: 0 };
  const live = room.state === 'live';
  const langs = (room.captions || []).filter((c) => c.announced || c.viewers > 0);
  const rows = langs.map((c) => langRow(room, c, r.cueRates.get(c.lang), now));
  const channels = channelTable(room, now);
  const alert = (room.state === 'lost' && room.viewers > 0) || (live && r.stalled) || rows.some((x) => x.silent) || channels.problems > 0;
  const q = room.quality || {};
  const open = app.open.has(room.name);
  const stateFor = fmtAgo((now - Date.parse(room.since)) / 1000);
  return el('article', { class: 'mon-room', dataset: { room: room.name, alert: String(alert) }, 'aria-label': `Room ${room.title}` },
    el('header', {},
      el('h2', {}, room.title, el('small', {}, room.name)),
      el('span', { class: 'state', dataset: { state: room.state } }, STATE_TEXT[room.state] || room.state),
      el('span', { class: 'badge', title: `since ${fmtTime(room.since)}` }, `for ${stateFor}`)),
    el('dl', { class: 'facts' },
      fact('Viewers', room.viewers, 'viewers'),
      fact('Ingest', live ? (r.stalled ? 'stalled' : fmtBitrate(r.bitrate)) : '—', 'ingest', live && r.stalled),
      fact('Codec', r.codec || '—', 'codec'),
      fact('Publisher', room.publisher ? room.publisher.tag : '—', 'publisher', false,
        room.publisher ? `since ${fmtTime(room.publisher.since)}` : ''),
      fact('Viewer loss', q.reporting ? `${fmtPercent(q.lossMedian)} / ${fmtPercent(q.lossMax)}` : '—', 'loss', q.lossMax > 0.05, 'median / worst'),
      fact('Viewer RTT', q.reporting && q.rttMaxMs > 0 ? `${fmtMs(q.rttMedianMs)} / ${fmtMs(q.rttMaxMs)} ms` : '—', 'rtt', false, 'median / worst'),
      fact('Keyframes', r.keyframes ?? '—', 'keyframes'),
      fact('PLIs', r.plis, 'plis')),
    layerTable(room),
    channels.table,
    langs.length
      ? el('table', { class: 'langs' },
          el('thead', {}, el('tr', {}, ['Language', 'Captioners', 'Viewers', 'Cues', 'Cues/min', 'Last cue'].map((h, i) =>
            el('th', { scope: 'col', class: i >= 2 ? 'num' : '' }, h)))),
          el('tbody', {}, rows.map((x) => x.row)))
      : el('p', { class: 'none' }, 'No caption languages yet.'),
    el('div', { class: 'actions' },
      el('button', {
        class: 'btn small', type: 'button', 'aria-expanded': String(open), dataset: { action: 'viewers' },
        onclick: () => {
          if (open) {
            app.open.delete(room.name);
            render(app.last);
          } else {
            app.open.add(room.name);
            loadViewers(room.name);
          }
        },
      }, open ? 'Hide viewers' : 'Show viewers'),
      el('button', {
        class: 'btn small danger', type: 'button', disabled: !room.publisher, dataset: { action: 'kick-publisher' },
        onclick: async () => {
          if (confirm(`Disconnect the publisher of ${room.title}? Viewers stay and resume when it reconnects.`)) {
            await action(`/api/rooms/${encodeURIComponent(room.name)}/publisher/disconnect`);
          }
        },
      }, 'Disconnect publisher')),
    open ? el('div', { class: 'viewers' }, viewerList(room.name)) : null);
}

function fact(label, value, key, warn = false, title = '') {
  return el('div', { class: 'fact', title: title || null },
    el('dt', {}, label),
    el('dd', { class: warn ? 'warn' : '', dataset: { fact: key } }, value));
}

function render(snapshot) {
  if (!snapshot) return;
  app.last = snapshot;
  if (snapshot.silentAfterSeconds > 0) app.silentAfter = snapshot.silentAfterSeconds;
  const now = Date.now();
  const rooms = snapshot.rooms || [];
  $('#empty').hidden = rooms.length > 0;
  const viewers = rooms.reduce((n, r) => n + r.viewers, 0);
  const live = rooms.filter((r) => r.state === 'live').length;
  const captioners = rooms.reduce((n, r) => n + (r.captions || []).reduce((m, c) => m + (c.captioners || []).length, 0), 0);
  const channels = rooms.flatMap((r) => r.channels || []);
  $('#totals').replaceChildren(
    el('div', { class: 'total' }, el('b', { id: 'total-viewers' }, viewers), el('span', {}, 'viewers')),
    el('div', { class: 'total' }, el('b', {}, `${live} / ${rooms.length}`), el('span', {}, 'rooms live')),
    el('div', { class: 'total' }, el('b', { id: 'total-channels' }, `${channels.filter((c) => c.live).length} / ${channels.length}`), el('span', {}, 'channels live')),
    el('div', { class: 'total' }, el('b', {}, captioners), el('span', {}, 'captioners connected')));
  // Keep keyboard focus on the same control across the re-render.
  const focused = document.activeElement?.closest('[data-room]') && document.activeElement.dataset.action
    ? [document.activeElement.closest('[data-room]').dataset.room, document.activeElement.dataset.action] : null;
  $('#rooms').replaceChildren(...rooms.map((r) => roomCard(r, now)));
  if (focused) document.querySelector(`[data-room="${CSS.escape(focused[0])}"] [data-action="${focused[1]}"]`)?.focus();
  // Viewer lists refresh with the snapshots while open (every few seconds).
  for (const name of app.open) {
    if (app.token && !app.refused && now - (app.viewersAt.get(name) || 0) > 3000) loadViewers(name);
  }
}

// The status badge says whether live data flows and, while it does not, why
// and when the next attempt is: the AV team must not read stale figures as
// live ones.
const status = { ticker: null };

function showStatus({ state, why, at, admin }) {
  const s = $('#status');
  clearInterval(status.ticker);
  status.ticker = null;
  s.dataset.state = state;
  s.title = '';
  if (state === 'ok') {
    s.textContent = admin ? 'Live data (admin)' : 'Live data';
  } else if (state === 'connecting') {
    s.textContent = 'Connecting…';
  } else {
    const tick = () => {
      s.textContent = `${why} · reconnecting in ${Math.max(0, Math.ceil((at - Date.now()) / 1000))} s`;
    };
    tick();
    s.title = 'The figures shown are from the last snapshot received.';
    status.ticker = setInterval(tick, 1000);
  }
}

const feed = new RoomFeed();
feed.addEventListener('state', (ev) => showStatus(ev.detail));
feed.addEventListener('snapshot', (ev) => {
  const snapshot = ev.detail;
  const at = Date.parse(snapshot.now) || Date.now();
  app.rates = new Map((snapshot.rooms || []).map((r) => [r.name, rates(r, at)]));
  render(snapshot);
});
// The relay refused the token on the stream (expired, or not an admin
// token for every room): live data goes on without it.
feed.addEventListener('refused', () => setAdminState('Token refused for live data', false));

$('#admin-token').value = app.token;
if (app.token) setAdminState('Token set', true);
$('#admin').addEventListener('submit', (ev) => {
  ev.preventDefault();
  app.token = $('#admin-token').value.trim();
  if (app.token) sessionStorage.setItem(TOKEN_KEY, app.token); else sessionStorage.removeItem(TOKEN_KEY);
  setAdminState(app.token ? 'Token set' : 'No token', Boolean(app.token));
  app.refused = false;
  app.viewers.clear();
  for (const name of app.open) loadViewers(name);
  feed.start(app.token); // at once: an admin token takes a reserved stream
});
feed.start(app.token);
