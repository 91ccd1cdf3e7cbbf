// Lobby: every room with its state, viewers, caption languages and
// language channels (interpretation and sign language, live or off air),
// updated every few seconds, and the recorded sessions (GET /recordings/,
// newest first: each opens its watch page), in the delegate's interface
// language.

import { fetchRooms } from './api.js';
import { $, el, announce } from './dom.js';
import { dir, localName, nativeName } from './langs.js';
import { init, t, duration, uiLang } from './i18n.js';
import { recordedAt } from './recording.js';

const POLL_MS = 5000;
const RECORDINGS_MS = 30000;

const app = {
  rooms: null, // the last list from the relay; null until the first answer
  failed: false, // the last poll failed
  states: new Map(), // room -> state at the last poll, to announce changes
  drawn: '', // what the list was last drawn from (skip identical redraws)
  recordings: [], // the last GET /recordings/ list
  recordingsDrawn: '',
};

function stateText(state) {
  if (state === 'live') return t('lobby.state_live');
  if (state === 'idle') return t('lobby.state_idle');
  if (state === 'lost') return t('lobby.state_lost');
  return state;
}

// nodes is a translated string with elements in place of some of its
// {names}: a room name stays an isolated identifier inside a sentence.
function nodes(text, parts) {
  return text.split(/\{(\w+)\}/).map((p, i) => (i % 2 ? parts[p] ?? `{${p}}` : p));
}

// liveFor says how long a room has been live, to the minute.
function liveFor(iso) {
  const at = Date.parse(iso);
  if (!at || at < 0) return '';
  const min = Math.max(0, Math.round((Date.now() - at) / 60000));
  if (min < 1) return t('lobby.just_started');
  return t('lobby.live_for', { duration: duration(min * 60) });
}

function channelLabel(c, name) {
  const vars = { native: nativeName(c.lang), name };
  if (c.kind === 'sign') return c.live ? t('lobby.channel_sign_live', vars) : t('lobby.channel_sign_off', vars);
  return c.live ? t('lobby.channel_audio_live', vars) : t('lobby.channel_audio_off', vars);
}

/**
 * The room's channels as links that open the room in that language: the
 * interpretation booths, then the sign-language interpreters.
 */
function channels(r, href) {
  const list = [...(r.channels || [])].sort((a, b) => (a.kind === 'sign') - (b.kind === 'sign') || a.lang.localeCompare(b.lang));
  if (!list.length) return null;
  return el('div', { class: 'langs channels' },
    el('span', { class: 'langs-label' }, t('lobby.interpretation')),
    ...list.map((c) => {
      const sign = c.kind === 'sign';
      const label = channelLabel(c, localName(c.lang));
      return el('a', {
        class: `lang channel ${sign ? 'sign' : 'audio'}`,
        dataset: { lang: c.lang, kind: c.kind, live: String(!!c.live), key: `chan-${c.kind}-${c.lang}` },
        href: sign ? href : `${href}?lang=${encodeURIComponent(c.lang)}`,
        'aria-label': label,
        title: label,
      },
      el('span', { class: 'air', 'aria-hidden': 'true' }),
      sign ? el('span', { class: 'sign-mark', 'aria-hidden': 'true' }, t('lobby.sign_mark')) : null,
      el('span', { lang: c.lang, dir: dir(c.lang) }, nativeName(c.lang)),
      c.live ? null : el('span', { class: 'off', 'aria-hidden': 'true' }, t('lobby.off_air')));
    }),
  );
}

function card(r) {
  const langs = (r.captions || []).filter((c) => c.announced).map((c) => c.lang);
  const href = `/watch/${encodeURIComponent(r.name)}`;
  const state = r.state || 'idle';
  const title = r.title || r.name;
  const age = state === 'live' && r.started ? liveFor(r.started) : '';
  return el('li', { class: `room ${state}`, dataset: { room: r.name, state } },
    el('div', { class: 'room-head' },
      el('span', { class: 'pill', dataset: { state } }, stateText(state)),
      r.private ? el('span', { class: 'badge' }, t('lobby.invite_only')) : null,
      el('span', { class: 'viewers', title: t('lobby.watching_now'), dataset: { n: String(r.viewers || 0) } },
        t('lobby.viewers', { n: r.viewers || 0 })),
    ),
    el('h2', {}, el('a', { href, class: 'room-link', dataset: { key: 'title' } }, title)),
    el('p', { class: 'meta' },
      nodes(t('lobby.room'), { name: el('bdi', {}, r.name) }),
      age ? ` · ${age}` : ''),
    el('div', { class: 'langs' },
      langs.length
        ? [el('span', { class: 'langs-label' }, t('lobby.subtitles')),
          ...langs.map((l) => el('a', {
            class: 'lang', lang: l, dir: dir(l), href: `${href}?lang=${encodeURIComponent(l)}`, dataset: { key: `sub-${l}` },
            title: t('lobby.watch_with_subtitles', { lang: localName(l) }),
          }, nativeName(l)))]
        : el('span', { class: 'langs-label' }, t('lobby.no_subtitles')),
    ),
    channels(r, href),
    el('a', {
      class: `btn ${state === 'live' ? 'primary' : ''} watch-btn`, href, dataset: { key: 'watch' },
      'aria-label': t('lobby.watch_room', { title }),
    }, state === 'live' ? t('lobby.watch_now') : t('lobby.open')),
  );
}

