// WHEP: one playback session with the relay (RFC 9725 style, non-trickle).
// The offer is sent once every ICE candidate is gathered; no STUN server is
// used: the relay answers with its own candidates.

export class HTTPError extends Error {
  constructor(status, message, retryAfterMs) {
    super(message || `HTTP ${status}`);
    this.status = status;
    this.retryAfterMs = retryAfterMs;
  }
}

/** Waits until pc has gathered its candidates, or ms have passed. */
export function gathered(pc, ms = 3000) {
  if (pc.iceGatheringState === 'complete') return Promise.resolve();
  return new Promise((resolve) => {
    const t = setTimeout(done, ms);
    function check() {
      if (pc.iceGatheringState === 'complete') done();
    }
    function done() {
      clearTimeout(t);
      pc.removeEventListener('icegatheringstatechange', check);
      resolve();
    }
    pc.addEventListener('icegatheringstatechange', check);
  });
}

/** Posts an SDP offer; returns {answer, location} or throws HTTPError. */
export async function postOffer(url, sdp, token, signal) {
  const headers = { 'Content-Type': 'application/sdp' };
  if (token) headers.Authorization = `Bearer ${token}`;
  const res = await fetch(url, { method: 'POST', headers, body: sdp, signal });
  const body = await res.text();
  if (res.status !== 201) {
    const s = Number(res.headers.get('Retry-After'));
    throw new HTTPError(res.status, body.trim(), Number.isFinite(s) && s > 0 ? s * 1000 : 0);
  }
  const loc = res.headers.get('Location');
  return { answer: body, location: loc ? new URL(loc, new URL(url, location.href)).href : null };
}

/**
 * A WHEP or WHIP session: its peer connection and the relay's Location.
 * A WHEP session also has stream (audio #1 and video #1: what the page
 * plays), floor (audio #2: the floor under the interpretation, when
 * offered) and sign (video #2: the sign-language channel, when offered).
 */
export class Session {
  constructor(pc, stream, location, { floor = null, sign = null, query = {} } = {}) {
    this.pc = pc;
    this.stream = stream;
    this.location = location;
    this.floor = floor;
    this.sign = sign;
    this.query = query; // the selection the offer was made with
  }

  /**
   * Changes the channels the session carries, without renegotiation
   * (POST {session}/select): body is {audio, sign, video}, any of them;
   * {} changes nothing and reads the session's state. Resolves with the
   * relay's answer ({audio, sign, video, playing, estimateBps?}) or throws
   * HTTPError.
   */
  async select(body, signal) {
    const res = await fetch(`${this.location}/select`, {
      method: 'POST',
      headers: { 'Content-Type': 'application/json' },
      body: JSON.stringify(body),
      signal,
    });
    const text = await res.text();
    if (!res.ok) {
      const s = Number(res.headers.get('Retry-After'));
      throw new HTTPError(res.status, text.trim(), Number.isFinite(s) && s > 0 ? s * 1000 : 0);
    }
    return JSON.parse(text);
  }

  /**
   * Resolves when the session is over: the peer connection failed or was
   * closed by the relay, or stayed disconnected for graceMs.
   */
  ended(graceMs = 3000) {
    const pc = this.pc;
    return new Promise((resolve) => {
      let timer = null;
      const check = () => {
        const st = pc.connectionState;
        if (st === 'failed' || st === 'closed') return finish(st);
        if (st === 'disconnected') {
          timer ??= setTimeout(() => finish('disconnected'), graceMs);
        } else if (timer) {
          clearTimeout(timer);
          timer = null;
        }
      };
      const finish = (why) => {
        clearTimeout(timer);
        pc.removeEventListener('connectionstatechange', check);
        resolve(why);
      };
      this.abort = () => finish('stopped');
      pc.addEventListener('connectionstatechange', check);
      check();
    });
  }

  /** Ends the session; hangUp tells the relay (DELETE) when it still listens. */
  close(hangUp) {
    this.abort?.();
    if (hangUp && this.location) {
      fetch(this.location, { method: 'DELETE', keepalive: true }).catch(() => {});
    }
    this.pc.close();
  }
}

/**
 * Starts a recvonly session. The offer's m-lines, in the relay's order:
 * audio #1 (the selected channel); audio #2 when floorMix (the floor while
 * audio #1 carries an interpreter); video #1 unless audioOnly; video #2 when
 * sign (the sign-language channel). query ({audio, sign, video}) is the
 * selection the relay starts the session with; defaults are left out of
 * the URL.
 */
export async function connect({ url, token, audioOnly = false, floorMix = false, sign = false, query = {}, signal }) {
  const pc = new RTCPeerConnection({ bundlePolicy: 'max-bundle' });
  const stream = new MediaStream();
  const floor = floorMix ? new MediaStream() : null;
  const signStream = sign && !audioOnly ? new MediaStream() : null;
  try {
    const recv = (kind) => pc.addTransceiver(kind, { direction: 'recvonly' });
    recv('audio');
    const audio2 = floor ? recv('audio') : null;
    if (!audioOnly) recv('video');
    const video2 = signStream ? recv('video') : null;
    pc.addEventListener('track', (e) => {
      if (e.transceiver === audio2) floor.addTrack(e.track);
      else if (e.transceiver === video2) signStream.addTrack(e.track);
      else stream.addTrack(e.track);
    });
    await pc.setLocalDescription(await pc.createOffer());
    await gathered(pc);
    const { answer, location } = await postOffer(withQuery(url, query), pc.localDescription.sdp, token, signal);
    await pc.setRemoteDescription({ type: 'answer', sdp: answer });
    return new Session(pc, stream, location, { floor, sign: signStream, query: { ...query } });
  } catch (err) {
    pc.close();
    throw err;
  }
}

/** url with ?audio=fr&sign=ase&video=m: only what differs from the relay's defaults. */
function withQuery(url, { audio, sign, video } = {}) {
  const q = new URLSearchParams();
  if (audio && audio !== 'floor') q.set('audio', audio);
  if (sign) q.set('sign', sign);
  if (video && video !== 'auto') q.set('video', video);
  const s = q.toString();
  return s ? `${url}${url.includes('?') ? '&' : '?'}${s}` : url;
}
