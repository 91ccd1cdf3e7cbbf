// Small DOM helpers shared by the pages.

import { time } from './i18n.js';

/** Returns the element matching selector, or throws: pages know their markup. */
export function $(selector, root = document) {
  const el = root.querySelector(selector);
  if (!el) throw new Error(`missing element ${selector}`);
  return el;
}

/**
 * Builds an element: el('li', {class: 'x', dataset: {seq: 3}}, 'text', child).
 * Text is always set as text, never parsed as HTML.
 */
export function el(tag, attrs = {}, ...children) {
  const node = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) {
    if (v === undefined || v === null || v === false) continue;
    if (k === 'class') node.className = v;
    else if (k === 'dataset') Object.assign(node.dataset, v);
    else if (k.startsWith('on') && typeof v === 'function') node.addEventListener(k.slice(2), v);
    else if (v === true) node.setAttribute(k, '');
    else node.setAttribute(k, String(v));
  }
  for (const c of children.flat()) {
    if (c === undefined || c === null || c === false) continue;
    node.append(c instanceof Node ? c : document.createTextNode(String(c)));
  }
  return node;
}

/** The room name of a /watch/{room}, /caption/{room} or /publish/{room} URL. */
export function roomFromPath(path = location.pathname) {
  const parts = path.split('/').filter(Boolean);
  return decodeURIComponent(parts[1] || '');
}

/** Resolves after ms milliseconds, or early when signal aborts. */
export function sleep(ms, signal) {
  return new Promise((resolve) => {
    if (signal?.aborted) return resolve();
    const t = setTimeout(done, ms);
    function done() {
      clearTimeout(t);
      signal?.removeEventListener('abort', done);
      resolve();
    }
    signal?.addEventListener('abort', done, { once: true });
  });
}

/** HH:MM:SS in the interface language, in the viewer's time zone. */
export function clock(date) {
  return time(date);
}

/** Announces text to screen readers through the page's polite live region. */
export function announce(text) {
  const region = document.getElementById('announcer');
  if (!region) return;
  region.textContent = '';
  setTimeout(() => { region.textContent = text; }, 50);
}
