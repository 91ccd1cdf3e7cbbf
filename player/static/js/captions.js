// Captions: the viewer side of the caption WebSocket
// (/captions/{room}/ws?lang=a,b). It reconnects with backoff after a network
// loss or a relay restart (the backlog it gets back fills any gap) and
// reconnects at once when the languages change.

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
    this.backoff = new Backoff(500, 10000);
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

  reconnect(delay) {
    clearTimeout(this.timer);
    this.timer = null;
    if (this.ws) {
      const old = this.ws;
      this.ws = null;
      old.onclose = old.onmessage = old.onerror = old.onopen = null;
      old.close(1000);
    }
    if (!this.langs.length) return this.setState('idle');
    this.timer = setTimeout(() => this.open(), delay);
  }

  open() {
    this.timer = null;
    const q = new URLSearchParams({ lang: this.langs.join(',') });
    if (this.token) q.set('token', this.token);
    const scheme = location.protocol === 'https:' ? 'wss:' : 'ws:';
    const ws = new WebSocket(`${scheme}//${location.host}/captions/${encodeURIComponent(this.room)}/ws?${q}`);
    this.ws = ws;
    this.setState('connecting');
    ws.onopen = () => {
      this.backoff.reset();
      this.setState('open');
    };
    ws.onmessage = (e) => this.message(e.data);
    ws.onclose = () => {
      if (this.ws !== ws) return;
      this.ws = null;
      this.setState('reconnecting');
      this.reconnect(this.backoff.next());
    };
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
