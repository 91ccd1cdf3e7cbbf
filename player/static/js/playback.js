// Playback: keeps a WHEP session with the relay from start() to stop()
// (while the page is open and plays over WebRTC, not HLS: media.js). It
// waits while the room is not live, reconnects with backoff after a
// network loss or a relay restart, and reports a state a delegate
// understands:
//
//   connecting   first attempt
//   waiting      the room is not live yet ("waiting for the session to start")
//   paused       connected but no media for a while (the speaker's feed stopped)
//   live         media is flowing
//   reconnecting the relay or the network went away; retrying
//   busy         the relay is at capacity; retrying later
//   unsupported  this browser cannot play the room's codec
//   stopped      stop() was called
//
// It also carries the delegate's selection ({audio, sign, video}: the
// channels and the video layer): the offer is made with it (a reconnect
// keeps it) and select() changes it on the running session, without
// renegotiation. Every few seconds it reads the session's state from the
// relay (an empty /select: the layer auto picked, the bandwidth estimate).
// Events: state, room, session, stats, playing (the relay's /select answer:
// what the tracks carry now, and estimateBps when the relay has one) and
// refused (the relay does not know a selected channel or layer: that part
// of the selection went back to its default).

import { fetchRoom } from './api.js';
import { Backoff } from './backoff.js';
import { sleep } from './dom.js';
import { StatsSampler } from './stats.js';
import { connect } from './whep.js';

export class Playback extends EventTarget {
  constructor({ room, token = '', audioOnly = false }) {
    super();
    this.room = room;
    this.token = token;
    this.audioOnly = audioOnly;
    this.selection = { ...DEFAULTS };
    this.signLine = false; // offer a second video m-line (the room has sign language)
    this.selects = 0; // sequence of /select requests: a late answer is ignored
    this.selecting = 0; // /select changes on their way
    this.polling = false; // a status read is on its way
    this.pollTimer = 0;
    this.state = 'connecting';
    this.detail = '';
    this.session = null;
    this.stats = null;
    this.backoff = new Backoff(500, 10000);
    this.stopped = new AbortController();
    this.active = false; // started and not stopped
    this.running = Promise.resolve(); // the run loop, settled once it ended
    this.restart = null; // AbortController of the current wait or session
    this.quietSamples = 0;
    this.videoWaits = 0;
  }

  /** Starts (again, after stop: the page went back from HLS to WebRTC). */
  start() {
    if (this.active) return;
    this.active = true;
    this.setState('connecting');
    this.stopped = new AbortController();
    const signal = this.stopped.signal;
    // A run that is still closing its session ends first: one at a time.
    this.running = this.running.then(() => this.run(signal));
  }

  /** Leaves the room (page hidden or closed, or the page plays HLS now). */
  stop() {
    this.active = false;
    this.stopped.abort();
    this.restart?.abort();
  }

  /** Switches between audio+video and audio only; reconnects at once. */
  setAudioOnly(on) {
    if (this.audioOnly === on) return;
    this.audioOnly = on;
    this.restart?.abort();
  }

  /**
   * Offers a second video m-line from the next session on (the room has a
   * sign-language channel). With restart, a running session offered
   * without one starts again at once, so that the sign channel can show.
   */
  setSignLine(on, { restart = false } = {}) {
    this.signLine = on;
    const s = this.session;
    if (on && restart && s && !s.sign && !this.audioOnly) this.restart?.abort();
  }

  /**
   * Changes the selection ({audio}, {sign}, {video}: "auto" or a layer's
   * rid, or several). The running session switches at once (POST /select);
   * without one, the next offer carries it.
   */
  select(change) {
    Object.assign(this.selection, change);
    if (this.session) this.sendSelection(this.session, Object.keys(change));
  }

