// Channels: what a room offers besides the floor, read from /api/rooms
// (`channels`: every channel that has been live; `languages`: those the
// room declares), and the one "Language" choice of the watch page, which
// sets the audio channel, the captions and the transcript together.

import { isSignLanguage } from './langs.js';

export const FLOOR = 'floor';
/** The Language choice when audio and captions were set apart. */
export const CUSTOM = 'custom';

/**
 * The room's channels of one kind ("audio" or "sign"): a Map from language
 * to {lang, live, known}, where known says the channel has been live (it
 * is in `channels`); a declared language that never went live is there
 * with known false. Declared sign languages count as sign, the others as
 * audio.
 */
export function channelsOf(info, kind) {
  const out = new Map();
  for (const c of info?.channels || []) {
    if (c.kind === kind) out.set(c.lang, { lang: c.lang, live: !!c.live, known: true });
  }
  for (const lang of info?.languages || []) {
    if (isSignLanguage(lang) === (kind === 'sign') && !out.has(lang)) out.set(lang, { lang, live: false, known: false });
  }
  return new Map([...out].sort(([a], [b]) => a.localeCompare(b)));
}

/**
 * The entries of the Language choice after "Floor (original)": the caption
 * languages, the audio channels and the declared spoken languages, by tag.
 */
export function languageChoices(captions, audio) {
  const all = new Set([...captions.filter((l) => !isSignLanguage(l)), ...audio.keys()]);
  return [...all].sort((a, b) => a.localeCompare(b));
}

/** The audio a Language choice selects: its channel when the room has one, else the floor. */
export function audioFor(choice, audio) {
  return choice && choice !== FLOOR && choice !== CUSTOM && audio.has(choice) ? choice : FLOOR;
}

/**
 * What the Language choice shows for the audio and caption language in
 * use: wanted (the delegate's last choice) while it still describes them,
 * otherwise the language they agree on, the floor, or CUSTOM (interpreter
 * in one language, captions in another).
 */
export function choiceOf(wanted, { audio, caption, channels, captions }) {
  const fits = (c) => c === FLOOR
    ? audio === FLOOR
    : audio === audioFor(c, channels) && (caption === c || !captions.includes(c));
  if (wanted && wanted !== CUSTOM && fits(wanted)) return wanted;
  if (audio !== FLOOR) return caption === audio || !captions.includes(audio) ? audio : CUSTOM;
  return caption && !channels.has(caption) ? caption : FLOOR;
}

/**
 * Whether the delegate hears what they selected: "on" (the booth plays, or
 * the floor was selected), "off" (the booth has been live and is down now:
 * the floor plays) or "unstarted" (declared, never live yet).
 */
export function airState(audio, playing, channels) {
  if (audio === FLOOR || playing === audio) return 'on';
  return channels.get(audio)?.known ? 'off' : 'unstarted';
}
