// Overlay: the caption lines drawn over the video (and in the captioner's
// preview): for each shown language the last committed line and the line
// being typed, roll-up style. A committed line leaves after HOLD_MS.

import { el } from './dom.js';
import { dir } from './langs.js';

const HOLD_MS = 10000;
const LINES = 2;

export class CaptionOverlay {
  /** blocks: [{node, lang}] for the primary and optional secondary language. */
  constructor(store, primaryNode, secondaryNode = null) {
    this.store = store;
    this.blocks = [{ node: primaryNode, lang: null }];
    if (secondaryNode) this.blocks.push({ node: secondaryNode, lang: null });
    this.seenAt = new Map(); // "lang/seq" -> when the final arrived here
    this.timer = null;
    store.addEventListener('final', (e) => this.note(e.detail.lang, e.detail.cue));
    store.addEventListener('partial', (e) => this.changed(e.detail.lang));
    store.addEventListener('reset', (e) => {
      const last = store.latest(e.detail.lang, 1)[0];
      if (last && !this.seenAt.has(`${e.detail.lang}/${last.seq}`)) this.note(e.detail.lang, last);
      else this.changed(e.detail.lang);
    });
  }

  /** Shows these languages (secondary may be null). */
  setLanguages(primary, secondary = null) {
    this.blocks[0].lang = primary;
    if (this.blocks[1]) this.blocks[1].lang = secondary;
    this.render();
  }

  note(lang, cue) {
    if (!cue) return;
    const key = `${lang}/${cue.seq}`;
    if (!this.seenAt.has(key) || cue.corrected) this.seenAt.set(key, performance.now());
    if (this.seenAt.size > 400) {
      const old = [...this.seenAt.keys()].slice(0, 200);
      for (const k of old) this.seenAt.delete(k);
    }
    this.changed(lang);
  }

  changed(lang) {
    if (this.blocks.some((b) => b.lang === lang)) this.render();
  }

  lines(lang) {
    const now = performance.now();
    const out = [];
    for (const c of this.store.latest(lang, LINES)) {
      const at = this.seenAt.get(`${lang}/${c.seq}`);
      if (at !== undefined && now - at < HOLD_MS) out.push({ text: c.text, at, partial: false });
    }
    const p = this.store.partial(lang);
    if (p) out.push({ text: p.text, at: now, partial: true });
    return out.slice(-LINES);
  }

  render() {
    clearTimeout(this.timer);
    let nextExpiry = Infinity;
    for (const b of this.blocks) {
      const lines = b.lang ? this.lines(b.lang) : [];
      b.node.replaceChildren(...lines.map((l) => el('div', { class: l.partial ? 'line partial' : 'line' }, el('span', {}, l.text))));
      b.node.hidden = lines.length === 0;
      if (b.lang) {
        b.node.lang = b.lang;
        b.node.dir = dir(b.lang);
      }
      for (const l of lines) if (!l.partial) nextExpiry = Math.min(nextExpiry, l.at + HOLD_MS);
    }
    if (nextExpiry < Infinity) this.timer = setTimeout(() => this.render(), Math.max(50, nextExpiry - performance.now() + 20));
  }
}
