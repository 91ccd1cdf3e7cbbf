// Captioner console: setup (token and language from the URL or a form), the
// typing area, the captioner's own lines with their delivery state and
// corrections, a preview from the viewers' own socket, and who else is here.

import { fetchRoom, roomLanguages } from './api.js';
import { CaptionFeed } from './captions.js';
import { CaptionerLink } from './captioner.js';
import { CueStore } from './cuestore.js';
import { $, announce, clock, el, roomFromPath } from './dom.js';
import { dir, label, nativeName } from './langs.js';
import { CaptionOverlay } from './overlay.js';

const room = roomFromPath();
const LONG_LINE = 110;

const app = {
  room,
  link: null,
  feed: null,
  store: null,
  lang: '',
  editing: null, // id of the line being corrected
  draft: null, // its text as typed so far (survives re-renders)
};

// ---- setup ------------------------------------------------------------------

/** Token and language from the URL (the token then leaves the address bar). */
function fromURL() {
  const q = new URLSearchParams(location.search);
  const tokenKey = `relay.console.token.${room}`;
  let token = q.get('token') || '';
  try {
    if (token) sessionStorage.setItem(tokenKey, token);
    else token = sessionStorage.getItem(tokenKey) || '';
  } catch {
    // no storage: the token lasts this page
  }
  if (q.has('token')) {
    q.delete('token');
    history.replaceState(null, '', `${location.pathname}${q.size ? `?${q}` : ''}`);
  }
  return { token, lang: q.get('lang') || '', name: q.get('name') || '' };
}

async function showSetup(values, error = '') {
  $('#desk').hidden = true;
  $('#setup').hidden = false;
  $('#f-lang').value = values.lang || '';
  $('#f-token').value = values.token || '';
  $('#f-name').value = values.name || '';
  $('#setup-error').hidden = !error;
  $('#setup-error').textContent = error;
  (error ? $('#f-token') : values.lang ? $('#f-token') : $('#f-lang')).focus();
  try {
    const info = await fetchRoom(room);
    if (info) $('#title').textContent = `${info.title || room}: captioner console`;
    $('#room-langs').replaceChildren(...roomLanguages(info).map((l) => el('option', { value: l }, label(l))));
  } catch {
    // suggestions only
  }
}

$('#setup').addEventListener('submit', (e) => {
  e.preventDefault();
  const values = { lang: $('#f-lang').value.trim(), token: $('#f-token').value.trim(), name: $('#f-name').value.trim() };
  try {
    sessionStorage.setItem(`relay.console.token.${room}`, values.token);
  } catch {
    // kept in memory only
  }
  const q = new URLSearchParams({ lang: values.lang });
  if (values.name) q.set('name', values.name);
  history.replaceState(null, '', `${location.pathname}?${q}`);
  start(values);
});

$('#switch').addEventListener('click', () => {
  stop();
  showSetup({ lang: app.lang, token: app.link?.token || '', name: app.link?.name || '' });
});

// ---- the desk ---------------------------------------------------------------

const STATE_TEXT = {
  connecting: 'Connecting…',
  open: 'Connected',
  reconnecting: 'Reconnecting…',
  refused: 'Refused',
  idle: 'Not connected',
};

