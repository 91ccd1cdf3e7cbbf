// Watch page: wires playback (WHEP, with the delegate's channel
// selection), captions (socket, store, overlay, native tracks, transcript),
// the one Language choice and its settings (channels.js), the floor under
// the interpretation (floormix.js), the sign-language box (signpip.js),
// the video quality menu (quality.js), reading settings and the connection
// indicator (with the relay's bandwidth estimate). The only state is the
// app object below.

import { fetchRoom, roomLanguages } from './api.js';
import { CaptionFeed } from './captions.js';
import { FLOOR, channelsOf } from './channels.js';
import { CueStore } from './cuestore.js';
import { $, announce, roomFromPath } from './dom.js';
import { FloorMix } from './floormix.js';
import { LanguageChoice } from './language.js';
import { choose, label, match, nativeName } from './langs.js';
import { fillMenu } from './menu.js';
import { CaptionOverlay } from './overlay.js';
import { disclosurePanels } from './panels.js';
import { Playback } from './playback.js';
import { load, save } from './prefs.js';
import { AUTO, QualityChoice } from './quality.js';
import { SignChoice } from './signchoice.js';
import { SignPip } from './signpip.js';
import { formatEstimate, formatRate, quality } from './stats.js';
import { NativeTracks } from './texttracks.js';
import { TranscriptPanel } from './transcript.js';

const params = new URLSearchParams(location.search);
const room = roomFromPath();
const token = params.get('token') || '';
const [queryLang, queryLang2] = (params.get('lang') || '').split(',');

const video = $('#video');
const player = $('#player');
const store = new CueStore();

const app = {
  room,
  store,
  languages: [], // caption languages
  applied: false, // the caption languages were applied once
  primary: null,
  secondary: null,
  secondaryWant: queryLang2 || params.get('lang2') || load('lang2', null),
  captionsOn: load('captionsOn', true),
  reading: { size: 'm', bg: 'translucent', pos: 'bottom', native: false, ...load('reading', {}) },
  userMuted: false, // the delegate chose silence (not the browser's autoplay rule)
  estimateBps: 0, // what the relay estimates this viewer's link carries (0: no estimate)
  feed: new CaptionFeed({ room, token }),
  playback: new Playback({ room, token, audioOnly: load('audioOnly', false) }),
  mix: new FloorMix(),
  overlay: new CaptionOverlay(store, $('#cap-primary'), $('#cap-secondary')),
  tracks: new NativeTracks(video, store, (l) => nativeName(l)),
  transcript: new TranscriptPanel({
    store, room, token,
    list: $('#transcript-lines'),
    partial: $('#transcript-partial'),
    jump: $('#jump'),
    empty: $('#transcript-empty'),
    downloads: { srt: $('#dl-srt'), vtt: $('#dl-vtt') },
  }),
};
// What the delegate asked for: language, the Language choice (?lang=, or
// the last pick; null once sound or subtitles were set apart); audio, the
// sound picked apart; caption, the subtitles wanted.
app.language = new LanguageChoice({
  playback: app.playback, select: $('#language'), audioSelect: $('#audio'), notice: $('#channel-notice'),
  captions: { languages: () => app.languages, primary: () => app.primary, pick: pickCaptions },
  intent: { language: queryLang || load('language', null), audio: load('audio', FLOOR), caption: queryLang || load('lang', null) },
});
app.sign = new SignChoice({
  playback: app.playback,
  pip: new SignPip({ box: $('#sign-pip'), video: $('#sign-video'), bounds: player }),
  button: $('#sign'), field: $('#sign-field'), select: $('#sign-lang'), off: $('#sign-off'),
});
app.quality = new QualityChoice({ playback: app.playback, select: $('#quality'), field: $('#quality-field'), picture: video });
$('#sign-close').addEventListener('click', () => {
  app.sign.toggle(false);
  $('#sign').focus();
});
app.mix.bindSlider($('#floor-mix'), $('#floor-mix-value'));
disclosurePanels([[$('#lang-more'), $('#channel-panel')], [$('#settings'), $('#reading')]]);

app.feed.addEventListener('backlog', (e) => store.backlog(e.detail.lang, e.detail.cues));
app.feed.addEventListener('cue', (e) => store.apply(e.detail));
app.feed.addEventListener('state', (e) => e.detail === 'reconnecting' && store.clearPartials());

