// HLSPlay: plays a room's LL-HLS (/hls/{room}/index.m3u8), or a recording
// (VOD), into the page's <video>: through hls.js (the vendored ES module)
// wherever the browser has Media Source Extensions, through the browser's
// own HLS where it has none (an older iPhone). hls.js everywhere else, even
// where canPlayType says "maybe" (Chromium has a built-in HLS player now):
// it gives the page the audio tracks, subtitle tracks, levels and the
// playing date that the Language and Quality menus and the latency need.
//
// One language at a time: the audio track of the channel (the floor when
// the HLS has no track of it) and a subtitle track, "hidden" (its cues are
// in the video's text tracks; the page draws them) or "showing" (the
// browser draws them). A live room is waited for while it is off air and
// played again after a failure; a recording plays once, with seeking.
// Events: state (connecting, waiting, live, reconnecting, unsupported,
// stopped), attached (a source is on the video: the page starts playback),
// levels, tracks.

import { Backoff } from './backoff.js';
import { sleep } from './dom.js';

const MIME = 'application/vnd.apple.mpegurl';

// hls.js (600 KB) is fetched the first time HLS plays, not with every
// watch page: most delegates play WebRTC.
let hlsModule = null;
const loadHls = () => (hlsModule ??= import('../vendor/hls/hls.min.mjs').then((m) => m.default));
const hasMSE = () => 'MediaSource' in globalThis || 'ManagedMediaSource' in globalThis;

export class HLSPlay extends EventTarget {
  /**
   * video: the page's <video>; url: the multivariant playlist (with the
   * viewer token of a private room); live: a room on air rather than a
   * recording; onAir(signal): whether the room is on air now (true, false,
   * or throws when the relay does not answer), so that a room off air is
   * not asked for its playlist.
   */
  constructor({ video, url, live = true, onAir = null }) {
    super();
    Object.assign(this, { video, url, live, onAir });
    this.engine = hasMSE() ? 'hls.js' : video.canPlayType(MIME) ? 'native' : '';
    this.state = 'connecting';
    this.hls = null; // the hls.js instance of the current attempt
    this.audio = 'floor'; // the channel wanted
    this.subtitles = null; // the caption language wanted
    this.showing = false; // the browser draws the subtitles
    this.level = 'auto'; // "auto", or a picture height
    this.stopped = null;
    this.backoff = new Backoff(1000, 10000);
  }

  start() {
    if (this.stopped && !this.stopped.signal.aborted) return;
    this.stopped = new AbortController();
    this.run(this.stopped.signal);
  }

  stop() {
    this.stopped?.abort();
  }

  setState(state) {
    if (state === this.state) return;
    this.state = state;
    this.dispatchEvent(new CustomEvent('state', { detail: { state } }));
  }

  async run(signal) {
    if (!this.engine) return this.setState('unsupported');
    this.setState('connecting');
    while (!signal.aborted) {
      if (this.live && this.onAir) {
        let on;
        try {
          on = await this.onAir(signal);
        } catch {
          if (signal.aborted) break;
          this.setState('reconnecting');
          await sleep(this.backoff.next(), signal);
          continue;
        }
        if (!on) {
          this.setState('waiting');
          await sleep(2000 + Math.random() * 1000, signal);
          continue;
        }
      }
      let Hls = null;
      if (this.engine === 'hls.js') {
        try {
          Hls = await loadHls();
        } catch {
          hlsModule = null; // try the download again next time
        }
        if (!Hls?.isSupported()) {
          if (signal.aborted) break;
          if (Hls) return this.setState('unsupported');
          this.setState('reconnecting');
          await sleep(this.backoff.next(), signal);
          continue;
        }
      }
      const why = await (this.engine === 'native' ? this.native(signal) : this.hlsjs(Hls, signal));
      if (signal.aborted) break;
      this.setState(why === 'ended' ? 'waiting' : 'reconnecting');
      await sleep(why === 'ended' ? 1000 : this.backoff.next(), signal);
    }
    this.setState('stopped');
  }

