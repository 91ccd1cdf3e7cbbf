// Prefs: small settings remembered in localStorage. Storage may be
// unavailable (private mode, embedded frames); then settings last the visit.

const memory = new Map();

export function load(key, fallback) {
  try {
    const raw = localStorage.getItem('relay.' + key);
    if (raw !== null) return JSON.parse(raw);
  } catch {
    if (memory.has(key)) return memory.get(key);
  }
  return fallback;
}

export function save(key, value) {
  memory.set(key, value);
  try {
    localStorage.setItem('relay.' + key, JSON.stringify(value));
  } catch {
    // storage full or blocked: the in-memory copy serves this visit
  }
}
