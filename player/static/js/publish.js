// Publisher page: pick camera and microphone, preview, go live over WHIP
// with a publisher token (as one stream or as three simulcast layers: on by
// default when the camera gives 720p or more), reconnect if the link drops,
// show state, bitrate and the layers the relay gets, stop.

import { fetchRoom } from './api.js';
import { Backoff } from './backoff.js';
import { $, el, roomFromPath, sleep } from './dom.js';
import { init, num, t } from './i18n.js';
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
  // What the page shows, kept to be worded again in another interface language.
  state: 'idle',
  stateWords: null, // () => the status pill's words
  error: null, // () => the error under the form
  devicesError: null, // () => the error over the preview
  lastStats: null,
  layers: [],
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

function showDevicesError(words) {
  app.devicesError = words;
  $('#devices-error').hidden = !words;
  $('#devices-error').textContent = words ? words() : '';
}

async function openDevices() {
  showDevicesError(null);
  let stream;
  try {
    stream = await navigator.mediaDevices.getUserMedia(constraints());
  } catch (err) {
    const reason = err.message || err.name;
    showDevicesError(() => (err.name === 'NotAllowedError' ? t('publish.not_allowed') : t('publish.cannot_open', { reason })));
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
  app.devices = devices;
  const fill = (sel, kind) => {
    const current = app.stream?.getTracks().find((tr) => tr.kind === (kind === 'videoinput' ? 'video' : 'audio'))?.getSettings().deviceId;
    const list = devices.filter((d) => d.kind === kind);
    sel.replaceChildren(...list.map((d, i) => el('option', { value: d.deviceId, selected: d.deviceId === current }, d.label || deviceName(kind, i + 1))));
    sel.disabled = list.length === 0;
  };
  fill($('#camera'), 'videoinput');
  fill($('#mic'), 'audioinput');
}

/** A device the browser gives no name: "Camera 2". */
function deviceName(kind, i) {
  return kind === 'videoinput' ? t('publish.camera_n', { i }) : t('publish.mic_n', { i });
}

/** Words again the unnamed devices of the lists. */
function relabelDevices() {
  for (const [sel, kind] of [[$('#camera'), 'videoinput'], [$('#mic'), 'audioinput']]) {
    const list = (app.devices || []).filter((d) => d.kind === kind);
    for (const o of sel.options) {
      const i = list.findIndex((d) => d.deviceId === o.value);
      if (i >= 0 && !list[i].label) o.textContent = deviceName(kind, i + 1);
    }
  }
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
  const rate = formatRate(kbps);
  $('#simulcast-hint').textContent = h && h < 720 && !app.simulcastSet
    ? t('publish.simulcast_below', { height: `${h}p` })
    : sizes.length ? t('publish.simulcast_sizes', { big: sizes[0], mid: sizes[1], small: sizes[2], rate })
      : t('publish.simulcast_hint', { rate });
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

/** The status pill's words for a state. */
function stateWords(state) {
  switch (state) {
    case 'connecting': return t('publish.st_connecting');
    case 'reconnecting': return t('publish.st_reconnecting');
    case 'live': return t('publish.st_live');
    case 'refused': return t('publish.st_refused');
    case 'error': return t('publish.st_error');
    case 'stopped': return t('publish.st_stopped');
    default: return t('publish.st_idle');
  }
}

/**
 * Shows the publishing state: idle, connecting, reconnecting, live,
 * stopped, or (the pill in red) refused and error.
 */
function setState(state) {
  app.state = state;
  const pill = $('#status');
  pill.dataset.state = state === 'refused' ? 'error' : state === 'stopped' ? 'idle' : state;
  const text = stateWords(state);
  if (pill.textContent !== text) pill.textContent = text;
  $('#on-air').hidden = state !== 'live';
  $('#start').hidden = app.live;
  $('#stop').hidden = !app.live;
  const box = $('#simulcast');
  box.disabled = app.live; // the offer says it: set before going live
  box.title = app.live ? t('publish.simulcast_locked') : '';
  const title = t('publish.doc_title', { room });
  document.title = state === 'live' ? t('publish.doc_title_live', { title }) : title;
}

function showError(words) {
  app.error = words;
  $('#error').hidden = !words;
  $('#error').textContent = words ? words() : '';
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
  showError(null);
  app.live = true;
  app.stopper = new AbortController();
  const signal = app.stopper.signal;
  while (app.live && !signal.aborted) {
    setState(app.backoff.attempt ? 'reconnecting' : 'connecting');
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
        setState('refused');
        showError(() => t('publish.refused', { reason: err.message }));
        return;
      }
      if (err.status === 406 || err.status === 400) {
        app.live = false;
        setState('error');
        showError(() => t('publish.not_accepted', { reason: err.message }));
        return;
      }
      setState('reconnecting');
      await sleep(err.retryAfterMs || app.backoff.next(), signal);
      continue;
    }
    const session = app.session;
    app.stats = new StatsSampler(session.pc, showStats, { direction: 'outbound' });
    const connected = () => {
      if (session.pc.connectionState === 'connected') {
        app.backoff.reset();
        setState('live');
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
    setState('reconnecting');
    await sleep(app.backoff.next(), signal);
  }
  setState('stopped');
  clearStats();
}

function stopLive() {
  app.live = false;
  app.stopper?.abort();
  setState('stopped');
}

function showStats(s) {
  app.lastStats = s;
  $('#s-rate').textContent = formatRate(s.kbps);
  const size = s.width ? `${num(s.width, { useGrouping: false })}×${num(s.height, { useGrouping: false })}` : '';
  $('#s-pic').textContent = !s.width ? '–' : s.fps ? t('publish.picture_fps', { size, fps: num(Math.round(s.fps)) }) : size;
  $('#s-rtt').textContent = s.rttMs === null ? '–' : num(Math.round(s.rttMs), { style: 'unit', unit: 'millisecond' });
  $('#s-loss').textContent = num(s.loss, { style: 'percent', minimumFractionDigits: 1, maximumFractionDigits: 1 });
}

function clearStats() {
  app.lastStats = null;
  app.layers = [];
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
  app.layers = layers;
  const dd = $('#s-layers');
  if (!layers.length) return dd.replaceChildren('–');
  const name = (l) => (l.height ? `${l.height}p` : l.rid || t('publish.video'));
  dd.replaceChildren(...layers.map((l) => el('span', { class: 'layer', dataset: { rid: l.rid } },
    layers.length === 1 && !l.rid ? t('publish.one_layer', { name: name(l) }) : name(l),
    ' ', el('span', { class: 'rate' }, formatRate((l.bitrate || 0) / 1000)))));
  dd.title = t('publish.layers_title', { n: layers.length });
}

$('#form').addEventListener('submit', (e) => {
  e.preventDefault();
  if (!app.live) goLive();
});
$('#stop').addEventListener('click', stopLive);
addEventListener('pagehide', () => {
  if (app.live) stopLive();
});

// A new interface language: word again what this module wrote; the stream
// on air carries on.
document.addEventListener('relay:ui', () => {
  setState(app.state);
  showError(app.error);
  showDevicesError(app.devicesError);
  simulcastDefault();
  relabelDevices();
  if (app.lastStats) showStats(app.lastStats);
  if (app.layers.length) showLayers(app.layers);
});

$('#room-name').textContent = room;
$('#watch-link').href = `/watch/${encodeURIComponent(room)}`;
await init();
setState('idle');
