// i18n: the pages' interface in the delegate's language. One catalogue per
// language (static/i18n/{lang}.json: flat keys, a string or plural forms
// by Intl.PluralRules category), English as the fallback for a missing
// string. The markup keeps its English text, so a page whose catalogue
// cannot load still reads. The interface language is separate from the
// caption and channel language, and defaults to it.
//
// Markup:  data-i18n names the key of the element's text (children with
//          data-slot="name" stay, placed where the string says {name});
//          data-i18n-attr lists attributes and keys, "aria-label:k1;title:k2"
// Script:  t(key, {n: 3, name: 'x'})             {n} picks the plural form
// Pages re-render what they wrote themselves on the 'relay:ui' event.

import { dir, match } from './langs.js';
import { load, save } from './prefs.js';

export const UI_LANGS = ['ar', 'en', 'es', 'fr', 'ru', 'zh-Hans'];

// Each language by its own name, as a switcher must show them.
const AUTONYMS = { ar: 'العربية', en: 'English', es: 'Español', fr: 'Français', ru: 'Русский', 'zh-Hans': '简体中文' };

const catalogues = new Map(); // lang -> Promise<object>
let lang = 'en';
let strings = {};
let english = {};
let rules = new Intl.PluralRules('en');
const englishRules = new Intl.PluralRules('en');
// Formatters by kind and options, for the language now: building one costs
// far more than using it, and the monitor formats hundreds a second.
const formatters = new Map();

function formatter(Kind, options) {
  const key = `${Kind.name}|${JSON.stringify(options ?? {})}`;
  let f = formatters.get(key);
  if (!f) {
    f = new Kind(lang, options);
    formatters.set(key, f);
  }
  return f;
}

/** The interface language now. */
export function uiLang() {
  return lang;
}

/**
 * The interface language to use: ?ui=, then the last choice, then the
 * content (caption/channel) language, then the browser's, then English.
 */
export function chooseUILang({ query, stored, content, browser = [] }) {
  for (const cand of [query, stored, content, ...browser]) {
    const m = match(cand, UI_LANGS);
    if (m) return m;
  }
  return 'en';
}

function catalogue(l) {
  if (!catalogues.has(l)) {
    const p = fetch(`/static/i18n/${l}.json`, { cache: 'no-cache' })
      .then((res) => (res.ok ? res.json() : {}))
      .catch(() => ({})); // offline or blocked: the fallback serves
    catalogues.set(l, p);
  }
  return catalogues.get(l);
}

/**
 * Chooses the interface language, applies it to the page and mounts the
 * switcher. content is the page's caption or channel language, if any.
 */
export async function init({ content } = {}) {
  const params = new URLSearchParams(location.search);
  const chosen = chooseUILang({
    query: params.get('ui'),
    stored: load('ui', null),
    content,
    browser: navigator.languages || [navigator.language],
  });
  await use(chosen);
  mountSwitcher();
}

/** Switches the interface to l (one of UI_LANGS) and re-translates the page. */
export async function use(l) {
  const [en, own] = await Promise.all([catalogue('en'), l === 'en' ? null : catalogue(l)]);
  english = en;
  strings = own || en;
  lang = l;
  rules = new Intl.PluralRules(l);
  formatters.clear();
  document.documentElement.lang = l;
  document.documentElement.dir = dir(l);
  translate(document);
  document.dispatchEvent(new CustomEvent('relay:ui', { detail: { lang: l } }));
}

/** The string for key in the interface language, {name}s filled from vars. */
export function t(key, vars = {}) {
  let entry = strings[key];
  let pr = rules;
  if (entry === undefined) {
    entry = english[key];
    pr = englishRules;
  }
  if (entry === undefined) return key; // a missing key shows itself (the catalogue test catches it)
  if (typeof entry === 'object') {
    entry = entry[pr.select(Number(vars.n) || 0)] ?? entry.other ?? '';
  }
  return entry.replace(/\{(\w+)\}/g, (whole, name) => (name in vars ? fill(vars[name]) : whole));
}

function fill(v) {
  return typeof v === 'number' ? num(v) : String(v);
}

/** A number in the interface language's conventions. */
export function num(n, options) {
  return formatter(Intl.NumberFormat, options).format(n);
}

