// Cough key: a button that acts while it is held down, with the pointer
// (mouse, pen, a finger) or with Space or Enter while it has the focus, and
// lets go when the pointer or key is released, the pointer is lost or the
// button loses the focus. aria-pressed says whether it is held.

export class HoldKey {
  /** Calls onChange(true) when button is pressed and onChange(false) when it is let go. */
  constructor(button, onChange) {
    this.button = button;
    this.onChange = onChange;
    const release = () => this.release();
    button.addEventListener('pointerdown', (e) => {
      if (e.button !== 0) return;
      button.setPointerCapture(e.pointerId);
      this.hold();
    });
    button.addEventListener('pointerup', release);
    button.addEventListener('pointercancel', release);
    button.addEventListener('lostpointercapture', release);
    button.addEventListener('keydown', (e) => {
      if (e.key !== ' ' && e.key !== 'Enter') return;
      e.preventDefault(); // no click, no scrolling
      if (!e.repeat) this.hold();
    });
    button.addEventListener('keyup', (e) => {
      if (e.key !== ' ' && e.key !== 'Enter') return;
      e.preventDefault();
      this.release();
    });
    button.addEventListener('blur', release);
    button.addEventListener('contextmenu', (e) => e.preventDefault()); // a long touch
  }

  get held() {
    return this.button.getAttribute('aria-pressed') === 'true';
  }

  hold() {
    if (this.button.disabled || this.held) return;
    this.button.setAttribute('aria-pressed', 'true');
    this.onChange(true);
  }

  release() {
    if (!this.held) return;
    this.button.setAttribute('aria-pressed', 'false');
    this.onChange(false);
  }
}
