// Publisher page: pick camera and microphone, preview, go live over WHIP
// with a publisher token (as one stream or as three simulcast layers: on by
// default when the camera gives 720p or more), reconnect if the link drops,
// show state, bitrate and the layers the relay gets, stop.

import { fetchRoom } from './api.js';
import { Backoff } from './backoff.js';
import { $, el, roomFromPath, sleep } from './dom.js';
import { StatsSampler, formatRate } from './stats.js';
import { SIMULCAST, publish } from './whip.js';

const room = roomFromPath();
const QUALITY = {
  360: { width: 640, height: 360, kbps: 800 },
  720: { width: 1280, height: 720, kbps: 2500 },
  1080: { width: 1920, height: 1080, kbps: 4500 },
};

const app = {
  room,
  stream: null,
  session: null,
  stats: null,
  live: false, // the speaker wants to be on air
  stopper: null,
  meter: null,
  backoff: new Backoff(1000, 10000),
  simulcastSet: false, // the speaker set the simulcast box (else it follows the camera)
  layersTimer: 0,
};

// ---- token ------------------------------------------------------------------

(function initToken() {
  const q = new URLSearchParams(location.search);
  const key = `relay.publish.token.${room}`;
  let token = q.get('token') || '';
  try {
    if (token) sessionStorage.setItem(key, token);
    else token = sessionStorage.getItem(key) || '';
  } catch {
    // kept in the field only
  }
  if (q.has('token')) {
    q.delete('token');
    history.replaceState(null, '', `${location.pathname}${q.size ? `?${q}` : ''}`);
  }
  $('#token').value = token;
  $('#token-field').hidden = !!token;
})();

// ---- devices ----------------------------------------------------------------

function constraints() {
  const q = QUALITY[$('#quality').value];
  const cam = $('#camera').value;
  const mic = $('#mic').value;
  return {
    video: { width: { ideal: q.width }, height: { ideal: q.height }, frameRate: { ideal: 30 }, ...(cam ? { deviceId: { exact: cam } } : {}) },
    audio: { echoCancellation: true, noiseSuppression: true, autoGainControl: true, ...(mic ? { deviceId: { exact: mic } } : {}) },
  };
}

async function openDevices() {
  $('#devices-error').hidden = true;
  let stream;
  try {
    stream = await navigator.mediaDevices.getUserMedia(constraints());
  } catch (err) {
    $('#devices-error').hidden = false;
    $('#devices-error').textContent = err.name === 'NotAllowedError'
      ? 'The browser was not allowed to use the camera or microphone. Allow it in the address bar, then try again.'
      : `Could not open the camera or microphone: ${err.message || err.name}`;
    return;
  }
  const old = app.stream;
  app.stream = stream;
  $('#preview').srcObject = stream;
  $('#preview-off').hidden = true;
  if (app.session) {
    for (const sender of app.session.pc.getSenders()) {
      const t = stream.getTracks().find((x) => x.kind === sender.track?.kind);
      if (t) await sender.replaceTrack(t);
    }
  }
  old?.getTracks().forEach((t) => t.stop());
  simulcastDefault();
  await listDevices();
  startMeter(stream);
  $('#start').disabled = false;
}

async function listDevices() {
  const devices = await navigator.mediaDevices.enumerateDevices();
  const fill = (sel, kind, fallback) => {
    const current = app.stream?.getTracks().find((t) => t.kind === (kind === 'videoinput' ? 'video' : 'audio'))?.getSettings().deviceId;
    const list = devices.filter((d) => d.kind === kind);
    sel.replaceChildren(...list.map((d, i) => el('option', { value: d.deviceId, selected: d.deviceId === current }, d.label || `${fallback} ${i + 1}`)));
    sel.disabled = list.length === 0;
  };
  fill($('#camera'), 'videoinput', 'Camera');
  fill($('#mic'), 'audioinput', 'Microphone');
}

function startMeter(stream) {
  app.meter?.close();
  const track = stream.getAudioTracks()[0];
  if (!track) return;
  const ctx = new AudioContext();
  const analyser = ctx.createAnalyser();
  analyser.fftSize = 512;
  ctx.createMediaStreamSource(new MediaStream([track])).connect(analyser);
  const buf = new Float32Array(analyser.fftSize);
  const bar = $('#meter-bar');
  const meter = $('#meter');
  let running = true;
  const tick = () => {
    if (!running) return;
    analyser.getFloatTimeDomainData(buf);
    let peak = 0;
    for (const v of buf) peak = Math.max(peak, Math.abs(v));
    const pct = Math.min(100, Math.round(Math.sqrt(peak) * 100));
    bar.style.width = `${pct}%`;
    meter.setAttribute('aria-valuenow', String(pct));
    requestAnimationFrame(tick);
  };
  requestAnimationFrame(tick);
  app.meter = { close: () => { running = false; ctx.close(); } };
}

/**
 * Simulcast is on by default when the camera gives 720p or more (smaller
 * layers of a smaller picture are too small to help), unless the speaker
 * set it; the hint says which sizes go out.
 */
function simulcastDefault() {
  const h = app.stream?.getVideoTracks()[0]?.getSettings().height || 0;
  if (!app.simulcastSet && h) $('#simulcast').checked = h >= 720;
  const kbps = SIMULCAST.reduce((sum, e) => sum + e.maxBitrate, 0) / 1000;
  const sizes = h ? SIMULCAST.map((e) => `${Math.round(h / e.scaleResolutionDownBy)}p`).reverse() : [];
  $('#simulcast-hint').textContent = h && h < 720 && !app.simulcastSet
    ? `The camera gives ${h}p: simulcast is off by default below 720p.`
    : `Sends ${sizes.length ? `${sizes[0]}, ${sizes[1]} and ${sizes[2]}` : 'three sizes'} (about ${formatRate(kbps)} in all): each viewer gets the one their connection carries.`;
}

