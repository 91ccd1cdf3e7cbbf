// WHIP: publishes a local camera/microphone stream to the relay
// (non-trickle: the offer carries every candidate; the relay's TURN server,
// if it has one, comes from OPTIONS first), as one video stream or
// as three simulcast layers (RFC 8853: the offer's a=simulcast and a=rid
// lines come from the video transceiver's sendEncodings).

import { Session, gathered, postOffer, rtcConfig } from './whep.js';

/**
 * The simulcast layers, lowest first as browsers list them: a quarter of
 * the camera's size at 150 kb/s, half at 500 kb/s, full size at 1.5 Mb/s.
 */
export const SIMULCAST = Object.freeze([
  { rid: 'l', scaleResolutionDownBy: 4, maxBitrate: 150000 },
  { rid: 'm', scaleResolutionDownBy: 2, maxBitrate: 500000 },
  { rid: 'h', scaleResolutionDownBy: 1, maxBitrate: 1500000 },
]);

/**
 * Starts a sendonly session for stream's tracks; resolves once answered.
 * With simulcast the video goes as the SIMULCAST layers (each with its own
 * cap; maxBitrateKbps is for a single stream).
 */
export async function publish({ url, token, stream, maxBitrateKbps = 0, simulcast = false, signal }) {
  const pc = new RTCPeerConnection(await rtcConfig(url, token, signal));
  try {
    for (const track of stream.getTracks()) {
      const init = { direction: 'sendonly', streams: [stream] };
      if (simulcast && track.kind === 'video') init.sendEncodings = SIMULCAST.map((e) => ({ ...e }));
      const t = pc.addTransceiver(track, init);
      if (track.kind === 'video') preferH264(t);
    }
    await pc.setLocalDescription(await pc.createOffer());
    await gathered(pc);
    const { answer, location } = await postOffer(url, pc.localDescription.sdp, token, signal);
    await pc.setRemoteDescription({ type: 'answer', sdp: answer });
    if (maxBitrateKbps && !simulcast) await setMaxBitrate(pc, maxBitrateKbps);
    return new Session(pc, stream, location);
  } catch (err) {
    pc.close();
    throw err;
  }
}

/**
 * Puts H.264 (packetization mode 1, constrained baseline first) ahead of
 * the browser's default VP8: HLS, the webcast and the recordings carry
 * H.264 only, so a remote speaker published from this page is seen there
 * too. A browser without an H.264 encoder keeps its own order.
 */
export function preferH264(transceiver) {
  const caps = globalThis.RTCRtpSender?.getCapabilities?.('video');
  if (!caps || !transceiver.setCodecPreferences) return;
  const rank = (c) => {
    if (c.mimeType.toLowerCase() !== 'video/h264' || !/packetization-mode=1/.test(c.sdpFmtpLine || '')) return 2;
    return /profile-level-id=42e0/.test(c.sdpFmtpLine || '') ? 0 : 1;
  };
  const codecs = [...caps.codecs].sort((a, b) => rank(a) - rank(b));
  if (rank(codecs[0]) === 2) return;
  try {
    transceiver.setCodecPreferences(codecs);
  } catch {
    // a browser that refuses the list keeps its own order
  }
}

/** Caps the video sender's bitrate (a speaker's uplink is often the weak link). */
export async function setMaxBitrate(pc, kbps) {
  for (const sender of pc.getSenders()) {
    if (sender.track?.kind !== 'video') continue;
    const params = sender.getParameters();
    if (!params.encodings?.length) params.encodings = [{}];
    params.encodings[0].maxBitrate = kbps * 1000;
    try {
      await sender.setParameters(params);
    } catch {
      // not supported here: the browser's own rate control applies
    }
  }
}
