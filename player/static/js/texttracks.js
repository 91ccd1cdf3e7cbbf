// TextTracks: mirrors the caption lines as native VTTCues on the video, so
// that the browser's own caption settings, fullscreen captions and assistive
// tools see them. Tracks stay "hidden" (the page draws its own overlay) and
// become "showing" when the page asks for native rendering, e.g. when the
// video element itself is fullscreen.

const LINGER_S = 8; // a line stays this long after its last update

// The browser reads a VTTCue's text as WebVTT cue text, where "<b>" is
// markup and "&amp;" an entity: a caption is plain text, so its markup
// characters are escaped.
const cueText = (s) => s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;');

export class NativeTracks {
  constructor(video, store, labelOf) {
    this.video = video;
    this.store = store;
    this.labelOf = labelOf;
    this.tracks = new Map(); // lang -> TextTrack
    this.current = new Map(); // lang -> {seq, cue}
    this.active = [];
    this.native = false;
    store.addEventListener('final', (e) => this.update(e.detail.lang, e.detail.cue));
    store.addEventListener('partial', (e) => e.detail.cue && this.update(e.detail.lang, e.detail.cue));
  }

  track(lang) {
    let t = this.tracks.get(lang);
    if (!t) {
      t = this.video.addTextTrack('captions', this.labelOf(lang), lang);
      t.mode = 'disabled';
      this.tracks.set(lang, t);
    }
    return t;
  }

  /** Which languages get cues, and whether the browser draws them. */
  setLanguages(langs, native) {
    this.active = langs.filter(Boolean);
    this.native = native;
    for (const l of this.active) this.track(l);
    for (const [lang, t] of this.tracks) {
      const i = this.active.indexOf(lang);
      // the browser draws one track at a time well: the primary language
      t.mode = i < 0 ? 'disabled' : native && i === 0 ? 'showing' : 'hidden';
    }
  }

  update(lang, c) {
    if (!this.active.includes(lang) || !c || !c.text) return;
    const t = this.track(lang);
    const now = this.video.currentTime || 0;
    const cur = this.current.get(lang);
    let start = now;
    if (cur && cur.seq === c.seq) {
      start = cur.cue.startTime;
      t.removeCue(cur.cue); // re-adding redraws reliably where editing text may not
    } else if (cur && cur.cue.endTime > now) {
      cur.cue.endTime = Math.max(cur.cue.startTime + 0.5, now);
    }
    const cue = new VTTCue(start, now + LINGER_S, cueText(c.text));
    t.addCue(cue);
    this.current.set(lang, { seq: c.seq, cue });
  }

  /** A new media stream restarts currentTime at 0: old cues must go. */
  reset() {
    for (const t of this.tracks.values()) {
      for (const cue of [...(t.cues || [])]) t.removeCue(cue);
    }
    this.current.clear();
  }
}
