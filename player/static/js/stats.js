// Stats: a once-a-second reading of a peer connection's getStats(), reduced
// to what a delegate or speaker can act on: bitrate, loss, delay; and the
// words for the relay's estimate of what a viewer's link carries, in the
// interface language.

import { num, t } from './i18n.js';

/** Samples pc and calls onSample({kbps, loss, rttMs, delayMs, fps, width, height, frames, flowing}). */
export class StatsSampler {
  constructor(pc, onSample, { direction = 'inbound', periodMs = 1000 } = {}) {
    this.pc = pc;
    this.onSample = onSample;
    this.direction = direction;
    this.prev = null;
    this.timer = setInterval(() => this.sample(), periodMs);
    this.sample();
  }

  stop() {
    clearInterval(this.timer);
  }

  async sample() {
    let report;
    try {
      report = await this.pc.getStats();
    } catch {
      return; // closed
    }
    const now = performance.now();
    const cur = { at: now, bytes: 0, packets: 0, lost: 0, frames: 0, jbDelay: 0, jbCount: 0 };
    let video = null;
    let rtt = null;
    let pairId = null;
    const type = this.direction === 'inbound' ? 'inbound-rtp' : 'outbound-rtp';
    report.forEach((s) => {
      if (s.type === type) {
        cur.bytes += (this.direction === 'inbound' ? s.bytesReceived : s.bytesSent) || 0;
        cur.packets += (this.direction === 'inbound' ? s.packetsReceived : s.packetsSent) || 0;
        cur.lost += s.packetsLost || 0;
        if (s.kind === 'video') {
          if (!video || area(s) > area(video)) video = s; // the biggest picture: simulcast sends several
          cur.frames += (this.direction === 'inbound' ? s.framesDecoded : s.framesEncoded) || 0;
          cur.jbDelay += s.jitterBufferDelay || 0;
          cur.jbCount += s.jitterBufferEmittedCount || 0;
        }
      } else if (s.type === 'remote-inbound-rtp' && this.direction === 'outbound') {
        cur.lost += s.packetsLost || 0;
        if (s.roundTripTime) rtt = s.roundTripTime;
      } else if (s.type === 'transport' && s.selectedCandidatePairId) {
        pairId = s.selectedCandidatePairId;
      }
    });
    const pair = pairId && report.get(pairId);
    if (pair && pair.currentRoundTripTime !== undefined) rtt = pair.currentRoundTripTime;
    const prev = this.prev;
    this.prev = cur;
    if (!prev) return;
    const dt = (now - prev.at) / 1000;
    const dPackets = cur.packets - prev.packets;
    const dLost = Math.max(0, cur.lost - prev.lost);
    const dJb = cur.jbCount - prev.jbCount;
    this.onSample({
      kbps: Math.max(0, ((cur.bytes - prev.bytes) * 8) / dt / 1000),
      loss: dPackets + dLost > 0 ? dLost / (dPackets + dLost) : 0,
      rttMs: rtt === null ? null : rtt * 1000,
      delayMs: dJb > 0 ? ((cur.jbDelay - prev.jbDelay) / dJb) * 1000 : null,
      fps: video?.framesPerSecond ?? null,
      width: video?.frameWidth ?? 0,
      height: video?.frameHeight ?? 0,
      frames: cur.frames,
      flowing: cur.bytes > prev.bytes,
    });
  }
}

function area(s) {
  return (s.frameWidth || 0) * (s.frameHeight || 0);
}

/** "good", "fair" or "poor" for a sample. */
export function quality(s) {
  if (s.loss > 0.08 || (s.rttMs ?? 0) > 800) return 'poor';
  if (s.loss > 0.02 || (s.rttMs ?? 0) > 300) return 'fair';
  return 'good';
}

/** The words for quality(s): "good", "fair", "poor" in the interface language. */
export function qualityWord(q) {
  if (q === 'good') return t('common.quality_good');
  if (q === 'fair') return t('common.quality_fair');
  return t('common.quality_poor');
}

/** "2.4 Mb/s" or "640 kb/s". */
export function formatRate(kbps) {
  if (kbps >= 1000) return t('common.rate_mbps', { rate: num(kbps / 1000, { minimumFractionDigits: 1, maximumFractionDigits: 1 }) });
  return t('common.rate_kbps', { rate: num(Math.round(kbps)) });
}

/**
 * "1.2 Mb/s available": the relay's estimate of what the viewer's link
 * carries (bits per second, from its /select answer); "" while it has none.
 */
export function formatEstimate(bps) {
  return Number.isFinite(bps) && bps > 0 ? t('common.rate_available', { rate: formatRate(bps / 1000) }) : '';
}
