// Level meter: the peak level of a microphone track, read with a WebAudio
// AnalyserNode and drawn as a bar with a dB figure. Nothing is decoded or
// sent: the meter only looks at the local track.

import { num, t } from './i18n.js';

const FLOOR_DB = -60; // the bar's empty end

/** Shows track's level on meter (role="meter"), its bar and its dB label. */
export class LevelMeter {
  constructor(track, { meter, bar, label }) {
    this.meter = meter;
    this.bar = bar;
    this.label = label;
    this.ctx = new AudioContext();
    this.analyser = this.ctx.createAnalyser();
    this.analyser.fftSize = 1024;
    this.ctx.createMediaStreamSource(new MediaStream([track])).connect(this.analyser);
    this.buf = new Float32Array(this.analyser.fftSize);
    this.held = FLOOR_DB; // the peak shown, falling back slowly
    this.running = true;
    this.tick = this.tick.bind(this);
    requestAnimationFrame(this.tick);
  }

  /**
   * An AudioContext made before any user gesture starts suspended: the page
   * calls this from its first click or key press.
   */
  resume() {
    if (this.ctx.state === 'suspended') this.ctx.resume().catch(() => {});
  }

  /** The peak of the last analyser window in dBFS (FLOOR_DB at most quiet). */
  read() {
    this.analyser.getFloatTimeDomainData(this.buf);
    let peak = 0;
    for (const v of this.buf) peak = Math.max(peak, Math.abs(v));
    return peak > 0 ? Math.max(FLOOR_DB, 20 * Math.log10(peak)) : FLOOR_DB;
  }

  tick() {
    if (!this.running) return;
    const db = this.read();
    // A quick rise and a slow fall, as a booth's meter does.
    this.held = db > this.held ? db : Math.max(db, this.held - 1.2);
    this.bar.style.transform = `scaleX(${((this.held - FLOOR_DB) / -FLOOR_DB).toFixed(3)})`;
    // Worded each frame: a new interface language shows at the next one.
    const text = this.held <= FLOOR_DB ? t('interpret.meter_silent') : t('interpret.meter_db', { db: num(Math.round(this.held)) });
    if (this.label.textContent !== text) {
      this.label.textContent = text;
      this.meter.setAttribute('aria-valuenow', String(Math.round(this.held)));
      this.meter.setAttribute('aria-valuetext', text);
    }
    requestAnimationFrame(this.tick);
  }

  close() {
    this.running = false;
    this.ctx.close().catch(() => {});
  }
}
