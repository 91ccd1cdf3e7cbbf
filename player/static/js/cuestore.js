// CueStore: what is known of each language's captions: the finals by seq
// (corrections replace text in place) and the line being typed (partial).

const MAX_FINALS = 2000; // per language kept in the page; downloads have all

export class CueStore extends EventTarget {
  constructor() {
    super();
    this.langs = new Map();
  }

  lang(lang) {
    let l = this.langs.get(lang);
    if (!l) {
      l = { finals: new Map(), partial: null, lastSeq: 0, touched: 0 };
      this.langs.set(lang, l);
    }
    return l;
  }

  /** A backlog message: recent finals, possibly ones already known. */
  backlog(lang, cues) {
    const l = this.lang(lang);
    for (const c of cues) this.put(l, { ...c, lang, final: true });
    if (l.partial && l.partial.seq <= l.lastSeq) l.partial = null;
    this.trim(l);
    this.dispatchEvent(new CustomEvent('reset', { detail: { lang } }));
  }

  /** A live cue message: a partial line, a new final or a correction. */
  apply(cue) {
    const l = this.lang(cue.lang);
    l.touched = performance.now();
    if (cue.final) {
      const { isNew, corrected } = this.put(l, cue);
      if (l.partial && l.partial.seq <= cue.seq) l.partial = null;
      this.trim(l);
      this.dispatchEvent(new CustomEvent('final', { detail: { lang: cue.lang, cue: l.finals.get(cue.seq), isNew, corrected } }));
      return;
    }
    if (l.finals.has(cue.seq) || cue.seq <= l.lastSeq) return; // stale partial
    l.partial = cue.text ? cue : null;
    this.dispatchEvent(new CustomEvent('partial', { detail: { lang: cue.lang, cue: l.partial } }));
  }

  put(l, cue) {
    const old = l.finals.get(cue.seq);
    if (old) {
      if (old.text === cue.text) return { isNew: false, corrected: false };
      l.finals.set(cue.seq, { ...old, ...cue, corrected: true });
      return { isNew: false, corrected: true };
    }
    l.finals.set(cue.seq, { ...cue });
    if (cue.seq > l.lastSeq) {
      l.lastSeq = cue.seq;
    } else {
      // an older line arrived late (backlog after a reconnect): keep seq order
      l.finals = new Map([...l.finals.entries()].sort((a, b) => a[0] - b[0]));
    }
    return { isNew: true, corrected: false };
  }

  trim(l) {
    while (l.finals.size > MAX_FINALS) l.finals.delete(l.finals.keys().next().value);
  }

  /** Forgets the lines being typed (the socket dropped: they are stale). */
  clearPartials() {
    for (const [lang, l] of this.langs) {
      if (!l.partial) continue;
      l.partial = null;
      this.dispatchEvent(new CustomEvent('partial', { detail: { lang, cue: null } }));
    }
  }

  /** Every kept final of lang, oldest first. */
  finals(lang) {
    return [...this.lang(lang).finals.values()];
  }

  partial(lang) {
    return this.lang(lang).partial;
  }

  /** The newest n finals of lang. */
  latest(lang, n) {
    const all = this.lang(lang).finals;
    return [...all.values()].slice(-n);
  }
}