// ---- state -----------------------------------------------------------------

const STATES = {
  connecting: ['Connecting…', 'This page connects by itself; there is no need to reload.'],
  waiting: ['Waiting for the session to start', 'Playback starts by itself as soon as the session begins.'],
  paused: ['Waiting for the session to resume', 'The room’s video feed has paused. It resumes here by itself.'],
  live: ['Live', ''],
  reconnecting: ['Reconnecting…', 'The connection was interrupted. Reconnecting automatically.'],
  busy: ['The relay is full', 'Too many viewers right now. Retrying automatically.'],
  unsupported: ['This browser cannot play this stream', 'Try an up-to-date Chrome, Edge, Firefox or Safari. Captions still work.'],
  stopped: ['Stopped', ''],
};

function showState(state) {
  const [text, hint] = STATES[state] || STATES.connecting;
  const status = $('#status');
  status.dataset.state = state;
  status.textContent = text;
  $('#notice-text').textContent = text;
  $('#notice-hint').textContent = hint;
  const live = state === 'live';
  $('#notice').hidden = live;
  $('#notice').dataset.state = state;
  player.dataset.state = state;
  document.title = `${live ? '● ' : ''}${$('#title').textContent} · relay`;
}

app.playback.addEventListener('state', (e) => showState(e.detail.state));
app.playback.addEventListener('room', (e) => e.detail && roomInfo(e.detail));
app.playback.addEventListener('session', (e) => {
  const s = e.detail;
  $('#net').hidden = !s;
  updateSound();
  app.mix.setTrack(s?.floor?.getAudioTracks()[0] || null);
  app.language.renderAir();
  app.sign.render();
  if (!s) {
    app.estimateBps = 0;
    app.quality.setPlaying(null);
    return;
  }
  app.tracks.reset();
  video.srcObject = s.stream;
  startPlayback();
});
app.playback.addEventListener('stats', (e) => showStats(e.detail));
app.playback.addEventListener('playing', (e) => {
  const playing = e.detail?.playing || {};
  if (typeof playing.audio === 'string') app.language.setPlaying(playing.audio);
  if (typeof playing.sign === 'string') app.sign.setPlaying(playing.sign);
  app.quality.setPlaying(playing);
  const bps = Number(e.detail?.estimateBps);
  app.estimateBps = Number.isFinite(bps) && bps > 0 ? bps : 0;
});
app.playback.addEventListener('refused', (e) => {
  const { change } = e.detail;
  if ('audio' in change && change.audio !== FLOOR) app.language.refused(change.audio);
  if ('sign' in change && change.sign) app.sign.refused(change.sign);
  if ('video' in change && change.video !== AUTO) app.quality.refused(change.video);
});

// ---- sound -----------------------------------------------------------------

async function startPlayback() {
  if (!app.userMuted) {
    video.muted = false;
    try {
      await video.play();
      app.mix.resume();
      return updateSound();
    } catch {
      // no sound without a gesture on this browser: fall back to muted
    }
  }
  video.muted = true;
  try {
    await video.play();
  } catch {
    // a newer stream replaced this one
  }
  updateSound();
}

function updateSound() {
  app.mix.setOutput({ volume: video.volume, muted: video.muted });
  const muted = video.muted || video.volume === 0;
  $('#mute-label').textContent = muted ? 'Unmute' : 'Mute';
  $('#mute').setAttribute('aria-label', muted ? 'Unmute' : 'Mute'); // the label hides on a phone
  $('#mute').classList.toggle('muted', muted);
  $('#unmute').hidden = !(muted && !app.userMuted && app.playback.session);
}

function setMuted(muted) {
  app.userMuted = muted;
  video.muted = muted;
  if (!muted && video.volume === 0) video.volume = 0.5;
  if (video.paused && video.srcObject) video.play().catch(() => {});
  if (!muted) app.mix.resume(); // a gesture: the floor mix may start too
  updateSound();
}

$('#mute').addEventListener('click', () => setMuted(!video.muted));
$('#unmute').addEventListener('click', () => setMuted(false));
$('#volume').addEventListener('input', (e) => {
  video.volume = Number(e.target.value);
  if (video.volume > 0 && video.muted) setMuted(false);
  else updateSound();
});
video.addEventListener('volumechange', updateSound);
// Any gesture lets the floor mix's audio start (autoplay rules).
for (const type of ['pointerdown', 'keydown']) addEventListener(type, () => app.mix.resume(), { capture: true });
video.addEventListener('playing', () => app.playback.mediaStarted());

