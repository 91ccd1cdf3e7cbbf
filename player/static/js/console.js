// Captioner console: setup (token and language from the URL or a form), the
// typing area, the captioner's own lines with their delivery state and
// corrections, a preview from the viewers' own socket, and who else is here.

import { fetchRoom, roomLanguages } from './api.js';
import { CaptionFeed } from './captions.js';
import { CaptionerLink } from './captioner.js';
import { CueStore } from './cuestore.js';
import { $, announce, el, roomFromPath } from './dom.js';
import { init, num, t, time } from './i18n.js';
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
  focusEdit: false, // the correction field takes the focus when next drawn
  title: '', // the room's title, once known
  linkState: { state: 'idle', detail: '' },
  status: null, // the relay's last status message
  setupError: null, // () => the setup form's error, in the interface language
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

async function showSetup(values, error = null) {
  $('#desk').hidden = true;
  $('#setup').hidden = false;
  $('#f-lang').value = values.lang || '';
  $('#f-token').value = values.token || '';
  $('#f-name').value = values.name || '';
  app.setupError = error;
  showSetupError();
  (error ? $('#f-token') : values.lang ? $('#f-token') : $('#f-lang')).focus();
  try {
    const info = await fetchRoom(room);
    if (info) app.title = info.title || room;
    showTitle();
    app.roomLangs = roomLanguages(info);
    showRoomLangs();
  } catch {
    // suggestions only
  }
}

function showSetupError() {
  const text = app.setupError ? app.setupError() : '';
  $('#setup-error').hidden = !text;
  $('#setup-error').textContent = text;
}

function showRoomLangs() {
  $('#room-langs').replaceChildren(...(app.roomLangs || []).map((l) => el('option', { value: l }, label(l))));
}

/**
 * The caption field's hint is in the interface language while the field
 * runs in the caption language's direction: an isolate keeps its words in
 * their own order (an Arabic hint in an English field, or the reverse).
 */
function showPlaceholder() {
  $('#typing').placeholder = `\u2068${t('caption.typing_placeholder')}\u2069`;
}

function showTitle() {
  // The room's name keeps its own direction inside the sentence.
  $('#title').textContent = app.title ? t('caption.console_of', { room: `\u2068${app.title}\u2069` }) : t('caption.console');
  document.title = app.lang && !$('#desk').hidden
    ? t('caption.doc_title_lang', { lang: nativeName(app.lang), room })
    : t('caption.doc_title');
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
  const ui = new URLSearchParams(location.search).get('ui');
  if (ui) q.set('ui', ui);
  history.replaceState(null, '', `${location.pathname}?${q}`);
  start(values);
});

$('#switch').addEventListener('click', () => {
  stop();
  showSetup({ lang: app.lang, token: app.link?.token || '', name: app.link?.name || '' });
});

// ---- the desk ---------------------------------------------------------------

function stateText(state) {
  switch (state) {
    case 'connecting': return t('caption.state_connecting');
    case 'open': return t('caption.state_open');
    case 'reconnecting': return t('caption.state_reconnecting');
    case 'refused': return t('caption.state_refused');
    default: return t('caption.state_idle');
  }
}

function start({ lang, token, name }) {
  app.lang = lang;
  $('#setup').hidden = true;
  $('#desk').hidden = false;
  $('#lang-badge').textContent = nativeName(lang);
  $('#lang-badge').lang = lang;
  $('#watch-link').href = `/watch/${encodeURIComponent(room)}?lang=${encodeURIComponent(lang)}`;
  // What is typed is in the caption language, whatever the interface's.
  const typing = $('#typing');
  typing.lang = lang;
  typing.dir = dir(lang);
  showTitle();

  app.link = new CaptionerLink({ room, lang, token, name });
  app.link.addEventListener('state', (e) => {
    showLinkState(e.detail);
    // The captioner's own connection makes the language exist: a preview
    // still waiting for the room to offer it looks again at once.
    if (e.detail === 'open' && app.feed?.state === 'waiting') app.feed.reconnect(0);
  });
  app.link.addEventListener('lines', () => {
    renderLines();
    announceLines();
  });
  app.seen = new Map(app.link.lines.map((l) => [l.id, l.state]));
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
    if (info) app.title = info.title || room;
    showTitle();
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
  app.linkState = { state, detail };
  const status = $('#status');
  status.dataset.state = state === 'refused' ? 'error' : state;
  const waiting = app.link ? app.link.pending().length : 0;
  let text = stateText(state);
  if (state === 'reconnecting' && detail === 'rate-limited') text = t('caption.state_slowing');
  else if (state === 'reconnecting' && waiting) text = t('caption.state_reconnecting_waiting', { n: waiting });
  if (status.textContent !== text) status.textContent = text;
  if (state === 'refused') {
    const values = { lang: app.lang, token: app.link.token, name: app.link.name };
    stop();
    showSetup(values, () => t('caption.refused', { room, lang: values.lang, reason: detail }));
  }
}

/** A caption line's number, as the relay counts them. */
function seqText(seq) {
  return t('caption.seq', { seq: num(seq, { useGrouping: false }) });
}

