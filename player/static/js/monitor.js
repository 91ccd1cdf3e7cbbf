// The AV team's monitor: rooms, publishers, viewers, video layers
// (simulcast), language channels (interpreter booths, sign language) and
// caption languages, live from /api/rooms/events (server-sent events,
// roomfeed.js), with admin actions, in the interface language.
// The admin token, when set, also goes with the event stream: the relay
// keeps a few streams for it, so the AV team gets in while anonymous
// clients hold all the others.
//
// Screen readers: the figures change every second, so the rooms are not a
// live region (it would talk without pause). The page announces what the
// AV team must act on, once, when it happens: a room's state changing, an
// alert raised (ingest stalled, a channel down with listeners, a booth or
// a caption language silent), a room's alerts all cleared, and live data
// lost or back. The first snapshot only sets the baseline: the page shows it.
import { $, el, announce } from './dom.js';
import { RoomFeed } from './roomfeed.js';
import { localName } from './langs.js';
import { init, t, num } from './i18n.js';
import { fmtAgo, fmtBitrate, fmtCount, fmtMs, fmtPercent, sinceTitle, stateText } from './monitorfmt.js';
import { channelTable, layerName, layerTable, scrollRegion, simulcast } from './monitortables.js';

const TOKEN_KEY = 'relay.adminToken';
const STALLED_MS = 3000; // a live track without packets for longer is flagged
const CUE_RATE_WINDOW_MS = 5000; // cue rates are measured over at least this

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
  alerts: null, // room -> Map(alert key -> words), null before the first snapshot
  states: new Map(), // room -> state in the last snapshot
  adminState: null, // {text: () => words, ok}: re-said in a new language
  feedState: null, // the feed's last state, for the status badge
};