  /**
   * Posts the whole selection to the session (so that the last request
   * holds every change); a newer request or session makes the answer
   * moot. A failed network or a busy relay is tried again a few times
   * (the session may well go on); after that the next session is offered
   * with the selection anyway. changed names the fields a 422 refuses.
   */
  async sendSelection(session, changed) {
    if (!session.location) return;
    const n = ++this.selects;
    const current = () => session === this.session && n === this.selects;
    const body = { ...this.selection };
    const change = Object.fromEntries(changed.map((k) => [k, body[k]]));
    this.selecting++;
    try {
      for (let attempt = 1; ; attempt++) {
        try {
          const answer = await session.select(body, this.stopped.signal);
          if (current()) this.dispatchEvent(new CustomEvent('playing', { detail: answer }));
          return;
        } catch (err) {
          if (!current()) return;
          if (err.status === 422) return this.refuse(change, err.message);
          if (err.status === 404) return this.restart?.abort(); // the relay forgot the session: a new one carries the selection
          const again = !err.status || err.status === 429 || err.status >= 500;
          if (!again || attempt === 3) return;
          await sleep(err.retryAfterMs || 1000 * attempt, this.stopped.signal);
          if (!current()) return;
        }
      }
    } finally {
      this.selecting--;
    }
  }

  /**
   * Reads the running session's state from the relay without changing it
   * (an empty /select) and reports it as a playing event: what auto picked,
   * the bandwidth estimate. Skipped while a change is on its way (its
   * answer says the same); an answer that a change overtook is dropped. A
   * failure waits for the next read.
   */
  async refresh() {
    const session = this.session;
    if (!session?.location || this.polling || this.selecting) return;
    const n = this.selects;
    this.polling = true;
    try {
      const answer = await session.select({}, this.stopped.signal);
      if (session === this.session && n === this.selects && !this.selecting) {
        this.dispatchEvent(new CustomEvent('playing', { detail: answer }));
      }
    } catch {
      // the next read, or the session's end, tells
    } finally {
      this.polling = false;
    }
  }

  /** The relay knows no such channel or layer: back to the default for what it refused. */
  refuse(change, message) {
    for (const k of Object.keys(change)) {
      if (k in DEFAULTS) this.selection[k] = DEFAULTS[k];
    }
    this.dispatchEvent(new CustomEvent('refused', { detail: { change, message } }));
  }

  /**
   * Called with fresh room info: a session that started without video (the
   * publisher's video track came late) reconnects once the room has video.
   */
  checkTracks(info) {
    const s = this.session;
    if (s && !this.audioOnly && s.stream.getVideoTracks().length === 0 && hasKind(info, 'video')) {
      this.restart?.abort();
    }
  }

  setState(state, detail = '') {
    if (state === this.state && detail === this.detail) return;
    this.state = state;
    this.detail = detail;
    this.dispatchEvent(new CustomEvent('state', { detail: { state, detail } }));
  }

  async run(signal) {
    if (signal.aborted) return;
    this.backoff.reset();
    this.setState('connecting');
    while (!signal.aborted) {
      this.restart = new AbortController();
      const wait = AbortSignal.any([signal, this.restart.signal]);
      let info;
      try {
        info = await fetchRoom(this.room, signal);
      } catch {
        if (signal.aborted) break;
        this.setState('reconnecting');
        await sleep(this.backoff.next(), wait);
        continue;
      }
      if (!info || info.state !== 'live') {
        this.setState(info?.state === 'lost' ? 'paused' : 'waiting');
        this.dispatchEvent(new CustomEvent('room', { detail: info }));
        await sleep(2000 + Math.random() * 1000, wait);
        continue;
      }
      this.dispatchEvent(new CustomEvent('room', { detail: info }));
      // A publisher's tracks arrive one by one: give the video a moment so
      // that the session does not start with audio only.
      if (!this.audioOnly && !hasKind(info, 'video') && this.videoWaits++ < 3) {
        await sleep(700, wait);
        continue;
      }
      this.videoWaits = 0;
      let session;
      try {
        session = await connect({
          url: `/whep/${encodeURIComponent(this.room)}`, token: this.token, audioOnly: this.audioOnly,
          floorMix: true, sign: this.signLine, query: { ...this.selection }, signal: wait,
        });
      } catch (err) {
        if (signal.aborted) break;
        if (err.status === 422 && !isDefault(this.selection)) { // a channel or layer the relay does not know (it restarted): the defaults
          this.refuse(nonDefault(this.selection), err.message);
          await sleep(1000, wait);
          continue;
        }
        await this.failed(err, wait);
        continue;
      }
      await this.play(session, wait);
    }
    this.setState('stopped');
  }

