// Watch page: wires playback (media.js: WHEP with the delegate's channel
// selection, or HLS: the delegate's setting, ?mode=hls, or the fallback
// when WebRTC cannot play), captions (socket, store, overlay, native
// tracks, transcript), the one Language choice and its settings
// (channels.js), the floor under the interpretation (floormix.js), the
// sign-language box (signpip.js), the video quality menu (quality.js),
// reading settings and the connection indicator (with the relay's
// bandwidth estimate), all in the interface language (i18n.js; again when
// the delegate switches it: playback goes on). On a recording's page
// (/watch/{room}/recordings/{id}, recording.js) it plays the recording
// over HLS with seeking, its subtitles from the HLS, and its downloads;
// no WebRTC, no caption socket. The only state is the app object below.

import { fetchRoom, roomLanguages } from './api.js';
import { CaptionAnnouncer } from './captionlive.js';
import { CaptionFeed } from './captions.js';
import { FLOOR, channelsOf } from './channels.js';
import { CueStore } from './cuestore.js';
import { $, announce, roomFromPath } from './dom.js';
import { FloorMix } from './floormix.js';
import { init, t } from './i18n.js';
import { LanguageChoice } from './language.js';
import { choose, label, match, nativeName } from './langs.js';
import { fillMenu } from './menu.js';
import { CaptionOverlay } from './overlay.js';
import { disclosurePanels } from './panels.js';
import { HLS, Media, WEBRTC } from './media.js';
import { ModeChoice, wantedMode } from './modechoice.js';
import { Playback } from './playback.js';
import { load, save } from './prefs.js';
import { AUTO, QualityChoice } from './quality.js';
import { fetchRecording, recordedAt, recordingFromPath, recordingRoom, renderDownloads, TrackCaptions } from './recording.js';
import { SignChoice } from './signchoice.js';
import { SignPip } from './signpip.js';
import { Sound } from './sound.js';
import { NativeTracks } from './texttracks.js';
import { TranscriptPanel } from './transcript.js';
import { showState as drawState, showStats as drawStats } from './watchstatus.js';

const params = new URLSearchParams(location.search);
const room = roomFromPath();
const token = params.get('token') || '';
const [queryLang, queryLang2] = (params.get('lang') || '').split(',');
const recordingId = recordingFromPath();

// The interface defaults to the caption language the delegate asked for.
await init({ content: queryLang || load('lang', null) });

const video = $('#video');
const player = $('#player');
const store = new CueStore();

const app = {
  room,
  store,
  recording: recordingId ? { id: recordingId, rec: null } : null, // on a recording's page: rec from /recordings/
  languages: [], // caption languages
  applied: false, // the caption languages were applied once
  primary: null,
  secondary: null,
  secondaryWant: queryLang2 || params.get('lang2') || load('lang2', null),
  captionsOn: load('captionsOn', true),
  reading: { size: 'm', bg: 'translucent', pos: 'bottom', native: false, ...load('reading', {}) },
  state: 'connecting', // the playback state shown
  estimateBps: 0, // what the relay estimates this viewer's link carries (0: no estimate)
  feed: new CaptionFeed({ room, token }),
  playback: new Playback({ room, token, audioOnly: load('audioOnly', false) }),
  mix: new FloorMix(),
  overlay: new CaptionOverlay(store, $('#cap-primary'), $('#cap-secondary')),
  tracks: new NativeTracks(video, store, (l) => nativeName(l)),
  announcer: new CaptionAnnouncer(store, $('#caption-live')),
  lastInfo: null, // the last room info (the viewer count is rendered from it)
  lastStats: null, // the last stats sample (the connection indicator)
  captions: new TrackCaptions($('#cap-primary')), // a recording's subtitles, from its HLS
  transcript: new TranscriptPanel({
    store, room, token,
    list: $('#transcript-lines'),
    partial: $('#transcript-partial'),
    jump: $('#jump'),
    empty: $('#transcript-empty'),
    downloads: { srt: $('#dl-srt'), vtt: $('#dl-vtt') },
  }),
};
app.media = new Media({ room, token, video, playback: app.recording ? null : app.playback, mode: wantedMode(params), recording: recordingId });
app.mode = new ModeChoice({ media: app.media, form: $('#mode-panel'), fallback: $('#mode-fallback') });
app.sound = new Sound({ video, mix: app.mix, playing: () => !!app.media.session, resumes: !app.recording });
// What the delegate asked for: language, the Language choice (?lang=, or
// the last pick; null once sound or subtitles were set apart); audio, the
// sound picked apart; caption, the subtitles wanted.
app.language = new LanguageChoice({
  playback: app.media, select: $('#language'), audioSelect: $('#audio'), notice: $('#channel-notice'),
  captions: { languages: () => app.languages, primary: () => app.primary, pick: pickCaptions },
  intent: { language: queryLang || load('language', null), audio: load('audio', FLOOR), caption: queryLang || load('lang', null) },
});
app.sign = new SignChoice({
  playback: app.playback,
  pip: new SignPip({ box: $('#sign-pip'), video: $('#sign-video'), bounds: player }),
  button: $('#sign'), field: $('#sign-field'), select: $('#sign-lang'), off: $('#sign-off'),
});
app.quality = new QualityChoice({ playback: app.media, select: $('#quality'), field: $('#quality-field'), picture: video });
$('#sign-close').addEventListener('click', () => {
  app.sign.toggle(false);
  $('#sign').focus();
});
app.mix.bindSlider($('#floor-mix'), $('#floor-mix-value'));
disclosurePanels([[$('#lang-more'), $('#channel-panel')], [$('#settings'), $('#reading')], [$('#mode-more'), $('#mode-panel')]]);