// rates turns the counters of two snapshots into per-second figures: the
// ingest bitrate between consecutive snapshots, cue rates over a window of
// at least CUE_RATE_WINDOW_MS so that one cue does not make a spike. now is
// the server's time of the snapshot.
function rates(room, now) {
  const tracks = room.tracks || [];
  const video = tracks.find((tr) => tr.kind === 'video');
  const audio = tracks.find((tr) => tr.kind === 'audio');
  const bytes = tracks.reduce((n, tr) => n + (tr.bytes || 0), 0);
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
  const stalled = tracks.some((tr) => tr.lastPacketMs > STALLED_MS);
  return {
    bitrate, cueRates, stalled,
    codec: [video?.codec, audio?.codec].filter(Boolean).map((c) => c.replace(/^(video|audio)\//, '')).join(' + '),
    keyframes: video?.keyframes, plis: video?.plis || 0,
  };
}


async function action(url, method = 'POST') {
  if (!app.token) {
    setAdminState(() => t('monitor.admin_enter_first'), false);
    $('#admin-token').focus();
    return null;
  }
  let resp;
  try {
    resp = await fetch(url, { method, headers: { Authorization: `Bearer ${app.token}` } });
  } catch {
    setAdminState(() => t('monitor.relay_unreachable'), false);
    return null;
  }
  if (resp.status === 401 || resp.status === 403) {
    app.refused = true;
    setAdminState(() => t('monitor.token_refused'), false);
    return null;
  }
  if (!resp.ok && resp.status !== 404) {
    const status = String(resp.status);
    setAdminState(() => t('monitor.action_failed', { status }), false);
    return null;
  }
  setAdminState(() => t('monitor.token_accepted'), true);
  return resp;
}

// setAdminState says how the admin token fares; text is a function so that
// a new interface language can say it again.
function setAdminState(text, ok) {
  app.adminState = text ? { text, ok } : null;
  const s = $('#admin-state');
  s.textContent = text ? text() : '';
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
    const why = !app.token ? t('monitor.viewers_need_token') : app.refused ? t('monitor.viewers_token_refused') : t('monitor.loading');
    return el('p', { class: 'none' }, why);
  }
  if (!list.length) return el('p', { class: 'none' }, t('monitor.no_viewers'));
  const layers = app.last?.rooms?.find((r) => r.name === room)?.layers || [];
  return el('ul', { 'aria-label': t('monitor.viewer_list') }, list.map((v) => el('li', {},
    el('b', { dataset: { col: 'tag' } }, el('bdi', {}, v.tag)),
    el('span', { dataset: { col: 'watching' }, title: sinceTitle(v.since) },
      t('monitor.watching_for', { duration: fmtAgo((Date.now() - Date.parse(v.since)) / 1000) })),
    el('span', { class: v.loss > 0.05 ? 'warn' : '', dataset: { col: 'loss' } },
      v.reports ? t('monitor.loss', { pct: fmtPercent(v.loss) }) : t('monitor.no_reports')),
    el('span', { dataset: { col: 'rtt' } }, v.rttNs ? t('monitor.rtt', { ms: fmtMs(v.rttNs / 1e6) }) : ''),
    selection(v),
    layerCell(v, layers),
    el('span', { dataset: { col: 'path' } }, pathName(v.path)),
    el('span', { dataset: { col: 'estimate' }, title: t('monitor.estimate_title') },
      t('monitor.estimate', { rate: v.estimateBps > 0 ? fmtBitrate(v.estimateBps) : '—' })),
    el('button', {
      class: 'btn small danger', type: 'button', 'aria-label': t('monitor.disconnect_viewer', { tag: v.tag }),
      dataset: { action: `disconnect-${v.tag}` },
      onclick: async () => {
        if (await action(`/api/rooms/${encodeURIComponent(room)}/viewers/${encodeURIComponent(v.tag)}/disconnect`)) loadViewers(room);
      },
    }, t('monitor.disconnect')))));
}

// audioName is a viewer's sound: a language tag, or the floor in words.
function audioName(lang) {
  return lang === 'floor' ? t('monitor.floor_short') : lang;
}

// selection says what a viewer chose and, where it differs, what it gets
// now (the floor while its booth is down).
function selection(v) {
  const audio = v.audio || 'floor';
  const playing = v.playingAudio || audio;
  const parts = [playing === audio ? t('monitor.sel_audio', { lang: audioName(audio) })
    : t('monitor.sel_audio_down', { playing: audioName(playing), chosen: audioName(audio) })];
  const signDown = Boolean(v.sign) && v.playingSign !== v.sign;
  if (v.sign) parts.push(signDown ? t('monitor.sel_sign_down', { lang: v.sign }) : t('monitor.sel_sign', { lang: v.sign }));
  return el('span', { class: playing !== audio || signDown ? 'warn' : '', dataset: { col: 'selection' } }, parts.join(' · '));
}

// layerCell says which layer a viewer receives and whether it chose it:
// "auto · 720p", "360p pinned", "no video" (its estimate is below the
// lowest layer, or it is starting). Without simulcast only the height.
function layerCell(v, layers) {
  const cell = (text, warn) => el('span', { class: warn ? 'warn' : '', dataset: { col: 'layer' } }, text);
  if (!simulcast(layers)) return cell(layers.length ? layerName('', layers) : '—', false);
  if (!v.layer) return cell(t('monitor.no_video'), true);
  const layer = layerName(v.layer, layers);
  if (!v.video || v.video === 'auto') return cell(t('monitor.layer_auto', { layer }), false);
  if (v.video === v.layer) return cell(t('monitor.layer_pinned', { layer }), false);
  return cell(t('monitor.layer_pinned_stopped', { layer, pinned: layerName(v.video, layers) }), true);
}

function captionTable(room, rows) {
  const heads = [t('monitor.col_language'), t('monitor.col_captioners'), t('monitor.col_viewers'), t('monitor.col_cues'), t('monitor.col_cue_rate'), t('monitor.col_last_cue')];
  return scrollRegion('scroll-captions', t('monitor.captions_label', { room: room.title || room.name }),
    el('table', { class: 'langs' },
      el('thead', {}, el('tr', {}, heads.map((h, i) => el('th', { scope: 'col', class: i >= 2 ? 'num' : '' }, h)))),
      el('tbody', {}, rows.map((x) => x.row))));
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
    lang: c.lang,
    row: el('tr', { dataset: { lang: c.lang, silent: String(silent) }, title: silent ? t('monitor.caption_silent_title', { duration: fmtAgo(app.silentAfter) }) : null },
      el('td', {}, el('b', {}, el('bdi', {}, c.lang))),
      el('td', { class: names ? '' : 'faint' }, names || t('monitor.no_captioners')),
      el('td', { class: 'num', dataset: { col: 'viewers' } }, num(c.viewers)),
      el('td', { class: 'num' }, num(c.cues)),
      el('td', { class: 'num', dataset: { col: 'rate' } }, rate === undefined ? '—' : num(rate, { minimumFractionDigits: 1, maximumFractionDigits: 1 })),
      el('td', { class: 'num', dataset: { col: 'last' } }, c.lastCue ? fmtAgo(since) : t('monitor.never'))),
  };
}