// render draws the list from the last answer, keeping keyboard focus on
// the same control of the same room.
function render(force = false) {
  const status = $('#status');
  setText(status, app.failed ? t('lobby.reconnecting') : app.rooms ? '' : t('lobby.loading'));
  if (app.failed) status.dataset.state = 'reconnecting';
  if (!app.rooms) return;
  const rooms = app.rooms;
  const live = rooms.filter((r) => r.state === 'live').length;
  if (!app.failed) {
    status.dataset.state = live ? 'live' : 'ok';
    setText(status, live ? t('lobby.live_now', { n: live }) : t('lobby.nothing_live'));
  }
  // The minute is part of it: "live for 12 min" moves on.
  const drawn = `${uiLang()} ${Math.floor(Date.now() / 60000)} ${JSON.stringify(rooms)}`;
  if (drawn === app.drawn && !force) return;
  app.drawn = drawn;
  const active = document.activeElement;
  const focused = active?.closest('li[data-room]') ? [active.closest('li[data-room]').dataset.room, active.dataset.key] : null;
  $('#rooms').replaceChildren(...rooms.map(card));
  if (focused) {
    const li = document.querySelector(`li[data-room="${CSS.escape(focused[0])}"]`);
    (li?.querySelector(`[data-key="${CSS.escape(focused[1] || 'title')}"]`) || li?.querySelector('.room-link'))?.focus();
  }
  $('#empty').hidden = rooms.length > 0;
}

// setText changes a live region's text only when it changes: the same
// words written again may be read again.
function setText(node, text) {
  if (text && node.textContent !== text) node.textContent = text;
}

// announceChanges says which rooms went live or lost their signal since
// the last poll (not on the first: the page itself shows them).
function announceChanges(rooms) {
  const said = [];
  for (const r of rooms) {
    const before = app.states.get(r.name);
    const title = r.title || r.name;
    if (before !== undefined && before !== r.state) {
      if (r.state === 'live') said.push(t('lobby.announce_live', { title }));
      else if (r.state === 'lost') said.push(t('lobby.announce_lost', { title }));
    }
  }
  app.states = new Map(rooms.map((r) => [r.name, r.state]));
  if (said.length) announce(said.join(' '));
}

async function refresh() {
  try {
    const rooms = await fetchRooms();
    rooms.sort((a, b) => (a.state === 'live' ? 0 : 1) - (b.state === 'live' ? 0 : 1) || (a.title || a.name).localeCompare(b.title || b.name));
    announceChanges(rooms);
    app.rooms = rooms;
    app.failed = false;
  } catch {
    app.failed = true;
  }
  render();
  renderRecordings(); // their titles are the rooms'
  setTimeout(refresh, POLL_MS);
}

// ---- recordings ---------------------------------------------------------------

/** A row of language links that open the recording in that language. */
function recordingLangs(labelText, langs, href) {
  if (!langs?.length) return null;
  return el('div', { class: 'langs' },
    el('span', { class: 'langs-label' }, labelText),
    ...langs.map((l) => el('a', { class: 'lang', lang: l, dir: dir(l), href: `${href}?lang=${encodeURIComponent(l)}`, title: localName(l) }, nativeName(l))));
}

function recordingItem(rec) {
  const title = app.rooms?.find((r) => r.name === rec.room)?.title || rec.room;
  const href = `/watch/${encodeURIComponent(rec.room)}/recordings/${encodeURIComponent(rec.id)}`;
  const date = recordedAt(rec.start);
  return el('li', { class: 'recording', dataset: { room: rec.room, id: rec.id } },
    el('div', { class: 'recording-head' },
      el('a', { class: 'room-link', href, 'aria-label': t('lobby.watch_recording', { title, date }) }, title),
      rec.recording ? el('span', { class: 'pill', dataset: { state: 'live' } }, t('lobby.recording_now')) : null),
    el('p', { class: 'meta' }, el('time', { datetime: rec.start }, date), ` · ${duration(rec.duration || 0)}`),
    recordingLangs(t('lobby.interpretation'), rec.languages, href),
    recordingLangs(t('lobby.subtitles'), rec.subtitles, href),
  );
}

function renderRecordings(force = false) {
  const list = app.recordings;
  $('#recordings-section').hidden = !list.length;
  const drawn = `${uiLang()} ${JSON.stringify(app.rooms?.map((r) => r.title))} ${JSON.stringify(list)}`;
  if (drawn === app.recordingsDrawn && !force) return;
  app.recordingsDrawn = drawn;
  $('#recordings').replaceChildren(...list.map(recordingItem));
}

async function refreshRecordings() {
  try {
    const res = await fetch('/recordings/', { cache: 'no-store' });
    if (res.ok) app.recordings = (await res.json()).recordings || [];
  } catch {
    // the relay is away: the rooms' status says so; keep the last list
  }
  renderRecordings();
  setTimeout(refreshRecordings, RECORDINGS_MS);
}

await init();
render();
document.addEventListener('relay:ui', () => {
  render(true);
  renderRecordings(true);
});
refresh();
refreshRecordings();
