// Recording: what the watch page needs to play a recorded session
// (/watch/{room}/recordings/{id}) rather than the live room: the recording
// from GET /recordings/, its languages as the Language choice reads a
// room's, its MP4 downloads (one per sound channel), and its subtitles
// drawn in the page's own caption overlay from the HLS subtitle track (so
// that the caption style applies as it does live).

import { el } from './dom.js';
import { t, uiLang } from './i18n.js';
import { dir, nativeName } from './langs.js';

/** The recording id of a /watch/{room}/recordings/{id} path, or ''. */
export function recordingFromPath(path = location.pathname) {
  const parts = path.split('/').filter(Boolean);
  return parts[0] === 'watch' && parts[2] === 'recordings' && parts[3] ? decodeURIComponent(parts[3]) : '';
}

/** The recording of room with id, from GET /recordings/; null when there is none. Throws when the relay does not answer. */
export async function fetchRecording(room, id, token = '') {
  const q = token ? `?token=${encodeURIComponent(token)}` : '';
  const res = await fetch(`/recordings/${q}`, { cache: 'no-store' });
  if (!res.ok) throw new Error(`recordings: HTTP ${res.status}`);
  const body = await res.json();
  return (body.recordings || []).find((r) => r.room === room && r.id === id) || null;
}

/**
 * A recording as the page reads a room: its sound channels (all of them
 * were live) and its caption languages.
 */
export function recordingRoom(rec, title) {
  return {
    name: rec.room,
    title,
    state: 'recorded',
    channels: (rec.languages || []).map((lang) => ({ kind: 'audio', lang, live: true })),
    captions: (rec.subtitles || []).map((lang) => ({ lang, announced: true })),
  };
}

/** The MP4 download links into list: the floor first, then each language. */
export function renderDownloads(list, rec, token = '') {
  const q = token ? `?token=${encodeURIComponent(token)}` : '';
  const entries = Object.entries(rec.downloads || {}).sort(([a], [b]) => (a === 'floor' ? -1 : b === 'floor' ? 1 : a.localeCompare(b)));
  list.replaceChildren(...entries.map(([lang, href]) => {
    const floor = lang === 'floor';
    const name = floor ? t('watch.floor') : nativeName(lang);
    return el('li', {},
      el('a', {
        class: 'btn small', href: href + q, download: '',
        'aria-label': t('watch.recording_download', { lang: name }),
        lang: floor ? null : lang, dir: floor ? null : dir(lang),
      }, name));
  }));
}

/**
 * TrackCaptions: draws the cues a text track has active now (the
 * recording's subtitles at the playing position) as the overlay's lines.
 */
export class TrackCaptions {
  constructor(node) {
    this.node = node;
    this.track = null;
    this.lang = null;
    this.listener = () => this.render();
  }

  /** The track to follow (null: none), in lang. */
  setTrack(track, lang) {
    if (track === this.track && lang === this.lang) return;
    this.track?.removeEventListener('cuechange', this.listener);
    this.track = track;
    this.lang = lang;
    track?.addEventListener('cuechange', this.listener);
    this.render();
  }

  render() {
    const cues = [...(this.track?.activeCues || [])];
    // A cue's text is WebVTT (escaped markup): its HTML form has the plain text.
    const lines = cues.map((c) => (c.getCueAsHTML ? c.getCueAsHTML().textContent : c.text)).filter(Boolean);
    this.node.replaceChildren(...lines.map((text) => el('div', { class: 'line' }, el('span', {}, text))));
    this.node.hidden = lines.length === 0;
    if (this.lang) {
      this.node.lang = this.lang;
      this.node.dir = dir(this.lang);
    }
  }
}

/** When a recording started, in words: "2 Dec 2026, 14:05" in the interface language. */
export function recordedAt(iso) {
  const at = new Date(iso);
  if (!Number.isFinite(at.getTime())) return '';
  return new Intl.DateTimeFormat(uiLang(), { dateStyle: 'medium', timeStyle: 'short' }).format(at);
}
