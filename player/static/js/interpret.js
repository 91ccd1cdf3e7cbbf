// Interpreter console: setup (token and language from the URL or a form),
// the floor heard over WHEP with its delay, the microphone (and camera for
// a sign language) with a level meter, the channel on air over WHIP with a
// cough key and a booth handover, and the channel's state from /api/rooms.

import { fetchRoom } from './api.js';
import { Booth } from './booth.js';
import { HoldKey } from './coughkey.js';
import { $, announce, el, roomFromPath, sleep } from './dom.js';
import { FloorLink } from './floor.js';
import { dir, label, nativeName } from './langs.js';
import { LevelMeter } from './levelmeter.js';

const room = roomFromPath();
// A token is for one room and one language.
const tokenKey = (lang) => `relay.interpret.token.${room}.${lang}`;
const SIGN = new Set(['ase', 'bfi', 'fsl', 'gsg', 'ils', 'jsl', 'csl', 'asf', 'nzs', 'isg', 'ssp']);
const NO_MIC = 'none';

const app = {
  room,
  lang: '',
  token: '',
  booth: null,
  floor: null,
  meter: null,
  mic: null, // the microphone track (the meter reads it; the booth sends a copy)
  camera: null, // the camera track of a sign-language interpreter
  polling: null, // AbortController of the channel poll
  tag: '', // this console's session on the relay, once known
};

/** Sign languages: the tags of the contract, and anything under sgn-. */
function isSignLanguage(tag) {
  const t = tag.toLowerCase();
  return SIGN.has(t.split('-')[0]) || t.startsWith('sgn-');
}

// ---- setup ------------------------------------------------------------------

/** Token and language from the URL; the token then leaves the address bar. */
function fromURL() {
  const q = new URLSearchParams(location.search);
  const lang = (q.get('lang') || '').trim();
  let token = q.get('token') || '';
  try {
    if (token) sessionStorage.setItem(tokenKey(lang), token);
    else token = sessionStorage.getItem(tokenKey(lang)) || '';
  } catch {
    // no storage: the token lasts this page
  }
  if (q.has('token')) {
    q.delete('token');
    history.replaceState(null, '', `${location.pathname}${q.size ? `?${q}` : ''}`);
  }
  return { token, lang };
}

async function showSetup(values, error = '') {
  $('#desk').hidden = true;
  $('#setup').hidden = false;
  $('#f-lang').value = values.lang || '';
  $('#f-token').value = values.token || '';
  $('#setup-error').hidden = !error;
  $('#setup-error').textContent = error;
  (values.lang ? $('#f-token') : $('#f-lang')).focus();
  $('#room-name').textContent = room;
  try {
    const info = await fetchRoom(room);
    if (info?.title) $('#room-name').textContent = info.title;
    const langs = new Set([...(info?.languages || []), ...(info?.channels || []).map((c) => c.lang)]);
    $('#room-langs').replaceChildren(...[...langs].map((l) => el('option', { value: l }, label(l))));
  } catch {
    // suggestions only
  }
}

$('#setup').addEventListener('submit', (e) => {
  e.preventDefault();
  const values = { lang: $('#f-lang').value.trim(), token: $('#f-token').value.trim() };
  try {
    sessionStorage.setItem(tokenKey(values.lang), values.token);
  } catch {
    // kept in memory only
  }
  history.replaceState(null, '', `${location.pathname}?${new URLSearchParams({ lang: values.lang })}`);
  start(values);
});

$('#switch').addEventListener('click', () => {
  const values = { lang: app.lang, token: app.token };
  stop();
  showSetup(values);
});

// ---- the desk ---------------------------------------------------------------

