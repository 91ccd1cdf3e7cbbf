// RoomFeed: the monitor's live data from /api/rooms/events (server-sent
// events), read with fetch rather than EventSource. A browser's EventSource
// gives up for good after one refused answer (429 or 503 while the relay's
// monitor streams are full), hides the status and Retry-After, and cannot
// send the admin token in a header (which keeps it out of URLs and logs).
// The feed reconnects after any failure (a refusal, a network error, the
// stream ending, a silent stream) with exponential backoff and jitter, and
// no sooner than the relay's Retry-After. Its 'state' events give a reason
// code (why) and the HTTP status, which the page puts in words.

import { Backoff, retryAfter } from './backoff.js';

const SILENCE_MS = 10000; // the relay sends a snapshot a second

export class RoomFeed extends EventTarget {
  constructor(url = '/api/rooms/events') {
    super();
    this.url = url;
    this.token = '';
    this.ctrl = null; // the attempt in progress
    this.timer = null; // the next attempt, while waiting
    this.backoff = new Backoff(1000, 15000);
    addEventListener('online', () => {
      if (this.timer) this.start(this.token); // the network is back: no need to wait
    });
    // A page left for another (and maybe kept in the back/forward cache)
    // gives its stream back: the relay has few of them.
    addEventListener('pagehide', () => this.stop());
    addEventListener('pageshow', (ev) => {
      if (ev.persisted) this.start(this.token);
    });
  }

  /** Closes the stream and stops reconnecting. */
  stop() {
    clearTimeout(this.timer);
    this.timer = null;
    const old = this.ctrl;
    this.ctrl = null;
    old?.abort();
  }

  /**
   * Connects now, with token ('' for none), dropping any stream or wait in
   * progress: a new token must not wait out a backoff.
   */
  start(token = '') {
    this.token = token;
    this.backoff.reset();
    this.stop();
    this.run();
  }

  state(detail) {
    this.dispatchEvent(new CustomEvent('state', { detail }));
  }

  async run() {
    const ctrl = new AbortController();
    this.ctrl = ctrl;
    this.state({ state: 'connecting' });
    let why;
    let status;
    let delay;
    try {
      const headers = this.token ? { Authorization: `Bearer ${this.token}` } : {};
      const resp = await fetch(this.url, { headers, cache: 'no-store', signal: ctrl.signal });
      if (this.ctrl !== ctrl) { // replaced by start() meanwhile: its token is not this one's
        resp.body?.cancel().catch(() => {});
        return;
      }
      if ((resp.status === 401 || resp.status === 403) && this.token) {
        // The stream goes on without the token; the page says it was refused.
        resp.body?.cancel().catch(() => {});
        this.token = '';
        this.dispatchEvent(new CustomEvent('refused', { detail: resp.status }));
        [why, status, delay] = ['token-refused', resp.status, 0];
      } else if (!resp.ok) {
        resp.body?.cancel().catch(() => {});
        const busy = resp.status === 429 || resp.status === 503;
        const wait = retryAfter(resp, 0);
        // Jitter on Retry-After too, so that refused pages do not return together.
        [why, status, delay] = [busy ? 'busy' : 'refused', resp.status,
          Math.max(this.backoff.next(), wait + Math.random() * 0.2 * wait)];
      } else {
        await this.read(resp.body, ctrl);
        [why, delay] = ['ended', this.backoff.next()];
      }
    } catch {
      if (this.ctrl !== ctrl) return; // replaced by start()
      [why, delay] = [ctrl.signal.aborted ? 'no-data' : 'unreachable', this.backoff.next()];
    }
    if (this.ctrl !== ctrl) return;
    this.ctrl = null;
    this.state({ state: 'reconnecting', why, status, at: Date.now() + delay });
    this.timer = setTimeout(() => {
      this.timer = null;
      this.run();
    }, delay);
  }

  // read parses the event stream until it ends; a stream silent for
  // SILENCE_MS is aborted (a dead connection may never say so).
  async read(body, ctrl) {
    const reader = body.pipeThrough(new TextDecoderStream()).getReader();
    let watchdog = setTimeout(() => ctrl.abort(), SILENCE_MS);
    let buf = '';
    let event = { type: 'message', data: [] };
    try {
      for (;;) {
        const { value, done } = await reader.read();
        if (done) return;
        clearTimeout(watchdog);
        watchdog = setTimeout(() => ctrl.abort(), SILENCE_MS);
        buf += value;
        const lines = buf.split(/\r\n|\r|\n/);
        buf = lines.pop(); // an incomplete last line waits for more
        for (const line of lines) {
          if (line === '') {
            if (event.data.length) this.dispatch(event.type, event.data.join('\n'));
            event = { type: 'message', data: [] };
            continue;
          }
          const i = line.indexOf(':');
          if (i === 0) continue; // a comment
          const field = i < 0 ? line : line.slice(0, i);
          const val = i < 0 ? '' : line.slice(i + 1).replace(/^ /, '');
          if (field === 'event') event.type = val;
          else if (field === 'data') event.data.push(val);
        }
      }
    } finally {
      clearTimeout(watchdog);
      reader.cancel().catch(() => {});
    }
  }

  dispatch(type, data) {
    if (type !== 'rooms') return;
    let snapshot;
    try {
      snapshot = JSON.parse(data);
    } catch {
      return;
    }
    this.backoff.reset(); // a working stream: the next failure starts from the minimum
    this.state({ state: 'ok', admin: Boolean(this.token) });
    this.dispatchEvent(new CustomEvent('snapshot', { detail: snapshot }));
  }
}
