// Languages: names, writing direction, sign languages and the viewer's
// default choice.

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

// Sign languages (ISO 639-3) by the name their community uses in the
// written language of the country: browsers know few of them.
const SIGN = {
  ase: 'American Sign Language', bfi: 'British Sign Language', ils: 'International Sign',
  fsl: 'Langue des signes française', fcs: 'Langue des signes québécoise', sfb: 'Langue des signes de Belgique francophone',
  gsg: 'Deutsche Gebärdensprache', sgg: 'Deutschschweizer Gebärdensprache', asq: 'Österreichische Gebärdensprache',
  ssp: 'Lengua de signos española', ise: 'Lingua dei segni italiana', bzs: 'Língua Brasileira de Sinais', psr: 'Língua Gestual Portuguesa',
  mfs: 'Lengua de señas mexicana', aed: 'Lengua de señas argentina', dse: 'Nederlandse Gebarentaal', vgt: 'Vlaamse Gebarentaal',
  swl: 'Svenskt teckenspråk', dsl: 'Dansk tegnsprog', nsi: 'Norsk tegnspråk', fse: 'Suomalainen viittomakieli',
  pso: 'Polski język migowy', rsl: 'Русский жестовый язык', tsm: 'Türk İşaret Dili', isg: 'Irish Sign Language',
  asf: 'Auslan', nzs: 'New Zealand Sign Language', sfs: 'South African Sign Language', ins: 'Indian Sign Language',
  jsl: '日本手話', csl: '中国手语', kvk: '한국 수어',
};

/** True when tag is a sign language (ISO 639-3 code, or sgn-…). */
export function isSignLanguage(tag) {
  if (!tag) return false;
  const primary = tag.toLowerCase().split('-')[0];
  return primary === 'sgn' || Object.hasOwn(SIGN, primary);
}

/** The language's name in itself (autonym), e.g. "Français", "العربية". */
export function nativeName(tag) {
  const sign = SIGN[String(tag).toLowerCase()];
  if (sign) return sign;
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
  let name = tag;
  try {
    name = new Intl.DisplayNames([document.documentElement.lang || 'en'], { type: 'language' }).of(tag) || tag;
  } catch {
    // unknown tag
  }
  return name === tag ? SIGN[String(tag).toLowerCase()] || tag : name;
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