function start({ lang, token }) {
  app.lang = lang;
  app.token = token;
  $('#setup').hidden = true;
  $('#desk').hidden = false;
  const name = $('#lang-name');
  name.textContent = nativeName(lang);
  name.lang = lang;
  name.dir = dir(lang);
  $('#lang-tag').textContent = lang;
  $('#room-name').textContent = room;
  $('#watch-link').href = `/watch/${encodeURIComponent(room)}?lang=${encodeURIComponent(lang)}`;
  document.title = `Interpreting into ${nativeName(lang)} · ${room} · relay`;
  const sign = isSignLanguage(lang);
  $('#camera-field').hidden = !sign;
  $('#camera-on').checked = sign;
  // A sign-language interpreter signs: the microphone stays off unless chosen.
  $('#mic').replaceChildren(...(sign ? [el('option', { value: NO_MIC, selected: true }, 'No microphone')] : []),
    el('option', { value: '' }, 'Default microphone'));

  app.booth = new Booth({ room, lang, token });
  app.booth.addEventListener('state', (e) => showAir(e.detail));
  app.booth.addEventListener('tag', (e) => { app.tag = e.detail; });
  showAir({ state: 'off', detail: '' });

  app.floor = new FloorLink({ room, token });
  app.floor.addEventListener('state', (e) => showFloor(e.detail));
  app.floor.addEventListener('session', (e) => playFloor(e.detail));
  app.floor.addEventListener('delay', (e) => showDelay(e.detail));
  app.floor.start();

  app.polling = new AbortController();
  pollChannel(app.polling.signal);
  openDevices().then(() => {
    if (document.activeElement === document.body) $('#take').focus();
  });
}

function stop() {
  app.booth?.goOffAir();
  app.booth = null;
  app.floor?.stop();
  app.floor = null;
  app.polling?.abort();
  app.meter?.close();
  app.meter = null;
  app.mic?.stop();
  app.camera?.stop();
  app.mic = app.camera = null;
  app.tag = '';
}

// ---- devices ----------------------------------------------------------------

function showError(text) {
  $('#error').hidden = !text;
  $('#error').textContent = text || '';
}

function wantsCamera() {
  return !$('#camera-field').hidden && $('#camera-on').checked;
}

/** Opens the chosen microphone (and camera); keeps what it cannot replace. */
async function openDevices() {
  showError('');
  const micId = $('#mic').value;
  const camId = $('#camera').value;
  const wantMic = micId !== NO_MIC;
  const wantCam = wantsCamera();
  $('#camera-pick').hidden = !wantCam;
  $('#preview').hidden = !wantCam;
  let stream = null;
  if (wantMic || wantCam) {
    try {
      stream = await navigator.mediaDevices.getUserMedia({
        audio: wantMic && { echoCancellation: true, noiseSuppression: true, autoGainControl: true, ...(micId ? { deviceId: { exact: micId } } : {}) },
        video: wantCam && { width: { ideal: 1280 }, height: { ideal: 720 }, frameRate: { ideal: 30 }, ...(camId ? { deviceId: { exact: camId } } : {}) },
      });
    } catch (err) {
      showError(err.name === 'NotAllowedError'
        ? 'The browser was not allowed to use the microphone. Allow it in the address bar, then choose the microphone again.'
        : `Could not open the ${wantCam ? 'camera or microphone' : 'microphone'}: ${err.message || err.name}`);
      updateButtons();
      return;
    }
  }
  const mic = stream?.getAudioTracks()[0] || null;
  const cam = stream?.getVideoTracks()[0] || null;
  if (app.booth?.active) {
    if (mic) await app.booth.replace(mic);
    if (cam) await app.booth.replace(cam);
  }
  app.mic?.stop();
  app.camera?.stop();
  app.mic = mic;
  app.camera = cam;
  for (const track of [mic, cam]) {
    track?.addEventListener('ended', () => {
      if (track === app.mic || track === app.camera) showError(`The ${track.kind === 'audio' ? 'microphone' : 'camera'} stopped (unplugged, or taken by another program). Choose it again below.`);
    });
  }
  app.meter?.close();
  app.meter = mic ? new LevelMeter(mic, { meter: $('#meter'), bar: $('#meter-bar'), label: $('#meter-db') }) : null;
  $('#meter').hidden = !mic;
  $('#preview').srcObject = cam ? new MediaStream([cam]) : null;
  await listDevices();
  updateButtons();
}

