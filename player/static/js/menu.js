// Menu: fills a <select> from data without disturbing it when nothing
// changed, so that a menu the delegate has open stays open while the page
// refreshes what the room offers. The entries' tooltips name the language
// in the interface language: a switch of it refills the menu.

import { el } from './dom.js';
import { label } from './langs.js';

/** Sets sel's options from entries [value, text, lang?] unless it has them already. */
export function fillMenu(sel, entries) {
  const key = JSON.stringify([document.documentElement.lang, entries]);
  if (sel.dataset.options === key) return;
  sel.dataset.options = key;
  sel.replaceChildren(...entries.map(([value, text, lang]) => el('option', { value, lang, title: lang ? label(lang) : null }, text)));
}
