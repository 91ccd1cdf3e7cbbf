// Booth: the interpreter's channel on air. Publishes the microphone (and
// the camera of a sign-language interpreter) over WHIP to the room's
// channel, reconnects after a dropped link, mutes the sent audio while the
// cough key is held, and notices a handover: the relay gives the channel to
// a partner's console when its first media arrives and closes this one.
//
// States:
//
//   off          not publishing ("Off air")
//   connecting   going on air
//   on           on air: the relay receives this console's media
//   reconnecting the link dropped; going on air again
//   handed-over  a partner took the channel over; this console stays off
//   refused      the relay refused the token (detail says why)
//   error        the relay did not accept the stream (detail says why)

import { Backoff } from './backoff.js';
import { sleep } from './dom.js';
import { publish } from './whip.js';

// A poll that started this long after the session connected reflects it:
// the relay hands the channel over at the session's first packet.
const SETTLED_MS = 1000;

export class Booth extends EventTarget {
  constructor({ room, lang, token }) {
    super();
    this.room = room;
    this.lang = lang;
    this.token = token;
    this.state = 'off';
    this.detail = '';
    this.session = null;
    this.stream = null; // what is sent: clones of the local tracks
    this.coughing = false;
    this.connectedAt = 0; // performance.now() when the session connected
    this.tag = ''; // the relay's public name for this console's session
    this.channel = null; // the last /api/rooms entry of the channel
    this.stopper = null;
    this.handover = null; // resolves when the relay gave the channel away
    this.backoff = new Backoff(1000, 10000);
  }

  setState(state, detail = '') {
    if (state === this.state && detail === this.detail) return;
    this.state = state;
    this.detail = detail;
    this.dispatchEvent(new CustomEvent('state', { detail: { state, detail } }));
  }

  /** True while the console wants to be on air. */
  get active() {
    return !!this.stopper && !this.stopper.signal.aborted;
  }

  /** Goes on air with tracks (a partner on air now is taken over). */
  goOnAir(tracks) {
    if (this.active) return;
    this.stream = new MediaStream(tracks.map((t) => t.clone()));
    this.applyCough();
    this.stopper = new AbortController();
    this.tag = '';
    this.backoff.reset();
    this.run(this.stopper.signal, this.stream);
  }

  /** Leaves the air: the session is ended with a WHIP DELETE. */
  goOffAir() {
    if (!this.active) return;
    this.stopper.abort();
    this.setState('off');
  }

  /** Holds (true) or releases (false) the cough key: the sent audio is silent meanwhile. */
  cough(on) {
    this.coughing = on;
    this.applyCough();
  }

  applyCough() {
    for (const t of this.stream?.getAudioTracks() || []) t.enabled = !this.coughing;
  }

  /** Swaps a sent track for another of the same kind (a device change on air). */
  async replace(track) {
    if (!this.stream) return;
    const old = this.stream.getTracks().find((t) => t.kind === track.kind);
    if (!old) return;
    const copy = track.clone();
    this.stream.removeTrack(old);
    this.stream.addTrack(copy);
    this.applyCough();
    const sender = this.session?.pc.getSenders().find((s) => s.track === old);
    if (sender) await sender.replaceTrack(copy);
    old.stop();
  }

  /**
   * Called with each /api/rooms reading of the channel (null when the room
   * lists none) and when its request started.
   */
  observe(channel, startedAt) {
    this.channel = channel;
    if (this.state !== 'on' || !channel?.live || !channel.interpreter) return;
    if (!this.tag) {
      if (startedAt - this.connectedAt >= SETTLED_MS) {
        this.tag = channel.interpreter;
        this.dispatchEvent(new CustomEvent('tag', { detail: this.tag }));
      }
    } else if (channel.interpreter !== this.tag) {
      this.handover?.resolve('handed-over');
    }
  }

  /** Whether the channel now belongs to another console. */
  takenBySomeoneElse() {
    const ch = this.channel;
    return !!(ch?.live && ch.interpreter && ch.interpreter !== this.tag);
  }

  async run(signal, stream) {
    const url = `/whip/${encodeURIComponent(this.room)}?lang=${encodeURIComponent(this.lang)}`;
    while (!signal.aborted) {
      this.setState(this.backoff.attempt ? 'reconnecting' : 'connecting');
      let session;
      try {
        session = await publish({ url, token: this.token, stream, signal });
      } catch (err) {
        if (signal.aborted) break;
        if (err.status === 401 || err.status === 403) return this.end(stream, 'refused', err.message);
        if ([400, 406, 415, 422].includes(err.status)) return this.end(stream, 'error', err.message);
        this.setState('reconnecting', err.message);
        await sleep(err.retryAfterMs || this.backoff.next(), signal);
        continue;
      }
      const why = await this.onAir(session, signal);
      if (why === 'stopped') break;
      if (why === 'handed-over' || (await this.wasHandedOver(signal))) return this.end(stream, 'handed-over');
      this.setState('reconnecting');
      await sleep(this.backoff.next(), signal);
    }
    this.release(stream);
  }

  /** Runs one session until it ends; resolves why. */
  async onAir(session, signal) {
    this.session = session;
    let resolve;
    this.handover = new Promise((r) => { resolve = r; });
    this.handover.resolve = resolve;
    const pc = session.pc;
    const connected = () => {
      if (pc.connectionState === 'connected' && this.state !== 'on') {
        this.connectedAt = performance.now();
        this.backoff.reset();
        this.setState('on');
      }
    };
    pc.addEventListener('connectionstatechange', connected);
    connected();
    const aborted = new Promise((r) => signal.addEventListener('abort', () => r('stopped'), { once: true }));
    const why = await Promise.race([session.ended(), aborted, this.handover]);
    pc.removeEventListener('connectionstatechange', connected);
    this.session = null;
    this.handover = null;
    // A DELETE after a handover would find nothing: the relay closed the session.
    session.close(why === 'stopped');
    return why;
  }

  /**
   * After the session ended by itself: the relay closes the session it
   * hands the channel away from, so a channel that is live with another
   * interpreter means a handover, not a dropped link. The channel listing
   * may lag by a poll: look for up to two seconds. Without this session's
   * own tag, only a channel still live after the relay would have noticed
   * a dropped booth (1.5 s) tells.
   */
  async wasHandedOver(signal) {
    if (!this.tag) {
      await sleep(2500, signal);
      return !signal.aborted && !!this.channel?.live;
    }
    for (let i = 0; i < 8 && !signal.aborted; i++) {
      if (this.takenBySomeoneElse()) return true;
      if (this.channel && !this.channel.live) return false;
      await sleep(250, signal);
    }
    return this.takenBySomeoneElse();
  }

  end(stream, state, detail = '') {
    this.stopper?.abort();
    this.release(stream);
    this.setState(state, detail);
  }

  /** Stops the tracks one run sent (a newer run has its own). */
  release(stream) {
    stream.getTracks().forEach((t) => t.stop());
    if (this.stream === stream) this.stream = null;
  }
}