// roomCard draws one room; alerts are what it flags, keyed for the
// announcements (a key stays while the condition lasts).
function roomCard(room, now) {
  const r = app.rates.get(room.name) || { cueRates: new Map(), bitrate: 0, stalled: false, codec: '', plis: 0 };
  const live = room.state === 'live';
  const title = room.title || room.name;
  const langs = (room.captions || []).filter((c) => c.announced || c.viewers > 0);
  const rows = langs.map((c) => langRow(room, c, r.cueRates.get(c.lang), now));
  const channels = channelTable(room, now);
  const alerts = new Map();
  if (room.state === 'lost' && room.viewers > 0) alerts.set('lost', () => t('monitor.announce_lost', { room: title }));
  if (live && r.stalled) alerts.set('stalled', () => t('monitor.announce_stalled', { room: title }));
  for (const p of channels.problems) {
    alerts.set(`${p.problem}:${p.lang}`, p.problem === 'down'
      ? () => t('monitor.announce_channel_down', { room: title, lang: p.name })
      : () => t('monitor.announce_booth_silent', { room: title, lang: p.name }));
  }
  const hls = room.hls || {};
  if (hls.live && hls.stopped) alerts.set('recording', () => t('monitor.announce_recording_stopped', { room: title }));
  for (const x of rows.filter((x) => x.silent)) {
    alerts.set(`captions:${x.lang}`, () => t('monitor.announce_captions_silent', { room: title, lang: localName(x.lang) }));
  }
  const q = room.quality || {};
  const open = app.open.has(room.name);
  const stateFor = fmtAgo((now - Date.parse(room.since)) / 1000);
  const card = el('article', { class: 'mon-room', dataset: { room: room.name, alert: String(alerts.size > 0) }, 'aria-label': t('monitor.room_label', { room: title }) },
    el('header', {},
      el('h2', {}, el('bdi', {}, title), el('small', {}, el('bdi', {}, room.name))),
      el('span', { class: 'state', dataset: { state: room.state } }, stateText(room.state)),
      el('span', { class: 'badge', title: sinceTitle(room.since) }, t('monitor.for', { duration: stateFor }))),
    el('dl', { class: 'facts' },
      fact(t('monitor.fact_viewers'), num(room.viewers), 'viewers'),
      fact(t('monitor.fact_ingest'), live ? (r.stalled ? t('monitor.stalled') : fmtBitrate(r.bitrate)) : '—', 'ingest', live && r.stalled),
      fact(t('monitor.fact_codec'), r.codec || '—', 'codec'),
      fact(t('monitor.fact_publisher'), room.publisher ? el('bdi', {}, room.publisher.tag) : '—', 'publisher', false,
        room.publisher ? sinceTitle(room.publisher.since) : ''),
      fact(t('monitor.fact_loss'), q.reporting ? `${fmtPercent(q.lossMedian)} / ${fmtPercent(q.lossMax)}` : '—', 'loss', q.lossMax > 0.05, t('monitor.median_worst')),
      fact(t('monitor.fact_rtt'), q.reporting && q.rttMaxMs > 0 ? `${fmtMs(q.rttMedianMs)} / ${fmtMs(q.rttMaxMs)}` : '—', 'rtt', false, t('monitor.median_worst')),
      fact(t('monitor.fact_keyframes'), fmtCount(r.keyframes), 'keyframes'),
      fact(t('monitor.fact_plis'), fmtCount(r.plis), 'plis'),
      fact(t('monitor.fact_paths'), pathsText(room.paths || {}), 'paths', false, t('monitor.paths_title')),
      fact(t('monitor.fact_webcast'), webcastText(hls), 'webcast', Boolean(hls.live && hls.stopped), hls.stopped || '')),
    layerTable(room),
    channels.table,
    langs.length ? captionTable(room, rows) : el('p', { class: 'none' }, t('monitor.no_caption_langs')),
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
      }, open ? t('monitor.hide_viewers') : t('monitor.show_viewers')),
      el('button', {
        class: 'btn small danger', type: 'button', disabled: !room.publisher, dataset: { action: 'kick-publisher' },
        onclick: async () => {
          if (confirm(t('monitor.confirm_kick', { room: title }))) {
            await action(`/api/rooms/${encodeURIComponent(room.name)}/publisher/disconnect`);
          }
        },
      }, t('monitor.disconnect_publisher'))),
    open ? el('div', { class: 'viewers', dataset: { scroll: 'viewers' } }, viewerList(room.name)) : null);
  return { card, alerts };
}