function start({ lang, token, name }) {
  app.lang = lang;
  $('#setup').hidden = true;
  $('#desk').hidden = false;
  $('#lang-badge').textContent = nativeName(lang);
  $('#lang-badge').lang = lang;
  $('#watch-link').href = `/watch/${encodeURIComponent(room)}?lang=${encodeURIComponent(lang)}`;
  const typing = $('#typing');
  typing.lang = lang;
  typing.dir = dir(lang);
  $('#lines').lang = lang;
  $('#lines').dir = dir(lang);
  document.title = `Captioning ${nativeName(lang)} · ${room} · relay`;

  app.link = new CaptionerLink({ room, lang, token, name });
  app.link.addEventListener('state', (e) => {
    showLinkState(e.detail);
    // The captioner's own connection makes the language exist: a preview
    // still waiting for the room to offer it looks again at once.
    if (e.detail === 'open' && app.feed?.state === 'waiting') app.feed.reconnect(0);
  });
  app.link.addEventListener('lines', renderLines);
  app.link.addEventListener('status', (e) => showStatus(e.detail));
  app.link.addEventListener('notice', (e) => announce(e.detail));
  app.link.connect();
  renderLines();

  // the preview is what a viewer's socket gets
  app.store = new CueStore();
  app.feed = new CaptionFeed({ room });
  const overlay = new CaptionOverlay(app.store, $('#preview-cap'));
  overlay.setLanguages(lang);
  const observer = new MutationObserver(() => { $('#preview-empty').hidden = !$('#preview-cap').hidden; });
  observer.observe($('#preview-cap'), { attributes: true, attributeFilter: ['hidden'] });
  app.feed.addEventListener('backlog', (e) => app.store.backlog(e.detail.lang, e.detail.cues));
  app.feed.addEventListener('cue', (e) => app.store.apply(e.detail));
  app.feed.addEventListener('state', (e) => e.detail === 'reconnecting' && app.store.clearPartials());
  app.store.addEventListener('final', () => showLastSeq());
  app.store.addEventListener('reset', () => showLastSeq());
  app.feed.setLanguages([lang]);

  fetchRoom(room).then((info) => {
    if (info) $('#title').textContent = `${info.title || room}: captioner console`;
  }).catch(() => {});
  typing.focus();
}

function stop() {
  app.lastSeq = 0;
  if (app.link?.ws) {
    const ws = app.link.ws;
    app.link.ws = null;
    ws.onclose = null;
    ws.close(1000);
  }
  app.link = null;
  app.feed?.close();
  app.feed = null;
}

function showLinkState({ state, detail }) {
  const status = $('#status');
  status.dataset.state = state === 'refused' ? 'error' : state;
  const waiting = app.link ? app.link.pending().length : 0;
  let text = STATE_TEXT[state] || state;
  if (state === 'reconnecting' && waiting) text += ` ${waiting} waiting`;
  status.textContent = text;
  if (state === 'refused') {
    const values = { lang: app.lang, token: app.link.token, name: app.link.name };
    stop();
    showSetup(values, `The relay refused this token for ${room}/${values.lang}: ${detail}`);
  }
}

function showLastSeq(seq = 0) {
  app.lastSeq = Math.max(app.lastSeq || 0, seq, app.store ? app.store.lang(app.lang).lastSeq : 0);
  $('#last-seq').textContent = app.lastSeq ? `#${app.lastSeq}` : 'none yet';
}

function showStatus(st) {
  // this page's own preview is a viewer too: leave it out
  const own = app.feed?.state === 'open' ? 1 : 0;
  $('#viewers').textContent = String(Math.max(0, st.viewers - own));
  showLastSeq(st.seq);
  const list = (st.captioners || []).map((c) =>
    el('li', {},
      c.name || 'captioner', ' ',
      c.session === st.you ? el('span', { class: 'you' }, '(you)') : el('span', { class: 'via' }, `${c.via}, since ${clock(new Date(c.since))}`),
    ));
  $('#captioners').replaceChildren(...(list.length ? list : [el('li', { class: 'muted' }, 'none')]));
}

// ---- lines --------------------------------------------------------------------

