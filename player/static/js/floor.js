// Floor: the interpreter hears the room's floor over WHEP with the
// interpreter token, for as long as the console is open, and learns how
// late it hears it. States:
//
//   connecting   first attempt
//   waiting      the floor is not live yet
//   live         media is flowing
//   reconnecting the link dropped or the relay is away; retrying
//   refused      the relay refused the token (it says why in detail)

import { fetchRoom } from './api.js';
import { Backoff } from './backoff.js';
import { sleep } from './dom.js';
import { connect } from './whep.js';

export class FloorLink extends EventTarget {
  constructor({ room, token }) {
    super();
    this.room = room;
    this.token = token;
    this.state = '';
    this.detail = '';
    this.session = null;
    this.backoff = new Backoff(500, 10000);
    this.stopped = new AbortController();
    this.timer = null;
    this.prev = null; // the last stats reading
  }

  start() {
    this.run();
  }

  stop() {
    this.stopped.abort();
  }

  setState(state, detail = '') {
    if (state === this.state && detail === this.detail) return;
    this.state = state;
    this.detail = detail;
    this.dispatchEvent(new CustomEvent('state', { detail: { state, detail } }));
  }

  async run() {
    const signal = this.stopped.signal;
    this.setState('connecting');
    while (!signal.aborted) {
      // Ask the room list first: an offer to a room that is not live
      // would only be refused (404), and logged by the browser each time.
      let info;
      try {
        info = await fetchRoom(this.room, signal);
      } catch {
        if (signal.aborted) break;
        this.setState('reconnecting');
        await sleep(this.backoff.next(), signal);
        continue;
      }
      if (info?.state !== 'live') {
        this.setState('waiting');
        await sleep(2000 + Math.random() * 1000, signal);
        continue;
      }
      let session;
      try {
        session = await connect({ url: `/whep/${encodeURIComponent(this.room)}`, token: this.token, signal });
      } catch (err) {
        if (signal.aborted) break;
        await this.failed(err, signal);
        continue;
      }
      await this.listen(session, signal);
    }
    this.setState('stopped');
  }

  async failed(err, signal) {
    switch (err.status) {
      case 401:
      case 403:
        this.setState('refused', err.message);
        return sleep(15000, signal);
      case 404: // the floor stopped between the two requests
        this.setState('waiting');
        return sleep(err.retryAfterMs || 2000, signal);
      case 429:
      case 503:
        this.setState('reconnecting', err.message);
        return sleep(err.retryAfterMs || 5000, signal);
      default:
        this.setState('reconnecting', err.message || '');
        return sleep(this.backoff.next(), signal);
    }
  }

  /** Plays one session until it ends. */
  async listen(session, signal) {
    this.session = session;
    this.prev = null;
    this.dispatchEvent(new CustomEvent('session', { detail: session }));
    this.timer = setInterval(() => this.sample(), 1000);
    this.sample();
    const aborted = new Promise((resolve) => signal.addEventListener('abort', () => resolve('stopped'), { once: true }));
    const why = await Promise.race([session.ended(), aborted]);
    clearInterval(this.timer);
    this.session = null;
    session.close(why === 'stopped');
    this.dispatchEvent(new CustomEvent('session', { detail: null }));
    this.dispatchEvent(new CustomEvent('delay', { detail: null }));
    if (why !== 'stopped') {
      this.setState('reconnecting');
      await sleep(this.backoff.next(), signal);
    }
  }

  /** The page saw the floor play: live without waiting for the next reading. */
  mediaStarted() {
    if (this.session && this.state !== 'live') {
      this.backoff.reset();
      this.setState('live');
    }
  }

  /**
   * Reads the audio's delay: the jitter buffer's mean delay over the last
   * second (jitterBufferDelay / jitterBufferEmittedCount, both counted since
   * the start, so their differences) plus half the round trip.
   */
  async sample() {
    const pc = this.session?.pc;
    if (!pc) return;
    let report;
    try {
      report = await pc.getStats();
    } catch {
      return; // closed meanwhile
    }
    let audio = null;
    let pairId = null;
    report.forEach((s) => {
      if (s.type === 'inbound-rtp' && s.kind === 'audio') audio = s;
      else if (s.type === 'transport' && s.selectedCandidatePairId) pairId = s.selectedCandidatePairId;
    });
    const pair = pairId ? report.get(pairId) : null;
    const rtt = pair?.currentRoundTripTime;
    const cur = { bytes: audio?.bytesReceived || 0, jb: audio?.jitterBufferDelay || 0, n: audio?.jitterBufferEmittedCount || 0 };
    const prev = this.prev;
    this.prev = cur;
    if (!prev) return;
    if (cur.bytes > prev.bytes) {
      this.backoff.reset();
      this.setState('live');
    } else if (this.state === 'live') {
      this.setState('waiting');
    }
    const dn = cur.n - prev.n;
    if (dn <= 0) return;
    const jbMs = ((cur.jb - prev.jb) / dn) * 1000;
    const delayMs = jbMs + (typeof rtt === 'number' ? (rtt * 1000) / 2 : 0);
    this.dispatchEvent(new CustomEvent('delay', { detail: { delayMs, jitterMs: jbMs, rttMs: typeof rtt === 'number' ? rtt * 1000 : null } }));
  }
}
