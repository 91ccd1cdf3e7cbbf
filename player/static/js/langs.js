// Languages: names, writing direction and the viewer's default choice.

const RTL = new Set(['ar', 'he', 'iw', 'fa', 'ur', 'ps', 'sd', 'yi', 'dv', 'ckb', 'ug', 'syr']);

/** True when text in the BCP 47 tag is written right to left. */
export function isRTL(tag) {
  if (!tag) return false;
  const primary = tag.toLowerCase().split('-')[0];
  if (RTL.has(primary)) return true;
  try {
    const loc = new Intl.Locale(tag);
    const info = loc.getTextInfo ? loc.getTextInfo() : loc.textInfo;
    return info?.direction === 'rtl';
  } catch {
    return false;
  }
}

/** "rtl" or "ltr" for a language. */
export function dir(tag) {
  return isRTL(tag) ? 'rtl' : 'ltr';
}

/** The language's name in itself (autonym), e.g. "Français", "العربية". */
export function nativeName(tag) {
  try {
    const name = new Intl.DisplayNames([tag], { type: 'language' }).of(tag);
    if (name && name !== tag) return name.charAt(0).toLocaleUpperCase(tag) + name.slice(1);
  } catch {
    // unknown tag: fall back to the tag itself
  }
  return tag;
}

/** The language's name in the page's language, e.g. "French". */
export function localName(tag) {
  try {
    return new Intl.DisplayNames([document.documentElement.lang || 'en'], { type: 'language' }).of(tag) || tag;
  } catch {
    return tag;
  }
}

/** A label for menus: "Français (French)", or just "English" when they agree. */
export function label(tag) {
  const own = nativeName(tag);
  const local = localName(tag);
  return own.toLowerCase() === local.toLowerCase() ? own : `${own} — ${local}`;
}

/** The entry of available that best matches wanted (exact, then prefix). */
export function match(wanted, available) {
  if (!wanted) return null;
  const w = wanted.toLowerCase();
  const lower = available.map((a) => a.toLowerCase());
  let i = lower.indexOf(w);
  if (i >= 0) return available[i];
  // fr-CA -> fr; zh-Hans-CN -> zh-Hans; and en -> en-GB when only that exists
  for (let cut = w.lastIndexOf('-'); cut > 0; cut = w.lastIndexOf('-', cut - 1)) {
    i = lower.indexOf(w.slice(0, cut));
    if (i >= 0) return available[i];
  }
  i = lower.findIndex((a) => a.split('-')[0] === w.split('-')[0]);
  return i >= 0 ? available[i] : null;
}

/**
 * The caption language to show first: ?lang=, then the last choice, then the
 * browser's languages, then the room's first. Only languages the room has.
 */
export function choose(available, { query, stored, browser }) {
  if (!available.length) return null;
  for (const cand of [query, stored, ...(browser || [])]) {
    const m = match(cand, available);
    if (m) return m;
  }
  return available[0];
}
