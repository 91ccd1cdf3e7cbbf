// The AV monitor's figures in the interface language: bitrates, times,
// percentages and durations through Intl (i18n.js), and the words for
// room and channel states. Metric names, rids and tags stay as they are.
//
// Durations keep the monitor's compact SI style ("45 s", "3 min 5 s") with
// the unit abbreviations in the catalogue and the numbers through Intl:
// Intl.DurationFormat's narrow English ("45s") reads less well in a dense
// table, and its short one is long ("45 sec").

import { t, num, time } from './i18n.js';

export function fmtBitrate(bps) {
  if (!(bps > 0)) return '—';
  return bps >= 1e6
    ? num(bps / 1e6, { style: 'unit', unit: 'megabit-per-second', minimumFractionDigits: 2, maximumFractionDigits: 2 })
    : num(Math.round(bps / 1e3), { style: 'unit', unit: 'kilobit-per-second', maximumFractionDigits: 0 });
}

/** A duration to the second under an hour: "45 s", "3 min 5 s", "1 h 2 min". */
export function fmtAgo(seconds) {
  if (!isFinite(seconds)) return '—';
  const s = Math.max(0, seconds);
  if (s < 60) return t('monitor.dur_s', { s: Math.round(s) });
  if (s < 3600) return t('monitor.dur_min_s', { min: Math.floor(s / 60), s: Math.round(s % 60) });
  return t('monitor.dur_h_min', { h: Math.floor(s / 3600), min: Math.floor((s % 3600) / 60) });
}

/** A short "for how long" since iso: seconds only under a minute. */
export function fmtFor(iso, now) {
  const at = Date.parse(iso);
  if (isNaN(at) || new Date(at).getFullYear() < 2000) return '—';
  const s = Math.max(0, (now - at) / 1000);
  if (s < 60) return t('monitor.dur_s', { s: Math.round(s) });
  if (s < 3600) return t('monitor.dur_min', { min: Math.floor(s / 60) });
  return t('monitor.dur_h_min', { h: Math.floor(s / 3600), min: Math.floor((s % 3600) / 60) });
}

/** The time of day of iso, or '' for none. */
export function fmtTime(iso) {
  const d = new Date(iso);
  return isNaN(d) || d.getFullYear() < 2000 ? '' : time(d);
}

/** "since 14:02:11", or null without a time (no title). */
export function sinceTitle(iso) {
  const at = fmtTime(iso);
  return at ? t('monitor.since', { time: at }) : null;
}

export function fmtMs(ms) {
  const digits = ms < 10 ? 1 : 0;
  return num(ms, { style: 'unit', unit: 'millisecond', minimumFractionDigits: digits, maximumFractionDigits: digits });
}

/** A share (0..1) as a percentage with digits decimals. */
export function fmtPercent(x, digits = 1) {
  return t('monitor.percent', { pct: num(x * 100, { minimumFractionDigits: digits, maximumFractionDigits: digits }) });
}

export function fmtCount(n) {
  return typeof n === 'number' ? num(n) : n ?? '—';
}

/** A room's or a channel's state in words. */
export function stateText(state) {
  if (state === 'live') return t('monitor.state_live');
  if (state === 'lost') return t('monitor.state_lost');
  if (state === 'idle') return t('monitor.state_idle');
  if (state === 'down') return t('monitor.state_down');
  if (state === 'none') return t('monitor.state_none');
  return state;
}
