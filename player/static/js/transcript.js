// Transcript: the side panel's scrollback of one language's finals, with
// their times, corrections applied in place, the line being typed at the
// bottom, and SRT/WebVTT downloads of the whole session.

import { clock, el } from './dom.js';
import { t, uiLang } from './i18n.js';
import { dir } from './langs.js';

export class TranscriptPanel {
  constructor({ store, list, partial, jump, downloads, empty, room, token = '' }) {
    this.store = store;
    this.list = list;
    this.partialNode = partial;
    this.jump = jump;
    this.downloads = downloads; // {srt: <a>, vtt: <a>}
    this.empty = empty;
    this.room = room;
    this.token = token;
    this.lang = null;
    this.items = new Map(); // seq -> <li>
    this.follow = true;
    const scroller = list.parentElement;
    this.scroller = scroller;
    scroller.addEventListener('scroll', () => {
      const atEnd = scroller.scrollHeight - scroller.scrollTop - scroller.clientHeight < 40;
      this.follow = atEnd;
      jump.hidden = atEnd;
    });
    jump.addEventListener('click', () => {
      this.follow = true;
      this.scrollToEnd();
      jump.hidden = true;
    });
    store.addEventListener('reset', (e) => e.detail.lang === this.lang && this.renderAll());
    store.addEventListener('final', (e) => e.detail.lang === this.lang && this.final(e.detail.cue, e.detail.corrected));
    store.addEventListener('partial', (e) => e.detail.lang === this.lang && this.renderPartial());
    document.addEventListener('relay:ui', () => this.relabel());
  }

  setLanguage(lang) {
    if (lang === this.lang) return;
    this.lang = lang;
    for (const [fmt, a] of Object.entries(this.downloads)) {
      if (!lang) {
        a.hidden = true;
        continue;
      }
      const q = new URLSearchParams({ lang });
      if (this.token) q.set('token', this.token);
      a.href = `/captions/${encodeURIComponent(this.room)}/transcript.${fmt}?${q}`;
      a.download = `${this.room}-${lang}.${fmt}`;
      a.hidden = false;
    }
    this.list.lang = lang || '';
    this.list.dir = lang ? dir(lang) : 'auto';
    this.partialNode.lang = lang || '';
    this.partialNode.dir = lang ? dir(lang) : 'auto';
    this.follow = true;
    this.renderAll();
  }

  item(cue) {
    const time = new Date(cue.start);
    const li = el('li', { dataset: { seq: cue.seq } },
      el('time', { datetime: time.toISOString() }, clock(time)),
      el('p', {}, cue.text),
    );
    if (cue.corrected) li.append(el('span', { class: 'corrected', lang: uiLang(), title: t('watch.corrected_hint') }, t('watch.corrected')));
    return li;
  }

  /** The interface language changed: times and marks in it, the lines and the scroll position kept. */
  relabel() {
    for (const li of this.items.values()) {
      const time = li.querySelector('time');
      if (time) time.textContent = clock(new Date(time.dateTime));
      const mark = li.querySelector('.corrected');
      if (mark) {
        mark.lang = uiLang();
        mark.textContent = t('watch.corrected');
        mark.title = t('watch.corrected_hint');
      }
    }
  }

  renderAll() {
    this.items.clear();
    const cues = this.lang ? this.store.finals(this.lang) : [];
    const nodes = cues.map((c) => {
      const li = this.item(c);
      this.items.set(c.seq, li);
      return li;
    });
    this.list.replaceChildren(...nodes);
    this.renderPartial();
    this.scrollToEnd();
  }

  final(cue, corrected) {
    const old = this.items.get(cue.seq);
    const li = this.item(cue);
    this.items.set(cue.seq, li);
    if (old) {
      old.replaceWith(li);
      if (corrected) {
        li.classList.add('flash');
        setTimeout(() => li.classList.remove('flash'), 2000);
      }
    } else {
      // finals arrive in seq order, except a late backlog: insert in place
      let before = null;
      for (const [seq, node] of this.items) {
        if (seq > cue.seq && node !== li && node.isConnected) {
          before = node;
          break;
        }
      }
      this.list.insertBefore(li, before);
    }
    this.renderPartial();
    if (this.follow) this.scrollToEnd();
  }

  renderPartial() {
    const p = this.lang ? this.store.partial(this.lang) : null;
    this.partialNode.textContent = p ? p.text : '';
    this.partialNode.hidden = !p;
    this.empty.hidden = this.items.size > 0 || !!p;
    if (this.follow) this.scrollToEnd();
  }

  scrollToEnd() {
    this.scroller.scrollTop = this.scroller.scrollHeight;
  }
}