$('#simulcast').addEventListener('change', () => {
  app.simulcastSet = true;
  simulcastDefault();
});
$('#devices-on').addEventListener('click', openDevices);
$('#camera').addEventListener('change', openDevices);
$('#mic').addEventListener('change', openDevices);
$('#quality').addEventListener('change', () => app.stream && openDevices());

// ---- publishing ---------------------------------------------------------------

function setState(state, text) {
  $('#status').dataset.state = state;
  $('#status').textContent = text;
  $('#on-air').hidden = state !== 'live';
  $('#start').hidden = app.live;
  $('#stop').hidden = !app.live;
  const box = $('#simulcast');
  box.disabled = app.live; // the offer says it: set before going live
  box.title = app.live ? 'Stop to change this: it applies when you go live' : '';
  document.title = `${state === 'live' ? '● On air · ' : ''}Publish ${room} · relay`;
}

function showError(text) {
  $('#error').hidden = !text;
  $('#error').textContent = text || '';
}

async function goLive() {
  const token = $('#token').value.trim();
  if (!token) {
    $('#token-field').hidden = false;
    $('#token').focus();
    return;
  }
  if (!app.stream) await openDevices();
  if (!app.stream) return;
  showError('');
  app.live = true;
  app.stopper = new AbortController();
  const signal = app.stopper.signal;
  while (app.live && !signal.aborted) {
    setState(app.backoff.attempt ? 'reconnecting' : 'connecting', app.backoff.attempt ? 'Reconnecting…' : 'Connecting…');
    try {
      app.session = await publish({
        url: `/whip/${encodeURIComponent(room)}`, token, stream: app.stream,
        maxBitrateKbps: QUALITY[$('#quality').value].kbps, simulcast: $('#simulcast').checked, signal,
      });
    } catch (err) {
      if (signal.aborted) break;
      if (err.status === 401 || err.status === 403) {
        app.live = false;
        $('#token-field').hidden = false;
        setState('error', 'Token refused');
        showError(`The relay refused this token: ${err.message}`);
        return;
      }
      if (err.status === 406 || err.status === 400) {
        app.live = false;
        setState('error', 'Not accepted');
        showError(`The relay did not accept this browser's stream: ${err.message}`);
        return;
      }
      setState('reconnecting', 'Reconnecting…');
      await sleep(err.retryAfterMs || app.backoff.next(), signal);
      continue;
    }
    const session = app.session;
    app.stats = new StatsSampler(session.pc, showStats, { direction: 'outbound' });
    const connected = () => {
      if (session.pc.connectionState === 'connected') {
        app.backoff.reset();
        setState('live', 'Live');
      }
    };
    session.pc.addEventListener('connectionstatechange', connected);
    connected();
    watchLayers(signal);
    const aborted = new Promise((resolve) => signal.addEventListener('abort', () => resolve('stopped'), { once: true }));
    const why = await Promise.race([session.ended(), aborted]);
    app.stats.stop();
    app.session = null;
    session.close(why === 'stopped');
    if (why === 'stopped') break;
    setState('reconnecting', 'Reconnecting…');
    await sleep(app.backoff.next(), signal);
  }
  setState('idle', 'Stopped');
  clearStats();
}

function stopLive() {
  app.live = false;
  app.stopper?.abort();
  setState('idle', 'Stopped');
}

function showStats(s) {
  $('#s-rate').textContent = formatRate(s.kbps);
  $('#s-pic').textContent = s.width ? `${s.width}×${s.height}${s.fps ? ` · ${Math.round(s.fps)} fps` : ''}` : '–';
  $('#s-rtt').textContent = s.rttMs === null ? '–' : `${Math.round(s.rttMs)} ms`;
  $('#s-loss').textContent = `${(s.loss * 100).toFixed(1)}%`;
}

function clearStats() {
  clearTimeout(app.layersTimer);
  for (const id of ['#s-rate', '#s-pic', '#s-rtt', '#s-loss']) $(id).textContent = '–';
  $('#s-layers').replaceChildren('–');
}

/** Shows the layers the relay gets from this room, every two seconds while live. */
async function watchLayers(signal) {
  clearTimeout(app.layersTimer);
  if (signal.aborted || !app.session) return;
  try {
    showLayers((await fetchRoom(room, signal))?.layers || []);
  } catch {
    // the relay is away: the state says so
  }
  if (!signal.aborted) app.layersTimer = setTimeout(() => watchLayers(signal), 2000);
}

/** "720p 1.4 Mb/s", one line per layer, best first; one stream shows its size. */
function showLayers(layers) {
  const dd = $('#s-layers');
  if (!layers.length) return dd.replaceChildren('–');
  const name = (l) => (l.height ? `${l.height}p` : l.rid || 'Video');
  dd.replaceChildren(...layers.map((l) => el('span', { class: 'layer', dataset: { rid: l.rid } },
    layers.length === 1 && !l.rid ? `${name(l)}, one layer` : name(l),
    ' ', el('span', { class: 'rate' }, formatRate((l.bitrate || 0) / 1000)))));
  dd.title = `The relay receives ${layers.length === 1 ? 'one layer' : `${layers.length} layers`} from this room now`;
}

$('#form').addEventListener('submit', (e) => {
  e.preventDefault();
  if (!app.live) goLive();
});
$('#stop').addEventListener('click', stopLive);
addEventListener('pagehide', () => {
  if (app.live) stopLive();
});

$('#room-name').textContent = room;
$('#watch-link').href = `/watch/${encodeURIComponent(room)}`;
setState('idle', 'Not publishing');