function lineItem(l) {
  const st = l.correcting ? ['pending', 'correcting…'] : l.state === 'acked' ? ['acked', `delivered #${l.seq}`] : l.state === 'error' ? ['error', 'not accepted'] : ['pending', 'sending…'];
  const li = el('li', { dataset: { id: l.id, state: l.state, seq: l.seq || '' } },
    el('time', { datetime: new Date(l.at).toISOString() }, clock(new Date(l.at))),
  );
  if (app.editing === l.id) {
    const input = el('input', { class: 'edit-input', type: 'text', value: app.draft ?? l.correcting ?? l.text, 'aria-label': 'Corrected text', lang: app.lang, dir: dir(app.lang) });
    input.addEventListener('input', () => { app.draft = input.value; });
    input.addEventListener('keydown', (e) => {
      if (e.key === 'Enter' && !e.isComposing) {
        e.preventDefault();
        const text = input.value.trim();
        app.editing = null;
        app.draft = null;
        if (text) app.link.correct(l.id, text);
        renderLines();
        $('#typing').focus();
      } else if (e.key === 'Escape') {
        app.editing = null;
        app.draft = null;
        renderLines();
        $('#typing').focus();
      }
    });
    li.append(input);
    queueMicrotask(() => {
      input.focus();
      input.setSelectionRange(input.value.length, input.value.length);
    });
  } else {
    li.append(el('p', {}, l.correcting || l.text));
  }
  li.append(el('span', { class: `st ${st[0]}` }, st[1]));
  const actions = el('span', { class: 'actions' });
  if (l.state === 'acked' && app.editing !== l.id) {
    actions.append(el('button', { type: 'button', class: 'btn small', 'aria-label': `Correct line ${l.seq}`, onclick: () => edit(l.id) }, 'Correct'));
  }
  if (l.state === 'error') {
    actions.append(
      el('button', { type: 'button', class: 'btn small', onclick: () => app.link.retry(l.id) }, 'Retry'),
      el('button', { type: 'button', class: 'btn small', onclick: () => app.link.discard(l.id) }, 'Discard'),
    );
  }
  const meta = el('span', { class: 'meta-row' }, actions);
  if (l.corrected) meta.prepend(el('span', { class: 'tag-corrected' }, 'corrected'));
  if (l.error) meta.append(el('span', { class: 'line-error' }, l.error));
  if (actions.childElementCount || l.corrected || l.error) li.append(meta);
  return li;
}

function renderLines() {
  if (!app.link) return;
  const scroller = $('#lines-scroll');
  const atEnd = scroller.scrollHeight - scroller.scrollTop - scroller.clientHeight < 40;
  const lines = app.link.lines;
  $('#lines').replaceChildren(...lines.map(lineItem));
  $('#lines-empty').hidden = lines.length > 0;
  if (atEnd || !app.editing) scroller.scrollTop = scroller.scrollHeight;
  if (app.link.state === 'reconnecting') showLinkState({ state: 'reconnecting', detail: '' });
}

function edit(id) {
  app.editing = id;
  app.draft = null;
  renderLines();
}

// ---- typing -------------------------------------------------------------------

const typing = $('#typing');
typing.addEventListener('input', () => {
  if (!app.link) return;
  // pasted text: each complete line is sent as a line of its own
  const parts = typing.value.split(/\r?\n/);
  if (parts.length > 1) {
    for (const p of parts.slice(0, -1)) {
      const text = p.replace(/\s+/g, ' ').trim();
      if (text) app.link.commit(text);
    }
    typing.value = parts[parts.length - 1];
  }
  const text = typing.value;
  app.link.partial(text);
  $('#length-hint').hidden = text.length <= LONG_LINE;
});
typing.addEventListener('keydown', (e) => {
  if (!app.link) return;
  if (e.key === 'Enter' && !e.shiftKey && !e.isComposing) {
    e.preventDefault();
    const text = typing.value.replace(/\s+/g, ' ').trim();
    if (!text) return;
    app.link.commit(text);
    typing.value = '';
    $('#length-hint').hidden = true;
  } else if (e.key === 'Escape') {
    typing.value = '';
    app.link.cancelPartial();
    app.link.partial('');
  } else if (e.key === 'ArrowUp' && !typing.value) {
    const last = [...app.link.lines].reverse().find((l) => l.state === 'acked');
    if (last) {
      e.preventDefault();
      edit(last.id);
    }
  }
});

addEventListener('pagehide', stop);

const initial = fromURL();
if (initial.token && initial.lang) start(initial);
else showSetup(initial);
