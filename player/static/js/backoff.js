// Backoff: how long to wait before the next reconnect attempt.

export class Backoff {
  /** Delays grow from min to max (milliseconds), doubling, with ±20% jitter. */
  constructor(min = 500, max = 10000) {
    this.min = min;
    this.max = max;
    this.attempt = 0;
  }

  /** The delay before the next attempt; each call doubles the next one. */
  next() {
    const base = Math.min(this.max, this.min * 2 ** this.attempt);
    this.attempt++;
    const jitter = base * 0.2 * (Math.random() * 2 - 1);
    return Math.round(base + jitter);
  }

  /** Called after a success: the next failure starts from min again. */
  reset() {
    this.attempt = 0;
  }
}

/** Retry-After in milliseconds (seconds form only), or fallback. */
export function retryAfter(response, fallback) {
  const s = Number(response.headers.get('Retry-After'));
  return Number.isFinite(s) && s > 0 ? Math.min(s, 60) * 1000 : fallback;
}