  async failed(err, wait) {
    switch (err.status) {
      case 404: // not live after all: the publisher left between the two requests
        this.setState('waiting');
        return sleep(err.retryAfterMs || 2000, wait);
      case 429: // too many offers from this address (a shared venue NAT): wait as told
        this.setState('reconnecting', err.message);
        return sleep(err.retryAfterMs || 5000, wait);
      case 503:
        this.setState('busy', err.message);
        return sleep(err.retryAfterMs || 10000, wait);
      case 406:
      case 415:
        this.setState('unsupported', err.message);
        return sleep(30000, wait);
      default:
        this.setState('reconnecting', err.message || '');
        return sleep(this.backoff.next(), wait);
    }
  }

  /** Runs one session until it ends, then decides how soon to retry. */
  async play(session, wait) {
    this.session = session;
    this.quietSamples = 0;
    this.dispatchEvent(new CustomEvent('session', { detail: session }));
    // The selection changed while the offer was on its way; or read the
    // session's state to learn what the tracks carry now: the booth may be
    // down, auto picked a layer. Then read it every few seconds.
    const changed = Object.keys(DEFAULTS).filter((k) => this.selection[k] !== session.query[k]);
    if (changed.length) this.sendSelection(session, changed);
    else this.refresh();
    this.pollTimer = setInterval(() => this.refresh(), POLL_MS + Math.random() * 1000);
    this.stats = new StatsSampler(session.pc, (s) => this.sampled(s));
    const aborted = new Promise((resolve) => wait.addEventListener('abort', () => resolve('stopped'), { once: true }));
    const why = await Promise.race([session.ended(), aborted]);
    clearInterval(this.pollTimer);
    this.stats.stop();
    this.stats = null;
    this.session = null;
    const userInitiated = why === 'stopped';
    session.close(userInitiated);
    this.dispatchEvent(new CustomEvent('session', { detail: null }));
    if (!userInitiated) {
      this.setState('reconnecting');
      await sleep(this.backoff.next(), wait);
    }
  }

  /** The page saw the media play (faster than the next stats sample). */
  mediaStarted() {
    if (this.session && this.state !== 'live') {
      this.quietSamples = 0;
      this.backoff.reset();
      this.setState('live');
    }
  }

  sampled(s) {
    this.dispatchEvent(new CustomEvent('stats', { detail: s }));
    if (s.flowing) {
      this.quietSamples = 0;
      if (this.state !== 'live') {
        this.backoff.reset();
        this.setState('live');
      }
    } else if (++this.quietSamples >= 3 && this.state === 'live') {
      this.setState('paused');
    }
  }
}

/** The selection the relay gives a session that asks for nothing. */
const DEFAULTS = Object.freeze({ audio: 'floor', sign: '', video: 'auto' });

/** How often a running session's state is read (plus up to a second, so that a room's viewers spread out). */
const POLL_MS = 4500;

function isDefault(sel) {
  return Object.keys(DEFAULTS).every((k) => sel[k] === DEFAULTS[k]);
}

function nonDefault(sel) {
  return Object.fromEntries(Object.keys(DEFAULTS).filter((k) => sel[k] !== DEFAULTS[k]).map((k) => [k, sel[k]]));
}

function hasKind(info, kind) {
  return (info?.tracks || []).some((t) => t.kind === kind);
}
