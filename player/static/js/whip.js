// WHIP: publishes a local camera/microphone stream to the relay
// (non-trickle: the offer carries every candidate).

import { Session, gathered, postOffer } from './whep.js';

/** Starts a sendonly session for stream's tracks; resolves once answered. */
export async function publish({ url, token, stream, maxBitrateKbps = 0, signal }) {
  const pc = new RTCPeerConnection({ bundlePolicy: 'max-bundle' });
  try {
    for (const track of stream.getTracks()) {
      pc.addTransceiver(track, { direction: 'sendonly', streams: [stream] });
    }
    await pc.setLocalDescription(await pc.createOffer());
    await gathered(pc);
    const { answer, location } = await postOffer(url, pc.localDescription.sdp, token, signal);
    await pc.setRemoteDescription({ type: 'answer', sdp: answer });
    if (maxBitrateKbps) await setMaxBitrate(pc, maxBitrateKbps);
    return new Session(pc, stream, location);
  } catch (err) {
    pc.close();
    throw err;
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