async function listDevices() {
  const devices = await navigator.mediaDevices.enumerateDevices();
  const fill = (sel, kind, current, noun, extra) => {
    const list = devices.filter((d) => d.kind === kind);
    const options = list.map((d, i) => el('option', { value: d.deviceId, selected: d.deviceId === current }, d.label || `${noun} ${i + 1}`));
    sel.replaceChildren(...options, ...extra);
  };
  const sign = !$('#camera-field').hidden;
  // A sign-language interpreter may work without a microphone.
  const noMic = sign ? [el('option', { value: NO_MIC, selected: !app.mic }, 'No microphone')] : [];
  fill($('#mic'), 'audioinput', app.mic?.getSettings().deviceId, 'Microphone', noMic);
  fill($('#camera'), 'videoinput', app.camera?.getSettings().deviceId, 'Camera', []);
}

$('#mic').addEventListener('change', openDevices);
$('#camera').addEventListener('change', openDevices);
$('#camera-on').addEventListener('change', openDevices);

// A page opened from a link has had no gesture yet: its AudioContext waits
// for the first one.
for (const type of ['pointerdown', 'keydown']) {
  addEventListener(type, () => {
    app.meter?.resume();
    const v = $('#floor-video');
    if (v.srcObject && v.paused) v.play().catch(() => {});
  }, { capture: true });
}

// ---- on air -----------------------------------------------------------------

const AIR = {
  off: ['OFF AIR', 'Off air', 'Not on air. Go on air when your turn starts.'],
  connecting: ['OFF AIR', 'Going on air…', 'Connecting to the relay…'],
  on: ['ON AIR', 'On air', 'Delegates who chose this language {hear} you.'],
  reconnecting: ['OFF AIR', 'Reconnecting…', 'The link dropped: going back on air by itself.'],
  'handed-over': ['OFF AIR', 'Handed over', 'Your partner has taken over the channel.'],
  refused: ['OFF AIR', 'Token refused', ''],
  error: ['OFF AIR', 'Not accepted', ''],
};

function showAir({ state, detail }) {
  const [big, status, hint] = AIR[state] || AIR.off;
  const on = state === 'on';
  $('#air').dataset.state = state;
  $('#air-text').textContent = big;
  $('#air-detail').textContent = state === 'refused' ? `The relay refused this token: ${detail}`
    : state === 'error' ? `The relay did not accept this browser's stream: ${detail}` : hint.replace('{hear}', verb());
  const pill = $('#status');
  pill.dataset.state = on ? 'live' : state === 'reconnecting' || state === 'connecting' ? 'reconnecting'
    : state === 'refused' || state === 'error' ? 'error' : 'idle';
  pill.textContent = status;
  document.title = `${on ? '● ON AIR · ' : ''}Interpreting into ${nativeName(app.lang)} · ${room} · relay`;
  if (state === 'handed-over') announce('Handed over: your partner is on air. You are off air.');
  if (state !== 'on' && state !== 'reconnecting') app.tag = '';
  if (!app.booth?.active) cough.release();
  updateButtons();
}

/** What delegates do with this console's media. */
function verb() {
  return app.mic ? 'hear' : 'see';
}

/** The buttons follow the booth's state and the channel's. */
function updateButtons() {
  const booth = app.booth;
  const active = !!booth?.active;
  const hasMedia = !!(app.mic || app.camera);
  const take = $('#take');
  take.hidden = active;
  take.disabled = !hasMedia;
  take.textContent = booth?.takenBySomeoneElse() ? 'Take over' : 'Go on air';
  take.setAttribute('aria-describedby', hasMedia ? 'take-hint' : 'error');
  $('#take-hint').textContent = booth?.takenBySomeoneElse()
    ? `Your partner is on air: the channel passes to you as soon as your ${app.mic ? 'microphone' : 'camera'} reaches the relay.`
    : `Delegates who chose this language ${verb()} you at once.`;
  $('#off').hidden = !active;
  $('#cough').disabled = !active || !app.mic;
  // Kinds cannot change on air: the relay keeps the session's tracks.
  $('#camera-on').disabled = active;
  $('#mic').querySelector(`option[value="${NO_MIC}"]`)?.toggleAttribute('disabled', active);
}

