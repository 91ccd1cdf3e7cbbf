// WHEP: one playback session with the relay (RFC 9725 style, non-trickle).
// The offer is sent once every ICE candidate is gathered. Before it, OPTIONS
// asks the relay for its ICE servers (its built-in TURN server, as Link
// headers): a delegate whose network lets only TLS on 443 out gets in
// through TURNS; everyone else keeps the direct path, which ICE prefers.

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

/**
 * The relay's ICE servers for url (a WHIP or WHEP endpoint), from the Link
 * headers of OPTIONS (RFC 9725 §4.6); [] when it has none or cannot say
 * (the session then goes without TURN rather than not at all).
 */
export async function iceServers(url, token, signal) {
  const headers = {};
  if (token) headers.Authorization = `Bearer ${token}`;
  try {
    const res = await fetch(url, { method: 'OPTIONS', headers, signal });
    if (!res.ok) return [];
    return parseICELinks(res.headers.get('Link') || '');
  } catch (err) {
    if (signal?.aborted) throw err;
    return [];
  }
}

/**
 * The RTCPeerConnection configuration for a session with url: the relay's
 * ICE servers; with ?ice=relay in the page's URL, TURN only (the AV
 * team's check that the TURN path works from a given network).
 */
export async function rtcConfig(url, token, signal) {
  const config = { bundlePolicy: 'max-bundle', iceServers: await iceServers(url, token, signal) };
  if (new URLSearchParams(location.search).get('ice') === 'relay') config.iceTransportPolicy = 'relay';
  return config;
}

/** The rel="ice-server" links of a Link header value, as RTCIceServer. */
export function parseICELinks(value) {
  const out = [];
  for (const link of splitUnquoted(value, ',')) {
    const m = /^\s*<([^>]*)>(.*)$/s.exec(link);
    if (!m || !/^(stuns?|turns?):/.test(m[1])) continue;
    const params = {};
    for (const p of splitUnquoted(m[2], ';')) {
      const eq = p.indexOf('=');
      if (eq < 0) continue;
      params[p.slice(0, eq).trim().toLowerCase()] = p.slice(eq + 1).trim().replace(/^"(.*)"$/s, '$1');
    }
    if (params.rel !== 'ice-server') continue;
    const server = { urls: m[1] };
    if (params.username) Object.assign(server, { username: params.username, credential: params.credential || '' });
    out.push(server);
  }
  return out;
}

function splitUnquoted(s, sep) {
  const out = [];
  let quoted = false;
  let start = 0;
  for (let i = 0; i < s.length; i++) {
    if (s[i] === '"') quoted = !quoted;
    else if (s[i] === sep && !quoted) {
      out.push(s.slice(start, i));
      start = i + 1;
    }
  }
  out.push(s.slice(start));
  return out;
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
  const pc = new RTCPeerConnection(await rtcConfig(url, token, signal));
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