// ---- languages -------------------------------------------------------------

function roomInfo(info) {
  $('#title').textContent = info.title || info.name;
  const viewers = $('#viewers');
  viewers.hidden = info.state !== 'live' || !info.viewers;
  viewers.textContent = `${info.viewers} watching`;
  document.title = `${info.state === 'live' && app.playback.state === 'live' ? '● ' : ''}${info.title || info.name} · relay`;
  app.languages = roomLanguages(info);
  app.language.setRoom(info);
  app.sign.setChannels(channelsOf(info, 'sign'));
  app.quality.setLayers(info.layers);
}

/** Shows captions in want when the room has them (else keeps what shows, or the best other). */
function pickCaptions(want) {
  const avail = app.languages;
  const primary = match(want, avail) || (avail.includes(app.primary) ? app.primary : null) ||
    choose(avail, { query: app.language.intent.caption, stored: load('lang', null), browser: navigator.languages });
  let secondary = match(app.secondaryWant, avail);
  if (secondary === primary) secondary = null;
  fillSelects(primary, secondary);
  if (primary !== app.primary || secondary !== app.secondary || !app.applied) applyLanguages(primary, secondary);
}

function fillSelects(primary, secondary) {
  const sel = $('#lang');
  const sel2 = $('#lang2');
  if (!app.languages.length) {
    fillMenu(sel, [['', 'No subtitles yet']]);
    sel.disabled = true;
  } else {
    fillMenu(sel, app.languages.map((l) => [l, nativeName(l), l]));
    sel.disabled = false;
    sel.value = primary;
  }
  fillMenu(sel2, [['', '+ second language'], ...app.languages.filter((l) => l !== primary).map((l) => [l, `+ ${nativeName(l)}`, l])]);
  sel2.value = secondary || '';
  sel2.closest('label').hidden = app.languages.length < 2;
}

function applyLanguages(primary, secondary) {
  app.applied = true;
  app.primary = primary;
  app.secondary = secondary;
  const shown = app.captionsOn ? [primary, secondary] : [primary];
  app.feed.setLanguages(shown.filter(Boolean));
  app.overlay.setLanguages(app.captionsOn ? primary : null, app.captionsOn ? secondary : null);
  app.transcript.setLanguage(primary);
  updateNativeTracks();
  $('#transcript-lang').textContent = primary ? nativeName(primary) : '';
  $('#transcript-lang').lang = primary || '';
  $('#transcript-empty').textContent = primary ? 'Captions appear here as they are spoken.' : 'This session has no subtitles yet. They appear here when a captioner starts.';
}

$('#lang').addEventListener('change', (e) => {
  const primary = e.target.value;
  save('lang', primary);
  if (app.secondaryWant === primary) app.secondaryWant = null;
  app.language.setApart({ caption: primary });
  announce(`Captions: ${label(primary)}`);
});
$('#lang2').addEventListener('change', (e) => {
  app.secondaryWant = e.target.value || null;
  save('lang2', app.secondaryWant);
  pickCaptions(app.primary);
});

// ---- caption display -------------------------------------------------------

function updateNativeTracks() {
  const native = app.reading.native || document.fullscreenElement === video;
  player.classList.toggle('native-captions', native);
  player.classList.toggle('captions-off', !app.captionsOn);
  app.tracks.setLanguages(app.captionsOn ? [app.primary, app.secondary] : [], native && app.captionsOn);
}

function setCaptions(on) {
  app.captionsOn = on;
  save('captionsOn', on);
  $('#cc').setAttribute('aria-pressed', String(on));
  $('#cc').textContent = on ? 'Captions on' : 'Captions off';
  applyLanguages(app.primary, app.secondary);
}
$('#cc').addEventListener('click', () => setCaptions(!app.captionsOn));

