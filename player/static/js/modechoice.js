// Mode choice: the watch page's delivery setting, "Low latency (WebRTC)"
// or "HLS" (in the playback settings), remembered in prefs; ?mode=webrtc
// or ?mode=hls in the URL wins for the visit. It says when the page fell
// back to HLS by itself (media.js), and marks the page with the mode
// playing (body[data-mode]: watch.css hides what HLS has not).

import { announce } from './dom.js';
import { t } from './i18n.js';
import { HLS, WEBRTC } from './media.js';
import { load, save } from './prefs.js';

/** The mode the page starts in: ?mode=, else the remembered one, else WebRTC. */
export function wantedMode(params = new URLSearchParams(location.search)) {
  const modes = [WEBRTC, HLS];
  return modes.find((m) => m === params.get('mode')) || modes.find((m) => m === load('mode', WEBRTC)) || WEBRTC;
}

export class ModeChoice {
  /** media: the page's Media; form: the settings form (radios "mode"); fallback: the line that says it fell back. */
  constructor({ media, form, fallback }) {
    Object.assign(this, { media, form, fallback });
    media.addEventListener('mode', (e) => this.render(e.detail));
    form.addEventListener('change', (e) => {
      if (e.target.name !== 'mode') return;
      const mode = e.target.value;
      save('mode', mode);
      const url = new URL(location.href);
      if (url.searchParams.has('mode')) { // the URL's choice gives way to the delegate's
        url.searchParams.set('mode', mode);
        history.replaceState(history.state, '', url);
      }
      media.setMode(mode);
      announce(mode === HLS ? t('watch.mode_hls_announce') : t('watch.mode_webrtc_announce'));
    });
  }

  render({ mode, fellBack }) {
    document.body.dataset.mode = mode;
    // What plays: after a fallback, "Low latency" is there to be picked again.
    for (const radio of this.form.elements.mode) radio.checked = radio.value === mode;
    this.fallback.hidden = !fellBack;
    if (fellBack) announce(t('watch.fallback_hls'));
  }
}