function showLastSeq(seq = 0) {
  app.lastSeq = Math.max(app.lastSeq || 0, seq, app.store ? app.store.lang(app.lang).lastSeq : 0);
  $('#last-seq').textContent = app.lastSeq ? seqText(app.lastSeq) : t('caption.none_yet');
}

/** How a captioner reaches the relay: this console, a platform, the demo. */
function viaName(via) {
  switch (via) {
    case 'ws': return t('caption.via_console');
    case 'demo': return t('caption.via_demo');
    case 'youtube': return 'YouTube';
    case 'zoom': return 'Zoom';
    default: return via;
  }
}

function showStatus(st) {
  app.status = st;
  // this page's own preview is a viewer too: leave it out
  const own = app.feed?.state === 'open' ? 1 : 0;
  $('#viewers').textContent = num(Math.max(0, st.viewers - own));
  showLastSeq(st.seq);
  const list = (st.captioners || []).map((c) =>
    el('li', {},
      el('bdi', {}, c.name || t('caption.captioner')), ' ',
      c.session === st.you ? el('span', { class: 'you' }, t('caption.you'))
        : el('span', { class: 'via' }, t('caption.via_since', { via: viaName(c.via), time: time(new Date(c.since)) })),
    ));
  $('#captioners').replaceChildren(...(list.length ? list : [el('li', { class: 'muted' }, t('caption.none'))]));
}

// ---- lines --------------------------------------------------------------------

/** A line's delivery state: its class and words. */
function lineState(l) {
  if (l.correcting) return ['pending', t('caption.st_correcting')];
  if (l.state === 'acked') return ['acked', t('caption.st_delivered', { seq: seqText(l.seq) })];
  if (l.state === 'error') return ['error', t('caption.st_refused')];
  return ['pending', t('caption.st_sending')];
}

function lineError(l) {
  if (!l.error) return '';
  return l.errorKind === 'correction' ? t('caption.correction_refused', { reason: l.error }) : l.error;
}

function lineItem(l) {
  const st = lineState(l);
  // The line itself is in the caption language; its time, state and buttons in the interface's.
  const own = { lang: app.lang, dir: dir(app.lang) };
  const li = el('li', { dataset: { id: l.id, state: l.state, seq: l.seq || '' } },
    el('time', { datetime: new Date(l.at).toISOString() }, time(new Date(l.at))),
  );
  if (app.editing === l.id) {
    const input = el('input', { class: 'edit-input', type: 'text', value: app.draft ?? l.correcting ?? l.text, 'aria-label': t('caption.corrected_text'), ...own });
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
    if (app.focusEdit) {
      app.focusEdit = false;
      queueMicrotask(() => {
        input.focus();
        input.setSelectionRange(input.value.length, input.value.length);
      });
    }
  } else {
    li.append(el('p', own, l.correcting || l.text));
  }
  li.append(el('span', { class: `st ${st[0]}` }, st[1]));
  const actions = el('span', { class: 'actions' });
  if (l.state === 'acked' && app.editing !== l.id) {
    actions.append(el('button', { type: 'button', class: 'btn small', 'aria-label': t('caption.correct_line', { seq: seqText(l.seq) }), onclick: () => edit(l.id) }, t('caption.correct')));
  }
  if (l.state === 'error') {
    actions.append(
      el('button', { type: 'button', class: 'btn small', onclick: () => app.link.retry(l.id) }, t('caption.retry')),
      el('button', { type: 'button', class: 'btn small', onclick: () => app.link.discard(l.id) }, t('caption.discard')),
    );
  }
  const meta = el('span', { class: 'meta-row' }, actions);
  if (l.corrected) meta.prepend(el('span', { class: 'tag-corrected' }, t('caption.corrected')));
  if (l.error) meta.append(el('span', { class: 'line-error' }, lineError(l)));
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

/** Says politely what became of each line since the last change: delivered, or refused. */
function announceLines() {
  const said = [];
  for (const l of app.link.lines) {
    const was = app.seen.get(l.id);
    if (l.state === was) continue;
    if (l.state === 'acked') said.push(t('caption.announce_delivered', { seq: seqText(l.seq) }));
    else if (l.state === 'error') said.push(t('caption.announce_refused', { reason: l.error || '' }));
  }
  app.seen = new Map(app.link.lines.map((l) => [l.id, l.state]));
  if (said.length) announce(said.join(' '));
}

function edit(id) {
  app.editing = id;
  app.draft = null;
  app.focusEdit = true;
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

// A new interface language: redraw what this module wrote; the socket and
// the preview carry on.
document.addEventListener('relay:ui', () => {
  showTitle();
  showPlaceholder();
  showSetupError();
  showRoomLangs();
  if (app.link) {
    showLinkState(app.linkState);
    renderLines();
    showLastSeq();
    if (app.status) showStatus(app.status);
  } else {
    $('#status').textContent = stateText(app.linkState.state);
  }
});

const initial = fromURL();
await init({ content: initial.lang || undefined });
showLinkState({ state: 'idle', detail: '' });
if (initial.token && initial.lang) start(initial);
else showSetup(initial);