$('#take').addEventListener('click', () => {
  const tracks = [app.mic, app.camera].filter(Boolean);
  if (!app.booth || !tracks.length) return;
  app.booth.goOnAir(tracks);
  $('#off').focus();
});
$('#off').addEventListener('click', () => {
  app.booth?.goOffAir();
  $('#take').focus();
});

// ---- cough key: held down, the sent audio is silent ---------------------------

const cough = new HoldKey($('#cough'), (held) => {
  $('#meter').dataset.muted = String(held);
  app.booth?.cough(held);
});

// ---- the floor ----------------------------------------------------------------

const FLOOR = {
  connecting: 'Connecting…',
  waiting: 'Not live yet: you will hear it as soon as it starts',
  live: 'Live',
  reconnecting: 'Reconnecting…',
  refused: 'Token refused',
  stopped: 'Stopped',
};

function showFloor({ state, detail }) {
  $('#floor').dataset.state = state;
  $('#floor-state').textContent = state === 'refused' ? `${FLOOR.refused}: ${detail}` : FLOOR[state] || state;
  if (state !== 'live') showDelay(null);
}

function playFloor(session) {
  const v = $('#floor-video');
  v.srcObject = session ? session.stream : null;
  if (!session) return;
  v.volume = Number($('#floor-volume').value) / 100;
  v.play().then(() => { $('#floor-play').hidden = true; }).catch(() => { $('#floor-play').hidden = false; });
}

function showDelay(d) {
  $('#delay').textContent = d ? `~${Math.round(d.delayMs / 10) * 10} ms` : '–';
  $('#delay').title = d ? `jitter buffer ${Math.round(d.jitterMs)} ms${d.rttMs === null ? '' : `, half the round trip ${Math.round(d.rttMs / 2)} ms`}` : '';
}

$('#floor-volume').addEventListener('input', (e) => {
  $('#floor-video').volume = Number(e.target.value) / 100;
  $('#floor-volume-value').textContent = `${e.target.value} %`;
});
$('#floor-play').addEventListener('click', () => {
  $('#floor-video').play().then(() => { $('#floor-play').hidden = true; }).catch(() => {});
});
$('#floor-video').addEventListener('playing', () => {
  $('#floor-play').hidden = true;
  app.floor?.mediaStarted();
});

// ---- the channel, from /api/rooms -----------------------------------------------

async function pollChannel(signal) {
  while (!signal.aborted) {
    const startedAt = performance.now();
    try {
      showChannel(await fetchRoom(room, signal), startedAt);
    } catch {
      if (signal.aborted) return;
      $('#ch-live').textContent = 'Relay unreachable';
    }
    await sleep(1000, signal);
  }
}

function showChannel(info, startedAt) {
  // A sign-language interpreter's channel is the video, anyone else's the audio.
  const kind = wantsCamera() ? 'sign' : 'audio';
  const lang = app.lang.toLowerCase();
  const ch = (info?.channels || []).find((c) => c.lang.toLowerCase() === lang && c.kind === kind) || null;
  app.booth?.observe(ch, startedAt);
  if (info?.title) $('#room-name').textContent = info.title;
  const live = !!ch?.live;
  $('#channel').dataset.live = String(live);
  $('#ch-live').textContent = live ? 'Live' : ch ? 'Down: delegates hear the floor' : 'Not live yet';
  $('#ch-viewers').textContent = ch ? String(ch.viewers) : '0';
  const you = live && app.tag && ch.interpreter === app.tag;
  $('#ch-who').textContent = !live ? 'Nobody' : you ? 'You' : ch.interpreter ? `Your partner (${ch.interpreter})` : 'Someone';
  $('#ch-level').textContent = typeof ch?.levelDbov === 'number' && live
    ? (ch.levelDbov <= -127 ? 'silent' : `${Math.round(ch.levelDbov)} dBov`) : '–';
  updateButtons();
}

addEventListener('pagehide', stop);

const initial = fromURL();
if (initial.token && initial.lang) start(initial);
else showSetup(initial);
