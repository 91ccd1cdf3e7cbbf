// Sound: the watch page's mute button, volume and "Sound is off" prompt,
// and the browser's autoplay rule: a new source plays with sound when the
// browser lets the page, muted otherwise until the delegate unmutes (a
// gesture). The floor under the interpretation (floormix.js) follows the
// page's volume and mute.

import { $ } from './dom.js';
import { t } from './i18n.js';

export class Sound {
  /**
   * video: the page's <video>; mix: its FloorMix; playing(): something
   * plays (a WebRTC session, or HLS); resumes: a paused video plays again
   * on unmute (live, not a recording the delegate paused).
   */
  constructor({ video, mix, playing, resumes = true }) {
    Object.assign(this, { video, mix, playing, resumes });
    this.userMuted = false; // the delegate chose silence (not the browser's autoplay rule)
    $('#mute').addEventListener('click', () => this.setMuted(!video.muted));
    $('#unmute').addEventListener('click', () => this.setMuted(false));
    $('#volume').addEventListener('input', (e) => {
      video.volume = Number(e.target.value);
      if (video.volume > 0 && video.muted) this.setMuted(false);
      else this.update();
    });
    video.addEventListener('volumechange', () => this.update());
    // Any gesture lets the floor mix's audio start (autoplay rules).
    for (const type of ['pointerdown', 'keydown']) addEventListener(type, () => mix.resume(), { capture: true });
    document.addEventListener('relay:ui', () => this.update());
  }

  /** A new source is on the video: play it, with sound if the browser allows. */
  async start() {
    const video = this.video;
    if (!this.userMuted) {
      video.muted = false;
      try {
        await video.play();
        this.mix.resume();
        return this.update();
      } catch {
        // no sound without a gesture on this browser: fall back to muted
      }
    }
    video.muted = true;
    try {
      await video.play();
    } catch {
      // a newer source replaced this one
    }
    this.update();
  }

  update() {
    const video = this.video;
    this.mix.setOutput({ volume: video.volume, muted: video.muted });
    const muted = video.muted || video.volume === 0;
    const name = muted ? t('watch.unmute') : t('watch.mute');
    $('#mute-label').textContent = name;
    $('#mute').setAttribute('aria-label', name); // the label hides on a phone
    $('#mute').classList.toggle('muted', muted);
    $('#unmute').hidden = !(muted && !this.userMuted && this.playing());
  }

  setMuted(muted) {
    const video = this.video;
    this.userMuted = muted;
    video.muted = muted;
    if (!muted && video.volume === 0) video.volume = 0.5;
    if (video.paused && this.resumes && this.playing()) video.play().catch(() => {});
    if (!muted) this.mix.resume(); // a gesture: the floor mix may start too
    this.update();
  }
}
