// Caption live region: the caption lines said to screen readers, politely.
//
// What is said, and why: only FINAL lines, of the first caption language
// only, only while captions are on. Partials change several times a second
// and a screen reader would restart on each; a second language would say
// everything twice; with captions off the delegate asked for silence. A
// correction is not said again (the transcript shows it). The region
// carries the caption language (lang, dir) so that the screen reader
// speaks it with the right voice. The drawn overlay is aria-hidden: this
// region replaces it for assistive technology.

import { dir } from './langs.js';

const KEEP = 3; // lines left in the region: a queued announcement is not cut off

export class CaptionAnnouncer {
  /** store: the page's CueStore; region: a visually hidden aria-live="polite" element. */
  constructor(store, region) {
    this.region = region;
    this.lang = null;
    store.addEventListener('final', (e) => {
      const { lang, cue, isNew } = e.detail;
      if (isNew && lang === this.lang && cue?.text) this.say(cue.text);
    });
  }

  /** Says the finals of lang from now on; null says nothing. */
  setLanguage(lang) {
    if (lang === this.lang) return;
    this.lang = lang;
    this.region.replaceChildren();
    if (!lang) return;
    this.region.lang = lang;
    this.region.dir = dir(lang);
  }

  say(text) {
    const line = document.createElement('p');
    line.textContent = text;
    this.region.append(line);
    while (this.region.childElementCount > KEEP) this.region.firstElementChild.remove();
  }
}
