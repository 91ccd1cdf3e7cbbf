// Watch status: the watch page's words for what plays: the state in the
// top bar's status and in the notice over the video (live over WebRTC,
// over HLS, or a recording), and the connection indicator (WebRTC's
// getStats and the relay's bandwidth estimate).

import { $ } from './dom.js';
import { num, t } from './i18n.js';
import { formatEstimate, formatRate, quality, qualityWord } from './stats.js';

/**
 * What the player says in a state: [status, hint]. how: {hls (live over
 * HLS), recording (a recording's page), date (when it was recorded)}.
 */
export function stateText(state, { hls = false, recording = false, date = '' } = {}) {
  if (recording) {
    switch (state) {
      case 'live': return [date ? t('watch.recording_status', { date }) : t('watch.recording'), ''];
      case 'missing': return [t('watch.recording_missing'), t('watch.recording_missing_hint')];
      case 'connecting': return [t('watch.recording_loading'), ''];
    }
  }
  switch (state) {
    case 'waiting': return [t('watch.state_waiting'), t('watch.state_waiting_hint')];
    case 'paused': return [t('watch.state_paused'), t('watch.state_paused_hint')];
    case 'live': return [hls ? t('watch.state_live_hls') : t('watch.state_live'), ''];
    case 'reconnecting': return [t('watch.state_reconnecting'), t('watch.state_reconnecting_hint')];
    case 'busy': return [t('watch.state_busy'), t('watch.state_busy_hint')];
    case 'unsupported': return [t('watch.state_unsupported'), t('watch.state_unsupported_hint')];
    case 'stopped': return [t('watch.state_stopped'), ''];
    default: return [t('watch.state_connecting'), t('watch.state_connecting_hint')];
  }
}

/** Shows a state in the status, the notice over the video and the tab's title. */
export function showState(state, how = {}) {
  const [text, hint] = stateText(state, how);
  const live = state === 'live';
  const status = $('#status');
  status.dataset.state = how.recording && live ? 'recorded' : state;
  status.textContent = text;
  $('#notice-text').textContent = text;
  $('#notice-hint').textContent = hint;
  $('#notice').hidden = live;
  $('#notice').dataset.state = state;
  $('#player').dataset.state = state;
  document.title = `${live && !how.recording ? '● ' : ''}${$('#title').textContent} · relay`;
}

const ms = (v) => num(Math.round(v), { style: 'unit', unit: 'millisecond', unitDisplay: 'short' });
const percent = (v, digits) => num(v, { style: 'percent', minimumFractionDigits: digits, maximumFractionDigits: digits });
const plain = (v) => num(Math.round(v), { useGrouping: false });

/** The connection indicator for a stats sample (null: none yet). how: {estimateBps, audioOnly}. */
export function showStats(s, { estimateBps = 0, audioOnly = false } = {}) {
  const net = $('#net');
  if (!s || !s.flowing) {
    net.dataset.q = 'none';
    const text = s ? t('watch.net_no_media') : t('watch.net_measuring');
    $('#net-text').textContent = text;
    net.title = '';
    net.setAttribute('aria-label', text);
    return;
  }
  const q = quality(s);
  net.dataset.q = q;
  const parts = [formatRate(s.kbps), t('watch.net_loss', { loss: percent(s.loss, s.loss < 0.1 ? 1 : 0) })];
  if (s.rttMs !== null) parts.push(ms(s.rttMs));
  const estimate = formatEstimate(estimateBps);
  if (estimate) parts.push(estimate);
  if (q === 'poor' && !audioOnly) parts.push(t('watch.net_try_audio_only'));
  $('#net-text').textContent = parts.join(' · ');
  const detail = [t('watch.net_bitrate', { rate: formatRate(s.kbps) }), t('watch.net_packet_loss', { loss: percent(s.loss, 1) })];
  if (s.rttMs !== null) detail.push(t('watch.net_round_trip', { time: ms(s.rttMs) }));
  if (s.delayMs !== null) detail.push(t('watch.net_buffer', { time: ms(s.delayMs) }));
  if (s.width) {
    const size = { width: plain(s.width), height: plain(s.height) };
    detail.push(s.fps ? t('watch.net_picture_fps', { ...size, fps: plain(s.fps) }) : t('watch.net_picture', size));
  }
  if (estimate) detail.push(t('watch.net_link', { rate: estimate }));
  net.title = detail.join('\n');
  net.setAttribute('aria-label', t('watch.net_label', { quality: qualityWord(q), detail: detail.join(', ') }));
}