// pathsText says how many viewers reach the relay directly and how many
// through its TURN server (by the transport their client used).
function pathsText(p) {
  const n = (k) => p[k] || 0;
  const turn = n('turn-udp') + n('turn-tcp') + n('turn-tls');
  const text = t('monitor.paths', { direct: num(n('udp') + n('tcp')), turn: num(turn) });
  if (!turn) return text;
  return `${text} (${t('monitor.paths_turn_detail', { udp: num(n('turn-udp')), tcp: num(n('turn-tcp')), tls: num(n('turn-tls')) })})`;
}

// webcastText is the room's HLS session and recording in words; the
// reason a recording stopped is the fact's title.
function webcastText(hls) {
  if (!hls.live) return '—';
  if (hls.recording) return t('monitor.webcast_recording');
  return hls.stopped ? t('monitor.webcast_stopped') : t('monitor.webcast_live');
}

// pathName is one viewer's path in words.
function pathName(path) {
  switch (path) {
    case 'udp': return t('monitor.path_udp');
    case 'tcp': return t('monitor.path_tcp');
    case 'turn-udp': return t('monitor.path_turn_udp');
    case 'turn-tcp': return t('monitor.path_turn_tcp');
    case 'turn-tls': return t('monitor.path_turn_tls');
  }
  return '';
}

function fact(label, value, key, warn = false, title = '') {
  return el('div', { class: 'fact', title: title || null },
    el('dt', {}, label),
    el('dd', { class: warn ? 'warn' : '', dataset: { fact: key } }, value));
}

function total(value, label, id) {
  return el('div', { class: 'total' }, el('b', { id }, value), el('span', {}, label));
}

// announceAlerts says, once, each alert raised and each room whose alerts
// all cleared since the last snapshot, and each room whose state changed.
function announceAlerts(rooms, alerts) {
  const prev = app.alerts;
  const prevStates = app.states;
  app.alerts = alerts;
  app.states = new Map(rooms.map((r) => [r.name, r.state]));
  if (!prev) return;
  const said = [];
  for (const r of rooms) {
    const title = r.title || r.name;
    const before = prevStates.get(r.name);
    if (before !== undefined && before !== r.state) said.push(t('monitor.announce_state', { room: title, state: stateText(r.state) }));
    const now = alerts.get(r.name) || new Map();
    const was = prev.get(r.name) || new Map();
    for (const [key, words] of now) if (!was.has(key)) said.push(words());
    if (was.size && !now.size) said.push(t('monitor.announce_clear', { room: title }));
  }
  if (said.length) announce(said.join(' '));
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
  const channelsLive = channels.filter((c) => c.live).length;
  $('#totals').replaceChildren(
    total(num(viewers), t('monitor.total_viewers', { n: viewers }), 'total-viewers'),
    total(`${num(live)} / ${num(rooms.length)}`, t('monitor.total_rooms_live', { n: live }), 'total-rooms'),
    total(`${num(channelsLive)} / ${num(channels.length)}`, t('monitor.total_channels_live', { n: channelsLive }), 'total-channels'),
    total(num(captioners), t('monitor.total_captioners', { n: captioners }), 'total-captioners'));
  // Keep keyboard focus on the same control, and scrolled regions where
  // they were, across the re-render.
  const active = document.activeElement;
  const focused = active?.closest('[data-room]') && active.dataset.action ? [active.closest('[data-room]').dataset.room, active.dataset.action] : null;
  const scrolled = [...document.querySelectorAll('#rooms [data-scroll]')]
    .filter((s) => s.scrollLeft || s.scrollTop)
    .map((s) => [s.closest('[data-room]').dataset.room, s.dataset.scroll, s.scrollLeft, s.scrollTop]);
  const cards = rooms.map((r) => roomCard(r, now));
  $('#rooms').replaceChildren(...cards.map((c) => c.card));
  for (const [room, key, left, top] of scrolled) {
    const s = document.querySelector(`[data-room="${CSS.escape(room)}"] [data-scroll="${CSS.escape(key)}"]`);
    if (s) [s.scrollLeft, s.scrollTop] = [left, top];
  }
  if (focused) document.querySelector(`[data-room="${CSS.escape(focused[0])}"] [data-action="${CSS.escape(focused[1])}"]`)?.focus({ preventScroll: true });
  announceAlerts(rooms, new Map(rooms.map((r, i) => [r.name, cards[i].alerts])));
  // Viewer lists refresh with the snapshots while open (every few seconds).
  for (const name of app.open) {
    if (app.token && !app.refused && now - (app.viewersAt.get(name) || 0) > 3000) loadViewers(name);
  }
}

