// Watch page: wires playback (WHEP, with the delegate's channel
// selection), captions (socket, store, overlay, native tracks, transcript),
// the one Language choice and its settings (channels.js), the floor under
// the interpretation (floormix.js), the sign-language box (signpip.js),
// the video quality menu (quality.js), reading settings and the connection
// indicator (with the relay's bandwidth estimate), all in the interface
// language (i18n.js; again when the delegate switches it: playback goes
// on). The only state is the app object below.

import { fetchRoom, roomLanguages } from './api.js';
import { CaptionAnnouncer } from './captionlive.js';
import { CaptionFeed } from './captions.js';
import { FLOOR, channelsOf } from './channels.js';
import { CueStore } from './cuestore.js';
import { $, announce, roomFromPath } from './dom.js';
import { FloorMix } from './floormix.js';
import { init, num, t } from './i18n.js';
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
import { formatEstimate, formatRate, quality, qualityWord } from './stats.js';
import { NativeTracks } from './texttracks.js';
import { TranscriptPanel } from './transcript.js';

const params = new URLSearchParams(location.search);
const room = roomFromPath();
const token = params.get('token') || '';
const [queryLang, queryLang2] = (params.get('lang') || '').split(',');

// The interface defaults to the caption language the delegate asked for.
await init({ content: queryLang || load('lang', null) });

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
  announcer: new CaptionAnnouncer(store, $('#caption-live')),
  lastInfo: null, // the last room info (the viewer count is rendered from it)
  lastStats: null, // the last stats sample (the connection indicator)
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

/** What the player says in a playback state: [status, hint]. */
function stateText(state) {
  switch (state) {
    case 'waiting': return [t('watch.state_waiting'), t('watch.state_waiting_hint')];
    case 'paused': return [t('watch.state_paused'), t('watch.state_paused_hint')];
    case 'live': return [t('watch.state_live'), ''];
    case 'reconnecting': return [t('watch.state_reconnecting'), t('watch.state_reconnecting_hint')];
    case 'busy': return [t('watch.state_busy'), t('watch.state_busy_hint')];
    case 'unsupported': return [t('watch.state_unsupported'), t('watch.state_unsupported_hint')];
    case 'stopped': return [t('watch.state_stopped'), ''];
    default: return [t('watch.state_connecting'), t('watch.state_connecting_hint')];
  }
}

function showState(state) {
  const [text, hint] = stateText(state);
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
  app.lastStats = null;
  showStats(null);
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
  const name = muted ? t('watch.unmute') : t('watch.mute');
  $('#mute-label').textContent = name;
  $('#mute').setAttribute('aria-label', name); // the label hides on a phone
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
  app.lastInfo = info;
  $('#title').textContent = info.title || info.name;
  showViewers();
  document.title = `${info.state === 'live' && app.playback.state === 'live' ? '● ' : ''}${info.title || info.name} · relay`;
  app.languages = roomLanguages(info);
  app.language.setRoom(info);
  app.sign.setChannels(channelsOf(info, 'sign'));
  app.quality.setLayers(info.layers);
}

function showViewers() {
  const info = app.lastInfo;
  const viewers = $('#viewers');
  viewers.hidden = !info || info.state !== 'live' || !info.viewers;
  if (info) viewers.textContent = t('watch.viewers', { n: info.viewers || 0 });
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
    fillMenu(sel, [['', t('watch.no_subtitles_yet')]]);
    sel.disabled = true;
  } else {
    fillMenu(sel, app.languages.map((l) => [l, nativeName(l), l]));
    sel.disabled = false;
    sel.value = primary;
  }
  const others = app.languages.filter((l) => l !== primary);
  fillMenu(sel2, [['', t('watch.add_second_language')], ...others.map((l) => [l, t('watch.add_language', { lang: nativeName(l) }), l])]);
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
  app.announcer.setLanguage(app.captionsOn ? primary : null);
  app.transcript.setLanguage(primary);
  updateNativeTracks();
  $('#transcript-lang').textContent = primary ? nativeName(primary) : '';
  $('#transcript-lang').lang = primary || '';
  showTranscriptEmpty();
}

function showTranscriptEmpty() {
  $('#transcript-empty').textContent = app.primary ? t('watch.transcript_empty') : t('watch.transcript_no_subtitles');
}

$('#lang').addEventListener('change', (e) => {
  const primary = e.target.value;
  save('lang', primary);
  if (app.secondaryWant === primary) app.secondaryWant = null;
  app.language.setApart({ caption: primary });
  announce(t('watch.captions_announce', { lang: label(primary) }));
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
  showCaptionsButton();
  applyLanguages(app.primary, app.secondary);
}

function showCaptionsButton() {
  $('#cc').setAttribute('aria-pressed', String(app.captionsOn));
  $('#cc').textContent = app.captionsOn ? t('watch.captions_on') : t('watch.captions_off');
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
function showFullscreenButton() {
  $('#fullscreen').setAttribute('aria-label', document.fullscreenElement ? t('watch.fullscreen_exit') : t('watch.fullscreen'));
}
document.addEventListener('fullscreenchange', () => {
  showFullscreenButton();
  updateNativeTracks();
});

// The transcript beside (or under) the player; hidden, the player has the width.
function setTranscript(on) {
  save('transcriptOn', on);
  $('#transcript').hidden = !on;
  $('#layout').classList.toggle('no-transcript', !on);
  $('#transcript-toggle').setAttribute('aria-expanded', String(on));
}
$('#transcript-toggle').addEventListener('click', () => setTranscript($('#transcript').hidden));

const ms = (v) => num(Math.round(v), { style: 'unit', unit: 'millisecond', unitDisplay: 'short' });
const percent = (v, digits) => num(v, { style: 'percent', minimumFractionDigits: digits, maximumFractionDigits: digits });
const plain = (v) => num(Math.round(v), { useGrouping: false });

/** The connection indicator for a stats sample (null: none yet). */
function showStats(s) {
  app.lastStats = s;
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
  const estimate = formatEstimate(app.estimateBps);
  if (estimate) parts.push(estimate);
  if (q === 'poor' && !app.playback.audioOnly) parts.push(t('watch.net_try_audio_only'));
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

// The interface language changed: what this module wrote, again (the
// modules re-render their own; playback goes on).
document.addEventListener('relay:ui', () => {
  showState(app.playback.state);
  updateSound();
  showViewers();
  fillSelects(app.primary, app.secondary);
  showTranscriptEmpty();
  showCaptionsButton();
  showFullscreenButton();
  showStats(app.lastStats);
});

$('#title').textContent = room;
showCaptionsButton();
showFullscreenButton();
fillSelects(null, null);
setTranscript(load('transcriptOn', true));
applyReading();
app.language.reconcile();
setAudioOnly(app.playback.audioOnly);
showState('connecting');
updateSound();
watchRoom();
app.playback.start();
