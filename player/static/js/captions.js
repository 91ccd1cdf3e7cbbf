// Captions: the viewer side of the caption WebSocket
// (/captions/{room}/ws?lang=a,b). It reconnects with backoff after a network
// loss or a relay restart (the backlog it gets back fills any gap) and
// reconnects at once when the languages change.
//
// The relay refuses a socket before the upgrade for a language the room does
// not have (404) or over its socket caps (429, 503), and the browser shows
// the page none of it, only a failed socket, and logs an error each time. So
// a socket is opened only for languages /api/rooms offers (a captioner may
// not have started yet), and a socket that fails to open while the relay
// answers waits longer (a cap) than one that fails while the relay is away.

import { fetchRoom, roomLanguages } from './api.js';
import { Backoff } from './backoff.js';

export class CaptionFeed extends EventTarget {
  constructor({ room, token = '' }) {
    super();
    this.room = room;
    this.token = token;
    this.langs = [];
    this.ws = null;
    this.timer = null;
    this.state = 'idle';
    this.backoff = new Backoff(500, 10000); // after a network loss
    this.slow = new Backoff(1000, 30000); // refused, or not offered yet
  }

  /** Follows exactly these languages (none closes the socket). */
  setLanguages(langs) {
    const next = [...new Set(langs.filter(Boolean))];
    if (next.join(',') === this.langs.join(',') && (this.ws || this.timer)) return;
    this.langs = next;
    this.reconnect(0);
  }

  close() {
    this.langs = [];
    this.reconnect(0);
  }

  setState(state) {
    if (state === this.state) return;
    this.state = state;
    this.dispatchEvent(new CustomEvent('state', { detail: state }));
  }

  /** Opens the socket after delay (check: only once the room offers the languages). */
  reconnect(delay, check = true) {
    clearTimeout(this.timer);
    this.timer = null;
    if (this.ws) {
      const old = this.ws;
      this.ws = null;
      old.onclose = old.onmessage = old.onerror = old.onopen = null;
      old.close(1000);
    }
    if (!this.langs.length) return this.setState('idle');
    this.timer = setTimeout(() => (check ? this.openIfOffered() : this.open()), delay);
  }

  /** The languages the room offers, or null when the relay does not answer. */
  async offered() {
    try {
      return roomLanguages(await fetchRoom(this.room));
    } catch {
      return null;
    }
  }

  async openIfOffered() {
    this.timer = null;
    const key = this.langs.join(',');
    const offered = await this.offered();
    if (this.ws || this.timer || key !== this.langs.join(',')) return; // superseded meanwhile
    if (offered && !this.langs.every((l) => offered.includes(l))) {
      this.setState('waiting'); // no socket until a captioner starts
      this.reconnect(this.slow.next());
      return;
    }
    this.open(); // offered, or the relay is away: the socket tells
  }

  open() {
    this.timer = null;
    const q = new URLSearchParams({ lang: this.langs.join(',') });
    if (this.token) q.set('token', this.token);
    const scheme = location.protocol === 'https:' ? 'wss:' : 'ws:';
    const ws = new WebSocket(`${scheme}//${location.host}/captions/${encodeURIComponent(this.room)}/ws?${q}`);
    this.ws = ws;
    let opened = false;
    this.setState('connecting');
    ws.onopen = () => {
      opened = true;
      this.backoff.reset();
      this.slow.reset();
      this.setState('open');
    };
    ws.onmessage = (e) => this.message(e.data);
    ws.onclose = () => {
      if (this.ws !== ws) return;
      this.ws = null;
      this.setState('reconnecting');
      if (opened) return this.reconnect(this.backoff.next(), false);
      this.afterFailure();
    };
  }

  /**
   * A socket that never opened: the relay is away (the usual backoff), or
   * it refused the socket (wait longer, and open none while the room does
   * not offer the languages).
   */
  async afterFailure() {
    const key = this.langs.join(',');
    const offered = await this.offered();
    if (this.ws || this.timer || key !== this.langs.join(',')) return; // superseded meanwhile
    if (offered === null) return this.reconnect(this.backoff.next(), false);
    this.reconnect(Math.max(this.backoff.next(), this.slow.next()));
  }

  message(data) {
    let m;
    try {
      m = JSON.parse(data);
    } catch {
      return;
    }
    if (m.type === 'backlog') {
      this.dispatchEvent(new CustomEvent('backlog', { detail: { lang: m.lang, cues: m.cues || [] } }));
    } else if (m.type === 'cue') {
      this.dispatchEvent(new CustomEvent('cue', { detail: m }));
    }
  }
}
