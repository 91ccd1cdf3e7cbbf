// Floor mix: the floor, quietly, under the interpreter. The relay's second
// audio m-line carries the floor while the first carries a booth (and is
// silent otherwise); a WebAudio GainNode plays it at level (0 = off, at
// most MAX) times the page's volume, and not at all while the page is
// muted. The audio graph is made only once the level is above zero. The
// delegate sets the level with a slider (percent), remembered in prefs.

import { num, t } from './i18n.js';
import { load, save } from './prefs.js';

export const MAX = 0.5;

export class FloorMix {
  constructor() {
    this.level = 0;
    this.volume = 1;
    this.muted = true;
    this.track = null;
    this.ctx = null;
    this.gain = null;
    this.source = null;
    this.sink = null; // a muted element that makes Chromium pull the remote track
  }

  /** The floor track of the current session (null between sessions). */
  setTrack(track) {
    if (track === this.track) return;
    this.track = track;
    this.source?.disconnect();
    this.source = null;
    if (this.sink) this.sink.srcObject = null;
    this.update();
  }

  /** The floor's level under the interpretation, 0 to MAX. */
  setLevel(level) {
    this.level = Math.min(MAX, Math.max(0, level));
    this.update();
  }

  /** Follows the page's volume (0 to 1) and mute. */
  setOutput({ volume, muted }) {
    this.volume = volume;
    this.muted = muted;
    this.update();
  }

  /**
   * Drives the level from a range input (0 to 50, percent) and shows it in
   * output (in the interface language, again when it changes); the last
   * level is remembered.
   */
  bindSlider(input, output) {
    const show = () => {
      const pct = Math.round(this.level * 100);
      const text = pct ? num(pct / 100, { style: 'percent' }) : t('watch.floor_mix_off');
      input.value = String(pct);
      input.setAttribute('aria-valuetext', text);
      output.textContent = text;
    };
    this.setLevel((Number(load('floorMix', 0)) || 0) / 100);
    show();
    document.addEventListener('relay:ui', show);
    input.addEventListener('input', () => {
      const pct = Number(input.value);
      save('floorMix', pct);
      this.setLevel(pct / 100);
      this.resume(); // the slider moved: a gesture, audio may start
      show();
    });
  }

  /** Lets the audio start after a user gesture (autoplay rules). */
  resume() {
    if (this.ctx?.state === 'suspended') this.ctx.resume().catch(() => {});
  }

  /** The gain applied now: what a delegate hears of the floor. */
  get value() {
    return this.muted ? 0 : this.level * this.volume;
  }

  update() {
    const value = this.value;
    if (value > 0 && this.track) this.build();
    if (!this.gain) return;
    this.gain.gain.setTargetAtTime(value, this.ctx.currentTime, 0.05);
  }

  build() {
    if (!this.ctx) {
      this.ctx = new AudioContext();
      this.gain = new GainNode(this.ctx, { gain: 0 });
      this.gain.connect(this.ctx.destination);
      this.sink = new Audio();
      this.sink.muted = true;
    }
    if (!this.source) {
      const stream = new MediaStream([this.track]);
      this.sink.srcObject = stream;
      this.sink.play().catch(() => {});
      this.source = this.ctx.createMediaStreamSource(stream);
      this.source.connect(this.gain);
    }
    this.resume();
  }
}
