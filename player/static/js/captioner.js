// Captioner link: the captioner's WebSocket (/captions/{room}/publish).
// Lines typed are kept until the relay acknowledges them (after they are on
// disk); after a reconnect every unacknowledged line is sent again with the
// same id, so the relay stores it once and nothing typed is lost, even
// across a page reload (unacknowledged lines live in localStorage).

import { Backoff } from './backoff.js';

const PARTIAL_MS = 250; // at most four partial updates a second
const KEEP_ACKED = 50; // acknowledged lines shown (and correctable)

function newId() {
  if (crypto.randomUUID) return crypto.randomUUID();
  return Array.from(crypto.getRandomValues(new Uint8Array(16)), (b) => b.toString(16).padStart(2, '0')).join('');
}

export class CaptionerLink extends EventTarget {
  constructor({ room, lang, token, name = '' }) {
    super();
    this.room = room;
    this.lang = lang;
    this.token = token;
    this.name = name;
    this.key = `relay.console.${room}.${lang}`;
    this.lines = this.restore(); // oldest first: {id, text, at, state, seq, error, corrected}
    this.corrections = new Map(); // seq -> text waiting for an ack
    this.ws = null;
    this.state = 'idle';
    this.everOpen = false;
    this.backoff = new Backoff(500, 8000);
    this.partialTimer = null;
    this.partialText = null;
    this.lastPartialAt = 0;
    this.retryTimer = null;
  }

  restore() {
    try {
      const saved = JSON.parse(localStorage.getItem(this.key) || '[]');
      return saved.filter((l) => l && l.id && l.text).map((l) => ({ ...l, state: l.seq ? 'acked' : 'pending' }));
    } catch {
      return [];
    }
  }

  persist() {
    try {
      const keep = this.lines.filter((l) => l.state !== 'acked').concat(this.lines.filter((l) => l.state === 'acked').slice(-KEEP_ACKED));
      keep.sort((a, b) => a.at - b.at);
      localStorage.setItem(this.key, JSON.stringify(keep.map(({ id, text, at, seq, corrected }) => ({ id, text, at, seq, corrected }))));
    } catch {
      // storage unavailable: lines still survive reconnects, not reloads
    }
  }

  pending() {
    return this.lines.filter((l) => l.state === 'pending');
  }

  setState(state, detail = '') {
    this.state = state;
    this.dispatchEvent(new CustomEvent('state', { detail: { state, detail } }));
  }

  changed() {
    this.persist();
    this.dispatchEvent(new CustomEvent('lines'));
  }

  connect() {
    const q = new URLSearchParams({ lang: this.lang, token: this.token });
    if (this.name) q.set('name', this.name);
    const scheme = location.protocol === 'https:' ? 'wss:' : 'ws:';
    const ws = new WebSocket(`${scheme}//${location.host}/captions/${encodeURIComponent(this.room)}/publish?${q}`);
    this.ws = ws;
    let opened = false;
    this.setState(this.everOpen ? 'reconnecting' : 'connecting');
    ws.onopen = () => {
      opened = true;
      this.everOpen = true;
      this.backoff.reset();
      this.setState('open');
      this.resend();
    };
    ws.onmessage = (e) => this.message(e.data);
    ws.onclose = async (e) => {
      if (this.ws !== ws) return;
      this.ws = null;
      if (!opened && !this.everOpen) {
        const why = await this.probe();
        if (why) return this.setState('refused', why);
      }
      // The page words the state; 'rate-limited' says why it waits longer.
      this.setState('reconnecting', e.code === 4029 ? 'rate-limited' : '');
      setTimeout(() => this.connect(), this.backoff.next());
    };
  }

  /**
   * Asks the relay why the socket was refused: a plain GET gets the same
   * token and language checks, then a "not a websocket" 400 when they pass.
   * Returns the reason, or '' when it was not the token or the language.
   */
  async probe() {
    const q = new URLSearchParams({ lang: this.lang, token: this.token });
    try {
      const res = await fetch(`/captions/${encodeURIComponent(this.room)}/publish?${q}`, { cache: 'no-store' });
      const text = (await res.text()).trim();
      if (res.status === 401 || res.status === 403 || (res.status === 400 && !/websocket/i.test(text))) {
        return text || `HTTP ${res.status}`;
      }
    } catch {
      // the relay is away: keep retrying
    }
    return '';
  }