/** A duration in seconds, e.g. "1 min 5 s" / "1 мин 5 с". */
export function duration(seconds) {
  const s = Math.max(0, Math.round(seconds));
  const parts = { hours: Math.floor(s / 3600), minutes: Math.floor((s % 3600) / 60), seconds: s % 60 };
  if (!parts.hours) delete parts.hours;
  if (!parts.hours && !parts.minutes) delete parts.minutes;
  if (typeof Intl.DurationFormat === 'function') {
    return formatter(Intl.DurationFormat, { style: 'narrow' }).format(parts);
  }
  const unit = { hours: 'hour', minutes: 'minute', seconds: 'second' };
  return Object.entries(parts)
    .map(([k, v]) => num(v, { style: 'unit', unit: unit[k], unitDisplay: 'narrow' }))
    .join(' ');
}

/** A time of day (HH:MM:SS, 24 h) in the interface language. */
export function time(date) {
  return formatter(Intl.DateTimeFormat, { hour: '2-digit', minute: '2-digit', second: '2-digit', hourCycle: 'h23' }).format(date);
}

const slots = new WeakMap(); // element -> Map(slot name -> node)

/** Translates the data-i18n and data-i18n-attr elements under root. */
export function translate(root) {
  for (const node of root.querySelectorAll('[data-i18n]')) {
    const text = t(node.dataset.i18n);
    let own = slots.get(node);
    if (!own) {
      own = new Map([...node.querySelectorAll(':scope > [data-slot]')].map((c) => [c.dataset.slot, c]));
      slots.set(node, own);
    }
    if (!own.size) {
      node.textContent = text;
      continue;
    }
    // "at {path}, or …": text around the kept child elements.
    const parts = text.split(/\{(\w+)\}/);
    node.replaceChildren(...parts.map((p, i) => (i % 2 ? own.get(p) || `{${p}}` : p)));
  }
  for (const node of root.querySelectorAll('[data-i18n-attr]')) {
    for (const pair of node.dataset.i18nAttr.split(';')) {
      const [attr, key] = pair.split(':').map((s) => s.trim());
      if (attr && key) node.setAttribute(attr, t(key));
    }
  }
}

/**
 * The interface-language switcher, in the page's [data-ui-switcher] or at
 * the end of its top bar.
 */
function mountSwitcher() {
  if (document.querySelector('.ui-lang')) return;
  const host = document.querySelector('[data-ui-switcher]') || document.querySelector('.topbar');
  if (!host) return;
  const select = document.createElement('select');
  select.id = 'ui-lang';
  select.className = 'ui-lang-select';
  for (const l of UI_LANGS) {
    const o = document.createElement('option');
    o.value = l;
    o.lang = l;
    o.dir = dir(l);
    o.textContent = AUTONYMS[l];
    select.append(o);
  }
  select.value = lang;
  const name = document.createElement('span');
  name.className = 'visually-hidden';
  name.dataset.i18n = 'common.ui_language';
  name.textContent = t('common.ui_language');
  const label = document.createElement('label');
  label.className = 'ui-lang';
  label.title = t('common.ui_language');
  label.dataset.i18nAttr = 'title:common.ui_language';
  label.innerHTML = '<svg viewBox="0 0 24 24" aria-hidden="true" width="18" height="18"><path d="M12 2a10 10 0 1 0 0 20 10 10 0 0 0 0-20Zm6.9 6h-2.9a15.7 15.7 0 0 0-1.4-3.6A8 8 0 0 1 18.9 8ZM12 4a13.9 13.9 0 0 1 1.9 4h-3.8A13.9 13.9 0 0 1 12 4ZM4.3 14a8.2 8.2 0 0 1 0-4h3.3a16.5 16.5 0 0 0 0 4H4.3Zm.8 2h2.9a15.7 15.7 0 0 0 1.4 3.6A8 8 0 0 1 5.1 16ZM8 8H5.1a8 8 0 0 1 4.3-3.6A15.7 15.7 0 0 0 8 8Zm4 12a13.9 13.9 0 0 1-1.9-4h3.8A13.9 13.9 0 0 1 12 20Zm2.3-6H9.7a14.7 14.7 0 0 1 0-4h4.6a14.7 14.7 0 0 1 0 4Zm.3 5.6a15.7 15.7 0 0 0 1.4-3.6h2.9a8 8 0 0 1-4.3 3.6ZM16.4 14a16.5 16.5 0 0 0 0-4h3.3a8.2 8.2 0 0 1 0 4h-3.3Z"/></svg>';
  label.append(name, select);
  host.append(label);
  select.addEventListener('change', async () => {
    const l = select.value;
    save('ui', l);
    const url = new URL(location.href);
    if (url.searchParams.has('ui')) {
      url.searchParams.set('ui', l);
      history.replaceState(history.state, '', url);
    }
    await use(l);
  });
}
