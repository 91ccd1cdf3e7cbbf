// Lobby: every room with its state, viewers, caption languages and
// language channels (interpretation and sign language, live or off air),
// updated every few seconds.

import { fetchRooms } from './api.js';
import { $, el } from './dom.js';
import { dir, localName, nativeName } from './langs.js';

const STATE_TEXT = { live: 'Live', idle: 'Not started', lost: 'Signal lost' };

function since(iso) {
  const t = Date.parse(iso);
  if (!t || t < 0) return '';
  const min = Math.max(0, Math.round((Date.now() - t) / 60000));
  if (min < 1) return 'just now';
  if (min < 60) return `${min} min`;
  const h = Math.floor(min / 60);
  return `${h} h ${min % 60} min`;
}

/**
 * The room's channels as links that open the room in that language: the
 * interpretation booths, then the sign-language interpreters.
 */
function channels(r, href) {
  const list = [...(r.channels || [])].sort((a, b) => (a.kind === 'sign') - (b.kind === 'sign') || a.lang.localeCompare(b.lang));
  if (!list.length) return null;
  return el('div', { class: 'langs channels' },
    el('span', { class: 'langs-label' }, 'Interpretation'),
    ...list.map((c) => {
      const sign = c.kind === 'sign';
      const air = c.live ? 'live' : 'off air';
      const what = sign ? 'sign language interpreter' : 'interpretation';
      return el('a', {
        class: `lang channel ${sign ? 'sign' : 'audio'}`, dataset: { lang: c.lang, kind: c.kind, live: String(!!c.live) },
        href: sign ? href : `${href}?lang=${encodeURIComponent(c.lang)}`,
        'aria-label': `${nativeName(c.lang)}: ${localName(c.lang)} ${what}, ${air}`,
        title: `${localName(c.lang)} ${what}: ${air}`,
      },
      el('span', { class: 'air', 'aria-hidden': 'true' }),
      sign ? el('span', { class: 'sign-mark', 'aria-hidden': 'true' }, 'Sign') : null,
      el('span', { lang: c.lang, dir: dir(c.lang) }, nativeName(c.lang)),
      c.live ? null : el('span', { class: 'off', 'aria-hidden': 'true' }, 'off air'));
    }),
  );
}

function card(r) {
  const langs = (r.captions || []).filter((c) => c.announced).map((c) => c.lang);
  const href = `/watch/${encodeURIComponent(r.name)}`;
  const state = r.state || 'idle';
  const age = state === 'live' && r.started ? since(r.started) : '';
  const started = age === 'just now' ? ' · just started' : age ? ` · live for ${age}` : '';
  return el('li', { class: `room ${state}`, dataset: { room: r.name, state } },
    el('div', { class: 'room-head' },
      el('span', { class: 'pill', dataset: { state } }, STATE_TEXT[state] || state),
      r.private ? el('span', { class: 'badge' }, 'Invite only') : null,
      el('span', { class: 'viewers', title: 'Watching now' }, `${r.viewers || 0} watching`),
    ),
    el('h2', {}, el('a', { href, class: 'room-link' }, r.title || r.name)),
    el('p', { class: 'meta' }, `Room ${r.name}${started}`),
    el('div', { class: 'langs' },
      langs.length
        ? [el('span', { class: 'langs-label' }, 'Subtitles'), ...langs.map((l) => el('a', { class: 'lang', lang: l, dir: dir(l), href: `${href}?lang=${encodeURIComponent(l)}`, title: `Watch with ${nativeName(l)} subtitles` }, nativeName(l)))]
        : el('span', { class: 'langs-label' }, 'No subtitles yet'),
    ),
    channels(r, href),
    el('a', { class: `btn ${state === 'live' ? 'primary' : ''} watch-btn`, href, 'aria-label': `Watch ${r.title || r.name}` }, state === 'live' ? 'Watch now' : 'Open'),
  );
}

async function refresh() {
  const status = $('#status');
  try {
    const rooms = await fetchRooms();
    rooms.sort((a, b) => (a.state === 'live' ? 0 : 1) - (b.state === 'live' ? 0 : 1) || (a.title || a.name).localeCompare(b.title || b.name));
    const focused = document.activeElement?.closest('li')?.dataset.room;
    $('#rooms').replaceChildren(...rooms.map(card));
    if (focused) document.querySelector(`li[data-room="${CSS.escape(focused)}"] .room-link`)?.focus();
    $('#empty').hidden = rooms.length > 0;
    const live = rooms.filter((r) => r.state === 'live').length;
    status.dataset.state = live ? 'live' : 'ok';
    status.textContent = live ? `${live} live now` : 'Nothing live now';
  } catch {
    status.dataset.state = 'reconnecting';
    status.textContent = 'Reconnecting…';
  }
  setTimeout(refresh, 5000);
}

refresh();