  send(obj) {
    if (!this.ws || this.ws.readyState !== WebSocket.OPEN) return false;
    this.ws.send(JSON.stringify(obj));
    return true;
  }

  /** Sends every unacknowledged line and correction again, oldest first. */
  resend() {
    clearTimeout(this.retryTimer);
    for (const l of this.pending()) this.send({ type: 'final', id: l.id, text: l.text });
    for (const [seq, text] of this.corrections) this.send({ type: 'correct', seq, text });
  }

  /** The line being typed; sent at most every PARTIAL_MS, the last one always. */
  partial(text) {
    this.partialText = text;
    if (this.partialTimer) return;
    const wait = Math.max(0, this.lastPartialAt + PARTIAL_MS - performance.now());
    this.partialTimer = setTimeout(() => {
      this.partialTimer = null;
      if (this.partialText === null) return;
      this.lastPartialAt = performance.now();
      this.send({ type: 'partial', text: this.partialText });
      this.partialText = null;
    }, wait);
  }

  cancelPartial() {
    clearTimeout(this.partialTimer);
    this.partialTimer = null;
    this.partialText = null;
  }

  /** Commits a final line; returns its id. */
  commit(text) {
    this.cancelPartial();
    const line = { id: newId(), text, at: Date.now(), state: 'pending' };
    this.lines.push(line);
    this.changed();
    this.send({ type: 'final', id: line.id, text });
    return line.id;
  }

  /** Corrects an acknowledged line. */
  correct(id, text) {
    const line = this.lines.find((l) => l.id === id);
    if (!line || !line.seq || !text || text === line.text) return;
    line.correcting = text;
    line.error = '';
    this.corrections.set(line.seq, text);
    this.changed();
    this.send({ type: 'correct', seq: line.seq, text });
  }

  /** Gives up on a line the relay refused for good. */
  discard(id) {
    this.lines = this.lines.filter((l) => l.id !== id);
    this.changed();
  }

  retry(id) {
    const line = this.lines.find((l) => l.id === id);
    if (!line) return;
    line.state = 'pending';
    line.error = '';
    this.changed();
    this.send({ type: 'final', id: line.id, text: line.text });
  }

  message(data) {
    let m;
    try {
      m = JSON.parse(data);
    } catch {
      return;
    }
    if (m.type === 'ack') this.ack(m);
    else if (m.type === 'error') this.error(m);
    else if (m.type === 'status') this.dispatchEvent(new CustomEvent('status', { detail: m }));
  }

  ack(m) {
    if (m.id) {
      const line = this.lines.find((l) => l.id === m.id);
      if (line) {
        line.state = 'acked';
        line.seq = m.seq;
        line.error = '';
      }
    } else if (this.corrections.has(m.seq)) {
      const text = this.corrections.get(m.seq);
      this.corrections.delete(m.seq);
      const line = this.lines.find((l) => l.seq === m.seq);
      if (line) {
        line.text = text;
        line.corrected = true;
        delete line.correcting;
      }
    }
    this.trim();
    this.changed();
  }

  error(m) {
    if (m.id) {
      const line = this.lines.find((l) => l.id === m.id);
      if (line && line.state === 'pending') {
        line.state = 'error';
        line.error = m.error;
        line.errorKind = 'line';
        this.changed();
        return;
      }
    }
    if (m.seq && this.corrections.has(m.seq)) {
      const line = this.lines.find((l) => l.seq === m.seq);
      if (/retry/i.test(m.error)) {
        this.retryTimer = setTimeout(() => this.resend(), 500);
        return;
      }
      this.corrections.delete(m.seq);
      if (line) {
        delete line.correcting;
        line.error = m.error; // the relay's reason; the page says it was a correction
        line.errorKind = 'correction';
      }
      this.changed();
      return;
    }
    // not tied to a line (e.g. the rate limit dropped a message): send what is
    // still unacknowledged again in a moment; ids make that safe
    this.dispatchEvent(new CustomEvent('notice', { detail: m.error }));
    clearTimeout(this.retryTimer);
    this.retryTimer = setTimeout(() => this.resend(), 1000);
  }

  trim() {
    const acked = this.lines.filter((l) => l.state === 'acked');
    if (acked.length <= KEEP_ACKED) return;
    const drop = new Set(acked.slice(0, acked.length - KEEP_ACKED).map((l) => l.id));
    this.lines = this.lines.filter((l) => !drop.has(l.id));
  }
}