app.feed.addEventListener('backlog', (e) => store.backlog(e.detail.lang, e.detail.cues));
app.feed.addEventListener('cue', (e) => store.apply(e.detail));
app.feed.addEventListener('state', (e) => e.detail === 'reconnecting' && store.clearPartials());

// ---- state -----------------------------------------------------------------

function showState(state) {
  app.state = state; // drawn again in another interface language
  const date = app.recording?.rec ? recordedAt(app.recording.rec.start) : '';
  drawState(state, { hls: app.media.mode === HLS, recording: !!app.recording, date });
}

function showStats(s) {
  app.lastStats = s;
  drawStats(s, { estimateBps: app.estimateBps, audioOnly: app.playback.audioOnly });
}

app.media.addEventListener('state', (e) => {
  showState(e.detail.state);
  if (e.detail.mode !== HLS) return;
  app.sound.update();
  app.language.renderAir();
});
app.media.addEventListener('mode', (e) => showMode(e.detail));
app.media.addEventListener('attached', () => {
  app.tracks.reset();
  app.sound.start();
});
app.media.addEventListener('levels', () => app.quality.setHLS(app.media.levels()));
app.media.addEventListener('tracks', followSubtitles);
app.playback.addEventListener('room', (e) => e.detail && roomInfo(e.detail));
app.playback.addEventListener('session', (e) => {
  const s = e.detail;
  $('#net').hidden = !s;
  app.lastStats = null;
  showStats(null);
  app.sound.update();
  app.mix.setTrack(s?.floor?.getAudioTracks()[0] || null);
  app.language.renderAir();
  app.sign.render();
  if (!s) {
    app.estimateBps = 0;
    app.quality.setPlaying(null);
    return;
  }
  if (app.media.mode !== WEBRTC) return;
  app.tracks.reset();
  video.srcObject = s.stream;
  app.sound.start();
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

video.addEventListener('playing', () => app.playback.mediaStarted());

// ---- languages -------------------------------------------------------------

function roomInfo(info) {
  app.lastInfo = info;
  $('#title').textContent = info.title || info.name;
  showViewers();
  document.title = `${info.state === 'live' && app.media.state === 'live' ? '● ' : ''}${info.title || info.name} · relay`;
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
  if (!app.recording) {
    app.feed.setLanguages(shown.filter(Boolean));
    app.overlay.setLanguages(app.captionsOn ? primary : null, app.captionsOn ? secondary : null);
    app.announcer.setLanguage(app.captionsOn ? primary : null);
  }
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
  // A recording's subtitles come from its HLS (drawn by the page, or by
  // the browser); live, the HLS subtitle track is selected but not drawn:
  // the page draws the captions of the socket, as over WebRTC.
  if (app.recording) return app.media.setSubtitles(app.primary, native && app.captionsOn);
  app.tracks.setLanguages(app.captionsOn ? [app.primary, app.secondary] : [], native && app.captionsOn);
  app.media.setSubtitles(app.primary, false);
}

/** On a recording's page, the overlay draws the selected HLS subtitle track's cues. */
function followSubtitles() {
  if (app.recording) app.captions.setTrack(app.media.hls?.subtitleTrack() || null, app.primary);
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
  app.playback.setAudioOnly(on);
  showAudioOnly();
  app.sign.reconcile(); // no sign-language video without video
  app.quality.render();
}
$('#audio-only').addEventListener('click', () => setAudioOnly(!app.playback.audioOnly));

/** Audio only is WebRTC's: HLS has no variant without the picture. */
function showAudioOnly() {
  const on = app.media.audioOnly;
  $('#audio-card').hidden = !on;
  player.classList.toggle('audio-only', on);
}

// ---- WebRTC or HLS ---------------------------------------------------------

/** What HLS has not: the connection figures (WebRTC's), audio only, sign language. */
function showMode({ mode }) {
  app.quality.setHLS(mode === HLS ? app.media.levels() : null);
  if (mode === HLS) {
    $('#net').hidden = true;
    showStats(null);
  }
  showAudioOnly();
  app.sign.reconcile();
}

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

document.addEventListener('keydown', (e) => {
  if (e.ctrlKey || e.metaKey || e.altKey || e.target.closest('input, select, textarea')) return;
  const k = e.key.toLowerCase();
  if (k === 'm') app.sound.setMuted(!video.muted);
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

// ---- a recording -----------------------------------------------------------

async function openRecording() {
  document.body.dataset.page = 'recording'; // watch.css: no live-only controls
  $('#transcript').hidden = true; // the live transcript is the room's, not the recording's
  $('#layout').classList.add('no-transcript');
  const rec = await fetchRecording(room, recordingId, token).catch(() => null); // null: none, or the relay does not answer
  if (!rec) return showState('missing');
  app.recording.rec = rec;
  video.controls = true; // seeking, the browser's way
  const info = await fetchRoom(room).catch(() => null);
  const title = info?.title || room;
  $('#title').textContent = title;
  app.languages = rec.subtitles || [];
  app.language.setRoom(recordingRoom(rec, title));
  renderDownloads($('#rec-download-list'), rec, token);
  $('#rec-downloads').hidden = false;
  app.media.start();
}

addEventListener('pagehide', () => {
  app.media.stop();
  app.feed.close();
});

// The interface language changed: what this module wrote, again (the
// modules re-render their own; playback goes on).
document.addEventListener('relay:ui', () => {
  showState(app.state);
  if (app.recording?.rec) renderDownloads($('#rec-download-list'), app.recording.rec, token);
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
app.sound.update();
if (app.recording) openRecording();
else {
  watchRoom();
  app.media.start();
}
// A read-only look at what plays, for tests and support.
Object.defineProperty(window, 'relayWatch', { value: Object.freeze({ get media() { return app.media.debug(); } }) });
