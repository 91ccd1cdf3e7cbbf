// Media: how the watch page plays: WebRTC (playback.js, the lowest
// latency) or HLS (hlsplay.js, a few seconds behind live, through any
// network that lets the page load). The delegate's setting chooses; when
// WebRTC cannot play a live room for FALLBACK_MS (no connection, however
// it is tried, TURN included), the page falls back to HLS by itself and
// stays there until the delegate asks for low latency again. A recording
// plays over HLS only. To language.js and quality.js this is the
// playback: select(), session, audioOnly, refresh().
// Events: state ({state, mode}, of the one playing now), mode ({mode,
// fellBack}), attached (an HLS source is on the video), levels and tracks
// (HLS: its levels, or its audio or subtitle track, changed).

import { fetchRoom } from './api.js';
import { HLSPlay } from './hlsplay.js';

export const WEBRTC = 'webrtc';
export const HLS = 'hls';

/** How long WebRTC may try to play a live room before HLS takes over. */
const FALLBACK_MS = 10000;

/** WebRTC states in which it is trying to play, not waiting for the room. */
const TRYING = ['connecting', 'reconnecting', 'busy', 'unsupported'];

export class Media extends EventTarget {
  /**
   * playback: the page's WebRTC Playback (null on a recording's page);
   * video: the page's <video>; mode: the one wanted; recording: a
   * recording's id (then its HLS only, no room to wait for).
   */
  constructor({ room, token = '', video, playback = null, mode = WEBRTC, recording = '' }) {
    super();
    Object.assign(this, { room, token, video, webrtc: playback, recording });
    this.want = recording ? HLS : mode;
    this.mode = null; // WEBRTC or HLS once started
    this.fellBack = false; // HLS because WebRTC did not play
    this.hls = null; // the HLSPlay while on HLS
    this.audio = 'floor'; // the channel selected (HLS follows it)
    this.subtitles = [null, false]; // [caption language, browser draws it] (HLS)
    this.level = 'auto'; // the HLS level selected
    this.timer = 0;
    playback?.addEventListener('state', (e) => {
      if (this.mode !== WEBRTC) return; // a stopped run says "stopped" late
      this.emitState(e.detail.state);
      this.arm();
    });
  }

  start() {
    this.use(this.want);
  }

  stop() {
    clearTimeout(this.timer);
    this.webrtc?.stop();
    this.hls?.stop();
  }

  /** The delegate's setting: WEBRTC or HLS. */
  setMode(mode) {
    this.want = mode;
    this.fellBack = false;
    this.use(mode);
  }

  get state() {
    return (this.mode === HLS ? this.hls?.state : this.webrtc?.state) || 'connecting';
  }

  use(mode) {
    if (mode === this.mode || (mode === WEBRTC && !this.webrtc)) return;
    clearTimeout(this.timer);
    this.timer = 0;
    this.mode = mode;
    if (mode === HLS) {
      this.webrtc?.stop();
      this.hls = this.newHLS();
      this.hls.start();
    } else {
      this.hls?.stop();
      this.hls = null;
      this.webrtc.start();
      this.arm();
    }
    this.dispatchEvent(new CustomEvent('mode', { detail: { mode, fellBack: this.fellBack } }));
    this.emitState(this.state);
  }

  newHLS() {
    const q = this.token ? `?token=${encodeURIComponent(this.token)}` : '';
    const room = encodeURIComponent(this.room);
    const url = this.recording ? `/recordings/${room}/${encodeURIComponent(this.recording)}/index.m3u8${q}` : `/hls/${room}/index.m3u8${q}`;
    const onAir = async (signal) => (await fetchRoom(this.room, signal))?.state === 'live';
    const hls = new HLSPlay({ video: this.video, url, live: !this.recording, onAir });
    hls.setAudio(this.audio);
    hls.setSubtitles(...this.subtitles);
    hls.setLevel(this.level);
    hls.addEventListener('state', (e) => this.hls === hls && this.emitState(e.detail.state));
    for (const type of ['attached', 'levels', 'tracks']) {
      hls.addEventListener(type, () => this.hls === hls && this.dispatchEvent(new Event(type)));
    }
    return hls;
  }

  emitState(state) {
    this.dispatchEvent(new CustomEvent('state', { detail: { state, mode: this.mode } }));
  }

  /** While WebRTC tries to play, the fallback's clock runs. */
  arm() {
    if (this.mode !== WEBRTC || !TRYING.includes(this.webrtc.state)) {
      clearTimeout(this.timer);
      this.timer = 0;
      return;
    }
    this.timer ||= setTimeout(() => this.fallBack(), FALLBACK_MS);
  }

  /** WebRTC did not play in time: HLS, if the room is live (the relay answers, so HLS can play). */
  async fallBack() {
    this.timer = 0;
    let live = false;
    try {
      live = (await fetchRoom(this.room))?.state === 'live';
    } catch {
      // the relay is away: HLS would not play either
    }
    if (this.mode !== WEBRTC || !TRYING.includes(this.webrtc.state)) return;
    if (!live) return this.arm();
    this.fellBack = true;
    this.use(HLS);
  }

  // ---- the playback to language.js and quality.js --------------------------

  /**
   * {audio}: the channel, for both; {level}: the HLS level ("auto" or a
   * height); the rest ({video}: a simulcast layer) is WebRTC's, kept for
   * its next session while HLS plays.
   */
  select(change) {
    const { level, ...rest } = change;
    if ('audio' in change) {
      this.audio = change.audio;
      this.hls?.setAudio(change.audio);
    }
    if (level !== undefined) {
      this.level = level;
      this.hls?.setLevel(level);
    }
    if (this.webrtc && Object.keys(rest).length) this.webrtc.select(rest);
  }

  /** The caption language whose HLS subtitle track is selected; showing, the browser draws it. */
  setSubtitles(lang, showing = false) {
    this.subtitles = [lang, showing];
    this.hls?.setSubtitles(lang, showing);
  }

  /** Something plays (a WebRTC session, or HLS playing). */
  get session() {
    if (this.mode === HLS) return this.hls?.state === 'live' ? this.hls : null;
    return this.webrtc?.session || null;
  }

  /** HLS has no audio-only variant: the picture comes with it. */
  get audioOnly() {
    return this.mode === WEBRTC && this.webrtc.audioOnly;
  }

  refresh() {
    if (this.mode === WEBRTC) this.webrtc.refresh();
  }

  /** The HLS levels: {heights, height}. */
  levels() {
    return this.hls ? this.hls.levels() : { heights: [], height: 0 };
  }

  /** A small read-only picture of what plays, for tests and support. */
  debug() {
    return { mode: this.mode, fellBack: this.fellBack, ...(this.hls ? this.hls.info() : {}) };
  }
}
