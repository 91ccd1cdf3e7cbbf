// Quality: the watch page's video quality menu. "Auto" lets the relay pick
// the room's simulcast layer for this viewer's link and says which one it
// carries now ("Auto · 720p"; on a phone, where the menu shares a line
// with the Language menu, "Auto" with the layer in its tooltip); each
// layer, by its picture height, pins that one. The menu shows only while
// the room sends two layers or more. It keeps the playback's video
// selection in line ({"video": "auto"} or the layer's rid); the delegate's
// choice is remembered. Over HLS (media.js) the menu lists the HLS levels
// instead, Auto (hls.js picks by the measured throughput) and each level
// by its height, remembered apart from the WebRTC layer.

import { announce } from './dom.js';
import { num, t } from './i18n.js';
import { fillMenu } from './menu.js';
import { load, save } from './prefs.js';

export const AUTO = 'auto';

export class QualityChoice {
  /**
   * playback: the page's Media (media.js); select: the menu; field: what
   * hides with it; picture: the player's video element (its height says
   * what plays when the relay does not).
   */
  constructor({ playback, select, field, picture }) {
    Object.assign(this, { playback, select, field, picture });
    this.want = load('video', AUTO); // the delegate's choice
    this.video = AUTO; // the selection the playback has
    this.layers = []; // the room's layers flowing now, best first: {rid, width, height, bitrate}
    this.heights = new Map(); // rid -> height, of every layer seen (one that paused keeps its name)
    this.playing = { video: '', height: 0 }; // what the relay says the video carries now
    this.hls = null; // over HLS: {heights, height} of its levels
    this.hlsWant = load('hlsVideo', AUTO); // the delegate's HLS level (a height)
    this.hlsVideo = AUTO; // the HLS level selected
    this.narrow = matchMedia('(max-width: 600px)'); // the phone layout of watch.css
    this.narrow.addEventListener('change', () => this.render());
    select.addEventListener('change', () => this.pick(select.value));
    document.addEventListener('relay:ui', () => this.render());
    picture.addEventListener('resize', () => {
      this.render();
      if (this.video === AUTO) playback.refresh(); // auto moved: learn which layer it is
    });
  }

  /** The room's layers, from fresh room info. */
  setLayers(layers) {
    this.layers = (layers || []).filter((l) => typeof l.rid === 'string');
    for (const l of this.layers) if (l.height) this.heights.set(l.rid, l.height);
    this.reconcile();
  }

  /** What the relay's /select answer says the video carries. */
  setPlaying(playing) {
    this.playing = { video: playing?.video || '', height: playing?.height || 0 };
    this.render();
  }

  /** The relay does not know the layer (it restarted): auto until fresh room info lists it again. */
  refused(rid) {
    this.layers = this.layers.filter((l) => l.rid !== rid);
    this.video = AUTO;
    this.reconcile();
  }

  /** Over HLS, its levels ({heights, height}); null: back to the WebRTC layers. */
  setHLS(levels) {
    this.hls = levels;
    if (levels) this.reconcileHLS();
    else this.render();
  }

  reconcileHLS() {
    const video = this.hls.heights.some((h) => String(h) === String(this.hlsWant)) ? String(this.hlsWant) : AUTO;
    if (video !== this.hlsVideo) {
      this.hlsVideo = video;
      this.playback.select({ level: video });
    }
    this.render();
  }

  /** The delegate picks an entry of the menu. */
  pick(value) {
    if (this.hls) {
      this.hlsWant = value;
      save('hlsVideo', value);
      this.reconcileHLS();
    } else {
      this.want = value;
      save('video', value);
      this.reconcile();
    }
    announce(value === AUTO ? t('watch.quality_announce_auto') : t('watch.quality_announce', { quality: this.name(value) }));
  }

  /**
   * The selection the relay gets: a remembered layer once the room sends
   * it (a rid from another room or publisher would be refused), auto
   * otherwise. A layer pinned on this page stays pinned while it pauses:
   * the relay shows another meanwhile and goes back to it.
   */
  reconcile() {
    let video = this.video;
    if (this.want === AUTO) video = AUTO;
    else if (this.layers.some((l) => l.rid === this.want)) video = this.want;
    if (video !== this.video) {
      this.video = video;
      this.playback.select({ video });
    }
    this.render();
  }

  /** "720p", or the rid while the layer's size is unknown. */
  name(rid) {
    if (this.hls) return lines(Number(rid));
    const h = this.heights.get(rid);
    return h ? lines(h) : rid || t('watch.quality_video');
  }

  render() {
    if (this.hls) return this.renderHLS();
    const audioOnly = this.playback.audioOnly;
    this.field.hidden = this.layers.length < 2;
    const rids = this.layers.map((l) => l.rid);
    if (this.video !== AUTO && !rids.includes(this.video)) rids.push(this.video); // pinned, paused now
    const plain = t('watch.quality_auto');
    fillMenu(this.select, [[AUTO, plain], ...rids.map((rid) => [rid, this.layers.some((l) => l.rid === rid) ? this.name(rid) : t('watch.quality_paused', { quality: this.name(rid) })])]);
    const h = this.playing.height || this.picture.videoHeight; // the relay's word, else the picture's
    const now = this.video === AUTO && h && !audioOnly ? t('watch.quality_auto_now', { quality: lines(h) }) : plain;
    const auto = this.narrow.matches ? plain : now;
    const option = this.select.options[0];
    if (option.textContent !== auto) option.textContent = auto;
    this.select.value = this.video;
    this.select.disabled = audioOnly;
    this.select.title = audioOnly ? t('watch.quality_audio_only') : now === auto ? '' : now;
  }

  renderHLS() {
    const { heights, height } = this.hls;
    this.field.hidden = heights.length < 2;
    const plain = t('watch.quality_auto');
    const h = height || this.picture.videoHeight;
    const now = this.hlsVideo === AUTO && h ? t('watch.quality_auto_now', { quality: lines(h) }) : plain;
    fillMenu(this.select, [[AUTO, plain], ...heights.map((x) => [String(x), lines(x)])]);
    const auto = this.narrow.matches ? plain : now;
    const option = this.select.options[0];
    if (option.textContent !== auto) option.textContent = auto;
    this.select.value = this.hlsVideo;
    this.select.disabled = false;
    this.select.title = now === auto ? '' : now;
  }
}

/** A picture height as the menu names it: "720p" (no digit grouping: "1080p"). */
function lines(h) {
  return t('watch.quality_lines', { height: num(h, { useGrouping: false }) });
}