  /** One hls.js attempt: resolves with why it ended ("error", "ended", "stopped"). */
  hlsjs(Hls, signal) {
    return new Promise((resolve) => {
      const hls = new Hls({
        enableWorker: false, // the page's CSP allows no worker from a blob
        lowLatencyMode: this.live,
        backBufferLength: this.live ? 30 : Infinity,
        audioPreference: this.audio !== 'floor' ? { lang: this.audio } : undefined,
        subtitlePreference: this.subtitles ? { lang: this.subtitles } : undefined,
      });
      this.hls = hls;
      const E = Hls.Events;
      let recoveries = 0;
      // hls.js picks its own tracks right after these events: ours after it.
      const later = (f) => () => setTimeout(() => this.hls === hls && f());
      hls.on(E.MANIFEST_PARSED, later(() => {
        this.applyAudio();
        this.applySubtitles();
        this.applyLevel();
        this.dispatchEvent(new Event('levels'));
      }));
      hls.on(E.AUDIO_TRACKS_UPDATED, later(() => this.applyAudio()));
      hls.on(E.SUBTITLE_TRACKS_UPDATED, later(() => this.applySubtitles()));
      // Said once hls.js is done with the switch: its text track comes just after.
      const tracks = later(() => this.dispatchEvent(new Event('tracks')));
      hls.on(E.AUDIO_TRACK_SWITCHED, tracks);
      hls.on(E.SUBTITLE_TRACK_SWITCH, tracks);
      hls.on(E.LEVEL_SWITCHED, () => this.dispatchEvent(new Event('levels')));
      hls.on(E.ERROR, (_, data) => {
        if (!data.fatal) return;
        if (data.type === Hls.ErrorTypes.MEDIA_ERROR && recoveries++ < 3) {
          hls.recoverMediaError();
          return;
        }
        finish('error');
      });
      const finish = this.watch(signal, resolve, () => {
        hls.destroy();
        if (this.hls === hls) this.hls = null;
      });
      this.video.srcObject = null; // a WebRTC stream would win over the source
      hls.attachMedia(this.video);
      hls.loadSource(this.url);
      this.dispatchEvent(new Event('attached'));
    });
  }

  /** One attempt with the browser's own HLS. */
  native(signal) {
    return new Promise((resolve) => {
      const v = this.video;
      const tracks = () => {
        this.applyAudio();
        this.applySubtitles();
      };
      const error = () => finish('error');
      v.addEventListener('loadedmetadata', tracks);
      v.audioTracks?.addEventListener('addtrack', tracks);
      v.textTracks.addEventListener('addtrack', tracks);
      v.addEventListener('error', error);
      const finish = this.watch(signal, resolve, () => {
        v.removeEventListener('loadedmetadata', tracks);
        v.audioTracks?.removeEventListener('addtrack', tracks);
        v.textTracks.removeEventListener('addtrack', tracks);
        v.removeEventListener('error', error);
        v.removeAttribute('src');
        v.load();
      });
      v.srcObject = null;
      v.src = this.url;
      this.dispatchEvent(new Event('attached'));
    });
  }

  /**
   * What an attempt shares: "live" once the video plays (a recording: once
   * it can, so that its controls show even where autoplay is refused), the
   * end of a live stream, the stop; returns finish(why), which cleans up
   * once.
   */
  watch(signal, resolve, cleanup) {
    const v = this.video;
    const ready = this.live ? 'playing' : 'canplay';
    const playing = () => {
      this.backoff.reset();
      this.setState('live');
    };
    const ended = () => this.live && finish('ended');
    const stop = () => finish('stopped');
    let done = false;
    const finish = (why) => {
      if (done) return;
      done = true;
      v.removeEventListener(ready, playing);
      v.removeEventListener('ended', ended);
      signal.removeEventListener('abort', stop);
      cleanup();
      resolve(why);
    };
    v.addEventListener(ready, playing);
    v.addEventListener('ended', ended);
    signal.addEventListener('abort', stop, { once: true });
    return finish;
  }

