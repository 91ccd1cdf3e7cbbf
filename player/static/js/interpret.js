// Interpreter console: setup (token and language from the URL or a form),
// the floor heard over WHEP with its delay, the microphone (and camera for
// a sign language) with a level meter, the channel on air over WHIP with a
// cough key and a booth handover, and the channel's state from /api/rooms.

import { fetchRoom } from './api.js';
import { Booth } from './booth.js';
import { HoldKey } from './coughkey.js';
import { $, announce, el, roomFromPath, sleep } from './dom.js';
import { FloorLink } from './floor.js';
import { airWords, floorWords } from './boothwords.js';
import { init, num, t } from './i18n.js';
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
  title: '', // the room's title, once known
  // What the page shows, kept to be worded again in another interface language.
  air: { state: 'off', detail: '' },
  floorState: { state: 'connecting', detail: '' },
  delay: null,
  channel: null, // the last /api/rooms reading of the channel ({ch, live}), or 'unreachable'
  error: null, // () => the device error, in the interface language
  setupError: null,
  roomLangs: [],
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
    if (info?.title) $('#room-name').textContent = app.title = info.title;
    app.roomLangs = [...new Set([...(info?.languages || []), ...(info?.channels || []).map((c) => c.lang)])];
    showRoomLangs();
  } catch {
    // suggestions only
  }
}

function showRoomLangs() {
  $('#room-langs').replaceChildren(...app.roomLangs.map((l) => el('option', { value: l }, label(l))));
}