function applyReading() {
  const r = app.reading;
  player.dataset.size = r.size;
  player.dataset.bg = r.bg;
  player.dataset.pos = r.pos;
  const form = $('#reading');
  for (const name of ['size', 'bg', 'pos']) {
    const input = form.querySelector(`input[name="${name}"][value="${r[name]}"]`);
    if (input) input.checked = true;
  }
  form.elements.native.checked = !!r.native;
  updateNativeTracks();
}
$('#reading').addEventListener('change', () => {
  const f = $('#reading').elements;
  app.reading = { size: f.size.value, bg: f.bg.value, pos: f.pos.value, native: f.native.checked };
  save('reading', app.reading);
  applyReading();
});

// ---- view ------------------------------------------------------------------

function setAudioOnly(on) {
  save('audioOnly', on);
  $('#audio-only').setAttribute('aria-pressed', String(on));
  $('#audio-card').hidden = !on;
  player.classList.toggle('audio-only', on);
  app.playback.setAudioOnly(on);
  app.sign.reconcile(); // no sign-language video without video
  app.quality.render();
}
$('#audio-only').addEventListener('click', () => setAudioOnly(!app.playback.audioOnly));

function toggleFullscreen() {
  if (document.fullscreenElement) document.exitFullscreen().catch(() => {});
  else player.requestFullscreen?.().catch(() => {});
}
$('#fullscreen').addEventListener('click', toggleFullscreen);
document.addEventListener('fullscreenchange', () => {
  $('#fullscreen').setAttribute('aria-label', document.fullscreenElement ? 'Exit full screen' : 'Full screen');
  updateNativeTracks();
});

function showStats(s) {
  const net = $('#net');
  if (!s.flowing) {
    net.dataset.q = 'none';
    $('#net-text').textContent = 'No media';
    return;
  }
  const q = quality(s);
  net.dataset.q = q;
  const parts = [formatRate(s.kbps), `${(s.loss * 100).toFixed(s.loss < 0.1 ? 1 : 0)}% loss`];
  if (s.rttMs !== null) parts.push(`${Math.round(s.rttMs)} ms`);
  const estimate = formatEstimate(app.estimateBps);
  if (estimate) parts.push(estimate);
  let text = parts.join(' · ');
  if (q === 'poor' && !app.playback.audioOnly) text += ' · try Audio only';
  $('#net-text').textContent = text;
  const detail = [`Bitrate ${formatRate(s.kbps)}`, `Packet loss ${(s.loss * 100).toFixed(1)}%`];
  if (s.rttMs !== null) detail.push(`Round trip ${Math.round(s.rttMs)} ms`);
  if (s.delayMs !== null) detail.push(`Playout buffer ${Math.round(s.delayMs)} ms`);
  if (s.width) detail.push(`${s.width}×${s.height}${s.fps ? ` at ${Math.round(s.fps)} fps` : ''}`);
  if (estimate) detail.push(`Your link: ${estimate}, by the relay's estimate`);
  net.title = detail.join('\n');
  net.setAttribute('aria-label', `Connection ${q}: ${detail.join(', ')}`);
}

document.addEventListener('keydown', (e) => {
  if (e.ctrlKey || e.metaKey || e.altKey || e.target.closest('input, select, textarea')) return;
  const k = e.key.toLowerCase();
  if (k === 'm') setMuted(!video.muted);
  else if (k === 'c') setCaptions(!app.captionsOn);
  else if (k === 'f') toggleFullscreen();
  else return;
  e.preventDefault();
});

// ---- room info -------------------------------------------------------------

async function watchRoom() {
  try {
    const info = await fetchRoom(room);
    if (info) {
      roomInfo(info);
      app.playback.checkTracks(info);
      $('#title').dataset.known = '1';
    } else if (!$('#title').dataset.known) {
      $('#title').textContent = room;
    }
  } catch {
    // the relay is away; playback reports it
  }
  // Listening to an interpreter (or watching one): often, so that a booth
  // going off air is said within seconds.
  const channel = app.language.audio !== FLOOR || app.sign.sign;
  setTimeout(watchRoom, channel || !app.languages.length ? 3000 : 10000);
}

addEventListener('pagehide', () => {
  app.playback.stop();
  app.feed.close();
});

$('#title').textContent = room;
$('#cc').setAttribute('aria-pressed', String(app.captionsOn));
$('#cc').textContent = app.captionsOn ? 'Captions on' : 'Captions off';
applyReading();
app.language.reconcile();
setAudioOnly(app.playback.audioOnly);
showState('connecting');
updateSound();
watchRoom();
app.playback.start();
