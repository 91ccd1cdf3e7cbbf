// Sign PiP: the sign-language interpreter as a picture-in-picture box over
// the video. It moves by dragging (pointer) or with the arrow keys when
// focused (Shift for bigger steps, Home for the default corner), stays
// inside the player, and remembers where it was put (prefs). Across, the
// position counts from the inline start: in a right-to-left page the box
// mirrors with the rest of the layout (its default corner is top left).

import { load, save } from './prefs.js';

const DEFAULT = { x: 1, y: 0 }; // the top corner at the inline end: top right in English
const STEP = 0.05;
const BIG_STEP = 0.25;

export class SignPip {
  /** box is the focusable element, video the <video> inside it, bounds the player. */
  constructor({ box, video, bounds, key = 'signPip' }) {
    this.box = box;
    this.video = video;
    this.bounds = bounds;
    this.prefKey = key;
    const p = load(key, DEFAULT);
    this.pos = { x: clamp01(p?.x ?? DEFAULT.x), y: clamp01(p?.y ?? DEFAULT.y) };
    this.drag = null;
    box.addEventListener('pointerdown', (e) => this.down(e));
    box.addEventListener('pointermove', (e) => this.move(e));
    box.addEventListener('pointerup', (e) => this.up(e));
    box.addEventListener('pointercancel', (e) => this.up(e));
    box.addEventListener('keydown', (e) => this.onKey(e));
    video.addEventListener('resize', () => this.fitVideo());
    new ResizeObserver(() => this.place()).observe(bounds);
    document.addEventListener('relay:ui', () => this.place()); // the direction may have changed
  }

  get shown() {
    return !this.box.hidden;
  }

  /** Shows the box with stream (a MediaStream; null shows it empty). */
  show(stream) {
    if (this.video.srcObject !== stream) this.video.srcObject = stream;
    this.box.hidden = false;
    if (stream) this.video.play().catch(() => {});
    this.place();
  }

  hide() {
    this.box.hidden = true;
    this.video.srcObject = null;
  }

  /** The box takes the picture's proportions once it is known. */
  fitVideo() {
    const { videoWidth: w, videoHeight: h } = this.video;
    if (w && h) this.box.style.aspectRatio = `${w} / ${h}`;
    this.place();
  }

  get rtl() {
    return getComputedStyle(this.bounds).direction === 'rtl';
  }

  /** Across from the left edge (0..1) for a position from the inline start, and back. */
  physical(x) {
    return this.rtl ? 1 - x : x;
  }

  /** Puts the box at this.pos: 0..1 of the room left to it, across and down. */
  place() {
    if (!this.shown) return;
    const b = this.bounds.getBoundingClientRect();
    const free = { x: Math.max(0, b.width - this.box.offsetWidth), y: Math.max(0, b.height - this.box.offsetHeight) };
    this.box.style.left = `${Math.round(this.physical(this.pos.x) * free.x)}px`;
    this.box.style.top = `${Math.round(this.pos.y * free.y)}px`;
  }

  moveTo(x, y) {
    this.pos = { x: clamp01(x), y: clamp01(y) };
    this.place();
  }

  remember() {
    save(this.prefKey, this.pos);
  }

  down(e) {
    if (e.button !== 0 || e.target.closest('button')) return;
    const r = this.box.getBoundingClientRect();
    this.drag = { id: e.pointerId, dx: e.clientX - r.left, dy: e.clientY - r.top };
    this.box.setPointerCapture(e.pointerId);
    this.box.classList.add('dragging');
    this.box.focus({ preventScroll: true });
    e.preventDefault();
  }

  move(e) {
    if (!this.drag || e.pointerId !== this.drag.id) return;
    const b = this.bounds.getBoundingClientRect();
    const free = { x: b.width - this.box.offsetWidth, y: b.height - this.box.offsetHeight };
    const left = e.clientX - b.left - this.drag.dx;
    const top = e.clientY - b.top - this.drag.dy;
    this.moveTo(this.physical(free.x > 0 ? left / free.x : 0), free.y > 0 ? top / free.y : 0);
  }

  up(e) {
    if (!this.drag || e.pointerId !== this.drag.id) return;
    this.drag = null;
    this.box.classList.remove('dragging');
    this.remember();
  }

  onKey(e) {
    if (e.target !== this.box || e.ctrlKey || e.metaKey || e.altKey) return;
    const step = e.shiftKey ? BIG_STEP : STEP;
    const across = this.rtl ? -step : step; // ArrowRight moves it right on the screen
    const { x, y } = this.pos;
    const moves = {
      ArrowLeft: [x - across, y], ArrowRight: [x + across, y], ArrowUp: [x, y - step], ArrowDown: [x, y + step],
      Home: [DEFAULT.x, DEFAULT.y],
    };
    const to = moves[e.key];
    if (!to) return;
    e.preventDefault();
    this.moveTo(...to);
    this.remember();
  }
}

function clamp01(v) {
  const n = Number(v);
  return Number.isFinite(n) ? Math.min(1, Math.max(0, n)) : 0;
}