$('#setup').addEventListener('submit', (e) => {
  e.preventDefault();
  const values = { lang: $('#f-lang').value.trim(), token: $('#f-token').value.trim() };
  try {
    sessionStorage.setItem(tokenKey(values.lang), values.token);
  } catch {
    // kept in memory only
  }
  const q = new URLSearchParams({ lang: values.lang });
  const ui = new URLSearchParams(location.search).get('ui');
  if (ui) q.set('ui', ui);
  history.replaceState(null, '', `${location.pathname}?${q}`);
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
  showLang(lang);
  $('#room-name').textContent = room;
  $('#watch-link').href = `/watch/${encodeURIComponent(room)}?lang=${encodeURIComponent(lang)}`;
  const sign = isSignLanguage(lang);
  $('#camera-field').hidden = !sign;
  $('#camera-on').checked = sign;
  // A sign-language interpreter signs: the microphone stays off unless chosen.
  $('#mic').replaceChildren(...(sign ? [noMicOption(true)] : []), el('option', { value: '' }, t('interpret.default_mic')));

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

/** The language interpreted into, by its own name, in its own direction. */
function showLang(lang) {
  const name = $('#lang-name');
  name.textContent = nativeName(lang);
  name.lang = lang;
  name.dir = dir(lang);
  $('#lang-tag').textContent = lang;
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

/** Shows a device error: words() gives it in the interface language (null: none). */
function showError(words) {
  app.error = words;
  const text = words ? words() : '';
  $('#error').hidden = !text;
  $('#error').textContent = text;
}

function noMicOption(selected) {
  return el('option', { value: NO_MIC, selected }, t('interpret.no_mic'));
}

function wantsCamera() {
  return !$('#camera-field').hidden && $('#camera-on').checked;
}

/** Opens the chosen microphone (and camera); keeps what it cannot replace. */
async function openDevices() {
  showError(null);
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
      const reason = err.message || err.name;
      showError(() => (err.name === 'NotAllowedError' ? t('interpret.mic_not_allowed')
        : wantCam ? t('interpret.cannot_open_devices', { reason }) : t('interpret.cannot_open_mic', { reason })));
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
      if (track !== app.mic && track !== app.camera) return;
      showError(() => (track.kind === 'audio' ? t('interpret.mic_stopped') : t('interpret.camera_stopped')));
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
    const options = list.map((d, i) => el('option', { value: d.deviceId, selected: d.deviceId === current }, d.label || noun(i + 1)));
    sel.replaceChildren(...options, ...extra);
  };
  const sign = !$('#camera-field').hidden;
  // A sign-language interpreter may work without a microphone.
  const noMic = sign ? [noMicOption(!app.mic)] : [];
  fill($('#mic'), 'audioinput', app.mic?.getSettings().deviceId, (i) => t('interpret.mic_n', { i }), noMic);
  fill($('#camera'), 'videoinput', app.camera?.getSettings().deviceId, (i) => t('interpret.camera_n', { i }), []);
  app.devices = devices;
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

function showAir({ state, detail }) {
  app.air = { state, detail };
  renderAir();
  if (state === 'handed-over') announce(t('interpret.handed_over_notice'));
  if (state !== 'on' && state !== 'reconnecting') app.tag = '';
  if (!app.booth?.active) cough.release();
  updateButtons();
}

function renderAir() {
  const { state, detail } = app.air;
  const [status, hint] = airWords(state, detail, !!app.mic);
  const on = state === 'on';
  $('#air').dataset.state = state;
  $('#air-text').textContent = on ? t('interpret.on_air_big') : t('interpret.off_air_big');
  $('#air-detail').textContent = hint;
  const pill = $('#status');
  pill.dataset.state = on ? 'live' : state === 'reconnecting' || state === 'connecting' ? 'reconnecting'
    : state === 'refused' || state === 'error' ? 'error' : 'idle';
  if (pill.textContent !== status) pill.textContent = status;
  const title = app.lang ? t('interpret.doc_title', { lang: nativeName(app.lang), room }) : t('interpret.doc_title_setup');
  document.title = on ? t('interpret.doc_title_on_air', { title }) : title;
}

/** The buttons follow the booth's state and the channel's. */
function updateButtons() {
  const booth = app.booth;
  const active = !!booth?.active;
  const hasMedia = !!(app.mic || app.camera);
  const take = $('#take');
  take.hidden = active;
  take.disabled = !hasMedia;
  const taken = booth?.takenBySomeoneElse();
  setText(take, taken ? t('interpret.take_over') : t('interpret.go_on_air'));
  take.setAttribute('aria-describedby', hasMedia ? 'take-hint' : 'error');
  setText($('#take-hint'), taken
    ? (app.mic ? t('interpret.take_over_hint_mic') : t('interpret.take_over_hint_camera'))
    : (app.mic ? t('interpret.go_on_air_hint_hear') : t('interpret.go_on_air_hint_see')));
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

/** Sets text only when it changes: live regions then speak only of changes. */
function setText(node, text) {
  if (node.textContent !== text) node.textContent = text;
}

function showFloor({ state, detail }) {
  app.floorState = { state, detail };
  $('#floor').dataset.state = state;
  setText($('#floor-state'), floorWords(state, detail));
  if (state !== 'live') showDelay(null);
}

function playFloor(session) {
  const v = $('#floor-video');
  v.srcObject = session ? session.stream : null;
  if (!session) return;
  v.volume = Number($('#floor-volume').value) / 100;
  v.play().then(() => { $('#floor-play').hidden = true; }).catch(() => { $('#floor-play').hidden = false; });
}

function ms(n) {
  return num(Math.round(n), { style: 'unit', unit: 'millisecond', unitDisplay: 'short' });
}

function showDelay(d) {
  app.delay = d;
  $('#delay').textContent = d ? t('interpret.delay_about', { ms: ms(Math.round(d.delayMs / 10) * 10) }) : '–';
  $('#delay').title = !d ? '' : d.rttMs === null ? t('interpret.delay_detail', { jitter: ms(d.jitterMs) })
    : t('interpret.delay_detail_rtt', { jitter: ms(d.jitterMs), rtt: ms(d.rttMs / 2) });
}

function showVolume() {
  $('#floor-volume-value').textContent = num(Number($('#floor-volume').value) / 100, { style: 'percent' });
}

$('#floor-volume').addEventListener('input', (e) => {
  $('#floor-video').volume = Number(e.target.value) / 100;
  showVolume();
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
      app.channel = 'unreachable';
      $('#ch-live').textContent = t('interpret.relay_unreachable');
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
  if (info?.title) $('#room-name').textContent = app.title = info.title;
  app.channel = { ch };
  renderChannel();
  updateButtons();
}

function renderChannel() {
  if (app.channel === 'unreachable') {
    $('#ch-live').textContent = t('interpret.relay_unreachable');
    return;
  }
  const ch = app.channel?.ch;
  if (app.channel === null) return;
  const live = !!ch?.live;
  $('#channel').dataset.live = String(live);
  setText($('#ch-live'), live ? t('interpret.ch_live') : ch ? t('interpret.ch_down') : t('interpret.ch_not_live'));
  setText($('#ch-viewers'), num(ch ? ch.viewers : 0));
  const you = live && app.tag && ch.interpreter === app.tag;
  setText($('#ch-who'), !live ? t('interpret.who_nobody') : you ? t('interpret.who_you')
    : ch.interpreter ? t('interpret.who_partner', { tag: ch.interpreter }) : t('interpret.who_someone'));
  setText($('#ch-level'), typeof ch?.levelDbov === 'number' && live
    ? (ch.levelDbov <= -127 ? t('interpret.level_silent') : t('interpret.level_dbov', { db: num(Math.round(ch.levelDbov)) })) : '–');
}

addEventListener('pagehide', stop);

// A new interface language: word again what this module wrote; the floor
// (WHEP) and the channel on air (WHIP) carry on.
document.addEventListener('relay:ui', () => {
  showRoomLangs();
  showVolume();
  showError(app.error);
  renderAir();
  updateButtons();
  if (!app.booth) return;
  showFloor(app.floorState);
  showDelay(app.delay);
  renderChannel();
  if (app.devices) relabelDevices();
});

/** The device lists' own words (unnamed devices, no microphone) in the new language. */
function relabelDevices() {
  for (const [sel, noun] of [[$('#mic'), (i) => t('interpret.mic_n', { i })], [$('#camera'), (i) => t('interpret.camera_n', { i })]]) {
    const kind = sel.id === 'mic' ? 'audioinput' : 'videoinput';
    const list = app.devices.filter((d) => d.kind === kind);
    for (const o of sel.options) {
      if (o.value === NO_MIC) o.textContent = t('interpret.no_mic');
      else if (o.value === '') o.textContent = sel.id === 'mic' ? t('interpret.default_mic') : t('interpret.default_camera');
      else {
        const i = list.findIndex((d) => d.deviceId === o.value);
        if (i >= 0 && !list[i].label) o.textContent = noun(i + 1);
      }
    }
  }
}

const initial = fromURL();
if (initial.lang) showLang(initial.lang); // a name, not words: it need not wait for the catalogue
await init({ content: initial.lang || undefined });
showAir({ state: 'off', detail: '' });
if (initial.token && initial.lang) start(initial);
else showSetup(initial);
