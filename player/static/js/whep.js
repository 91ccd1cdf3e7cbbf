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

/** A WHEP or WHIP session: its peer connection and the relay's Location. */
export class Session {
  constructor(pc, stream, location) {
    this.pc = pc;
    this.stream = stream;
    this.location = location;
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

/** Starts a recvonly session: video (unless audioOnly) and audio. */
export async function connect({ url, token, audioOnly, signal }) {
  const pc = new RTCPeerConnection({ bundlePolicy: 'max-bundle' });
  const stream = new MediaStream();
  pc.addEventListener('track', (e) => stream.addTrack(e.track));
  try {
    if (!audioOnly) pc.addTransceiver('video', { direction: 'recvonly' });
    pc.addTransceiver('audio', { direction: 'recvonly' });
    await pc.setLocalDescription(await pc.createOffer());
    await gathered(pc);
    const { answer, location } = await postOffer(url, pc.localDescription.sdp, token, signal);
    await pc.setRemoteDescription({ type: 'answer', sdp: answer });
    return new Session(pc, stream, location);
  } catch (err) {
    pc.close();
    throw err;
  }
}