  /** The channel to hear: its audio track, else the floor's. */
  setAudio(lang) {
    this.audio = lang || 'floor';
    this.applyAudio();
  }

  /** The subtitles of lang (null: none); showing, the browser draws them. */
  setSubtitles(lang, showing = false) {
    this.subtitles = lang || null;
    this.showing = showing;
    this.applySubtitles();
  }

  /** "auto", or the level of that picture height. */
  setLevel(level) {
    this.level = level;
    this.applyLevel();
  }

  applyAudio() {
    const pick = (list, langOf) => {
      const i = list.findIndex((t) => this.audio !== 'floor' && langOf(t) === this.audio);
      return i >= 0 ? i : list.findIndex((t) => !langOf(t));
    };
    if (this.hls) {
      const i = pick(this.hls.audioTracks, (t) => t.lang || '');
      if (i >= 0 && i !== this.hls.audioTrack) this.hls.audioTrack = i;
      return;
    }
    const list = [...(this.video.audioTracks || [])];
    const i = pick(list, (t) => t.language);
    if (i >= 0) list.forEach((t, j) => { t.enabled = j === i; });
  }

  applySubtitles() {
    if (this.hls) {
      const i = this.subtitles ? this.hls.subtitleTracks.findIndex((t) => t.lang === this.subtitles) : -1;
      this.hls.subtitleDisplay = this.showing;
      if (i !== this.hls.subtitleTrack) this.hls.subtitleTrack = i;
      return;
    }
    for (const t of this.video.textTracks) {
      if (t.kind !== 'subtitles') continue; // the page's own tracks are "captions"
      t.mode = t.language !== this.subtitles ? 'disabled' : this.showing ? 'showing' : 'hidden';
    }
  }

  applyLevel() {
    const hls = this.hls;
    if (!hls) return;
    const i = this.level === 'auto' ? -1 : hls.levels.findIndex((l) => String(l.height) === String(this.level));
    if (hls.autoLevelEnabled && i === -1) return;
    hls.nextLevel = i;
  }

  /** The levels by picture height, best first, and the one playing: {heights, height}. */
  levels() {
    const hls = this.hls;
    if (!hls) return { heights: [], height: 0 };
    const heights = [...new Set(hls.levels.map((l) => l.height).filter(Boolean))].sort((a, b) => b - a);
    return { heights, height: hls.levels[hls.currentLevel]?.height || 0 };
  }

  /** The subtitle text track the HLS brings (not the page's own), or null. */
  subtitleTrack() {
    if (this.hls) {
      const t = this.hls.subtitleTracks[this.hls.subtitleTrack];
      return t?.trackNode?.track || null;
    }
    return [...this.video.textTracks].find((t) => t.kind === 'subtitles' && t.language === this.subtitles) || null;
  }

  /** What plays, for the page's read-only debug object. */
  info() {
    const hls = this.hls;
    const audio = hls ? hls.audioTracks[hls.audioTrack] : [...(this.video.audioTracks || [])].find((t) => t.enabled);
    const subtitles = this.subtitleTrack();
    const date = hls ? hls.playingDate : this.video.getStartDate?.();
    const at = date && Number.isFinite(date.getTime()) ? date.getTime() + (hls ? 0 : this.video.currentTime * 1000) : 0;
    return {
      engine: this.engine,
      state: this.state,
      audioTrackLang: audio ? audio.lang ?? audio.language ?? '' : null,
      subtitleLang: subtitles ? subtitles.language || null : null,
      playingDate: at, // ms since the epoch of the picture on screen (0: unknown)
      latency: hls && this.live ? hls.latency : 0,
    };
  }
}