// whyText says why live data stopped (roomfeed.js gives a reason code).
function whyText({ why, status }) {
  const code = String(status || '');
  if (why === 'token-refused') return t('monitor.why_token_refused');
  if (why === 'busy') return t('monitor.why_busy', { status: code });
  if (why === 'refused') return t('monitor.why_refused', { status: code });
  if (why === 'ended') return t('monitor.why_ended');
  if (why === 'no-data') return t('monitor.why_no_data');
  return t('monitor.relay_unreachable');
}

// The status badge says whether live data flows and, while it does not, why
// and when the next attempt is: the AV team must not read stale figures as
// live ones. It is no live region (its countdown ticks every second): losing
// live data and getting it back are announced instead.
const status = { ticker: null, flowing: false, lost: false };

function showStatus(detail) {
  const { state, at, admin } = detail;
  app.feedState = detail;
  const s = $('#status');
  clearInterval(status.ticker);
  status.ticker = null;
  s.dataset.state = state;
  s.title = '';
  if (state === 'ok') {
    s.textContent = admin ? t('monitor.live_data_admin') : t('monitor.live_data');
    if (!status.flowing && status.lost) announce(t('monitor.announce_data_back'));
    status.flowing = true;
    status.lost = false;
  } else if (state === 'connecting') {
    s.textContent = t('monitor.connecting');
  } else {
    const why = whyText(detail);
    const tick = () => {
      s.textContent = t('monitor.reconnecting_in', { why, s: Math.max(0, Math.ceil((at - Date.now()) / 1000)) });
    };
    tick();
    s.title = t('monitor.stale_title');
    status.ticker = setInterval(tick, 1000);
    if (status.flowing) announce(t('monitor.announce_data_lost', { why }));
    status.flowing = false;
    status.lost = true;
  }
}

// A new interface language: say again everything the page wrote itself,
// from the state it keeps (the event stream goes on as it is).
function retranslate() {
  if (app.feedState) showStatus(app.feedState);
  if (app.adminState) setAdminState(app.adminState.text, app.adminState.ok);
  render(app.last);
}

await init();
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
feed.addEventListener('refused', () => setAdminState(() => t('monitor.token_refused_stream'), false));
document.addEventListener('relay:ui', retranslate);

$('#admin-token').value = app.token;
if (app.token) setAdminState(() => t('monitor.token_set'), true);
$('#admin').addEventListener('submit', (ev) => {
  ev.preventDefault();
  app.token = $('#admin-token').value.trim();
  if (app.token) sessionStorage.setItem(TOKEN_KEY, app.token); else sessionStorage.removeItem(TOKEN_KEY);
  setAdminState(app.token ? () => t('monitor.token_set') : () => t('monitor.no_token'), Boolean(app.token));
  app.refused = false;
  app.viewers.clear();
  for (const name of app.open) loadViewers(name);
  feed.start(app.token); // at once: an admin token takes a reserved stream
});
feed.start(app.token);
