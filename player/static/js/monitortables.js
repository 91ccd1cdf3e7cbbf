// The AV monitor's per-room tables: how viewers spread over the video
// layers, and the language channels (the floor, interpreter booths, sign
// language) with their levels and silences. Each table sits in a named,
// focusable region that scrolls sideways on a narrow screen.

import { el } from './dom.js';
import { dir, localName, nativeName } from './langs.js';
import { t, num, uiLang } from './i18n.js';
import { fmtAgo, fmtBitrate, fmtFor, fmtPercent, sinceTitle, stateText } from './monitorfmt.js';

export const BOOTH_SILENT_S = 30; // as the RelayBoothSilent alert
const LEVEL_FLOOR_DBOV = -60; // the meter's empty end; 0 dBov is full
const SILENCE_DBOV = -50; // the relay's silence threshold

/**
 * A table that may scroll sideways: a region with a name, focusable so
 * that a keyboard can scroll it. key keeps focus and scroll position
 * across the page's re-renders.
 */
export function scrollRegion(key, label, table) {
  return el('div', { class: 'table-scroll', role: 'region', tabindex: '0', 'aria-label': label, dataset: { action: key, scroll: key } }, table);
}

function headRow(names, numeric) {
  return el('thead', {}, el('tr', {}, names.map((h, i) => el('th', { scope: 'col', class: numeric(i) ? 'num' : '' }, h))));
}

// layerName names a layer by its picture height ("720p"), by its rid until
// a keyframe said the size, and "layer x" for one that no longer flows.
export function layerName(rid, layers) {
  const l = layers.find((x) => x.rid === rid);
  if (!l) return rid ? t('monitor.layer_rid', { rid }) : t('monitor.video');
  return l.height > 0 ? `${l.height}p` : rid || t('monitor.video');
}

// simulcast says whether a room's video comes as named layers.
export function simulcast(layers) {
  return layers.some((l) => l.rid !== '');
}

// layerTable shows how a room's viewers spread over its video layers (best
// first): a bar with a segment per layer and the viewers without video,
// and a row per layer. Only for two layers or more: one layer says nothing
// the Viewers figure does not.
export function layerTable(room) {
  const layers = room.layers || [];
  if (layers.length < 2) return null;
  const onLayers = layers.reduce((n, l) => n + l.viewers, 0);
  const noVideo = Math.max(0, room.viewers - onLayers);
  // A layer's element carries data-layer (its rid), the viewers without
  // video data-video="none": any name is a valid rid.
  const parts = layers.map((l, i) => ({ data: { layer: l.rid }, rank: String(i), name: layerName(l.rid, layers), viewers: l.viewers, layer: l }));
  if (noVideo > 0) parts.push({ data: { video: 'none' }, rank: 'none', name: t('monitor.no_video'), viewers: noVideo });
  const total = onLayers + noVideo;
  const list = new Intl.ListFormat(uiLang(), { type: 'unit', style: 'short' }).format(parts.map((p) => `${p.name} ${num(p.viewers)}`));
  const bar = el('div', { class: 'layer-bar', role: 'img', 'aria-label': t('monitor.layer_bar', { list }) },
    parts.filter((p) => p.viewers > 0).map((p) => {
      const seg = el('span', { class: 'seg', dataset: { rank: p.rank, ...p.data }, title: t('monitor.layer_seg', { name: p.name, n: p.viewers }) });
      seg.style.flexGrow = String(p.viewers); // CSSOM, which the page's CSP allows
      return seg;
    }));
  const rows = parts.map((p) => el('tr', { dataset: p.data, title: p.layer ? null : t('monitor.no_video_title') },
    el('td', {}, el('i', { class: 'swatch', dataset: { rank: p.rank }, 'aria-hidden': 'true' }),
      el('b', { dataset: { col: 'name' } }, p.name),
      p.layer?.rid && p.name !== p.layer.rid ? el('small', { class: 'code' }, p.layer.rid) : null),
    el('td', { class: 'faint code', dataset: { col: 'size' } }, p.layer?.width > 0 ? `${p.layer.width}×${p.layer.height}` : ''),
    el('td', { class: 'num', dataset: { col: 'bitrate' } }, p.layer ? fmtBitrate(p.layer.bitrate) : ''),
    el('td', { class: 'num', dataset: { col: 'viewers' } }, num(p.viewers)),
    el('td', { class: 'num faint', dataset: { col: 'share' } }, total > 0 ? fmtPercent(p.viewers / total, 0) : '—')));
  const heads = [t('monitor.col_layer'), t('monitor.col_size'), t('monitor.col_bitrate'), t('monitor.col_viewers'), t('monitor.col_share')];
  return el('div', { class: 'layers', dataset: { layers: layers.length } },
    bar,
    scrollRegion('scroll-layers', t('monitor.layers_label', { room: room.title || room.name }),
      el('table', { class: 'langs layer-table' }, headRow(heads, (i) => i >= 2), el('tbody', {}, rows))));
}

function levelCell(level) {
  if (typeof level !== 'number') return el('td', { class: 'faint', dataset: { col: 'level' } }, t('monitor.no_level'));
  const v = Math.max(LEVEL_FLOOR_DBOV, Math.min(0, level));
  const db = num(Math.round(level));
  return el('td', { class: 'level', dataset: { col: 'level' }, title: t('monitor.level_title', { db }) },
    el('meter', { min: LEVEL_FLOOR_DBOV, max: 0, low: SILENCE_DBOV, high: -6, optimum: -20, value: v, 'aria-label': t('monitor.level_aria', { db }) }),
    el('span', { 'aria-hidden': 'true' }, db));
}

function silenceCell(seconds, highlight) {
  if (typeof seconds !== 'number') return el('td', { class: 'faint', dataset: { col: 'silent' } }, '—');
  return el('td', { class: highlight ? 'warn' : '', dataset: { col: 'silent' } },
    seconds < 1 ? t('monitor.sound') : t('monitor.silent_for', { duration: fmtAgo(seconds) }));
}

function kindText(kind) {
  if (kind === 'audio') return t('monitor.kind_booth');
  if (kind === 'sign') return t('monitor.kind_sign');
  return kind;
}

// nameCell shows a language by its own name, with its tag and kind below.
function nameCell(lang, kind) {
  const name = nativeName(lang);
  return el('td', { class: 'chan-name' },
    el('span', { lang, dir: dir(lang) }, name),
    el('small', {}, name === lang ? '' : el('bdi', {}, lang), name !== lang && kind ? ' · ' : '',
      kind ? el('span', { dataset: { col: 'kind' } }, kindText(kind)) : null));
}

// stateCell shows live or down and since when (iso; none without one).
function stateCell(state, iso, now) {
  return el('td', {},
    el('span', { class: 'chan-state', dataset: { state } }, stateText(state)),
    iso ? el('small', { dataset: { col: 'since' }, title: sinceTitle(iso) }, t('monitor.for', { duration: fmtFor(iso, now) })) : null);
}

// channelRow is one language channel. A channel down while delegates
// selected it is a problem (they hear the floor), and so is a live booth
// silent past BOOTH_SILENT_S while the floor is not known to be silent.
function channelRow(c, floorSilent, now) {
  const down = !c.live && c.viewers > 0;
  const silent = c.live && c.kind === 'audio' && c.silentSeconds > BOOTH_SILENT_S && !floorSilent;
  const problem = down ? 'down' : silent ? 'silent' : '';
  const title = down ? t('monitor.channel_down_title', { n: c.viewers })
    : silent ? t('monitor.booth_silent_title', { duration: fmtAgo(BOOTH_SILENT_S) }) : null;
  const state = c.live ? 'live' : 'down';
  return {
    problem,
    lang: c.lang,
    kind: c.kind,
    row: el('tr', { dataset: { channel: c.lang, kind: c.kind, state, problem }, title },
      nameCell(c.lang, c.kind),
      stateCell(state, c.since, now),
      el('td', { class: c.interpreter ? 'code' : 'faint', dataset: { col: 'interpreter' } }, c.interpreter || '—'),
      c.kind === 'audio' ? levelCell(c.levelDbov) : el('td', { dataset: { col: 'level' } }),
      c.kind === 'audio' ? silenceCell(c.silentSeconds, silent) : el('td', { dataset: { col: 'silent' } }),
      el('td', { class: 'num', dataset: { col: 'listeners' } }, num(c.viewers))),
  };
}

// channelTable lists the floor, the channels that have been live and the
// other declared languages (selectable; their listeners hear the floor
// until a booth comes); no table for a room without channels or floor
// levels, where it would only repeat the caption languages. problems are
// the channel rows flagged, for the card's alert and its announcements.
export function channelTable(room, now) {
  const floor = room.floor || {};
  const channels = room.channels || [];
  const declared = (room.languages || []).filter((l) => !channels.some((c) => c.lang === l));
  if (!channels.length && typeof floor.levelDbov !== 'number') return { table: null, problems: [] };
  const floorSilent = floor.silentSeconds > BOOTH_SILENT_S;
  const rows = channels.map((c) => channelRow(c, floorSilent, now));
  const floorRow = el('tr', { dataset: { channel: 'floor', kind: 'audio', state: room.state } },
    el('td', { class: 'chan-name' }, el('b', {}, t('monitor.floor')), el('small', {}, t('monitor.original'))),
    stateCell(room.state, room.since, now),
    el('td', { class: room.publisher ? 'code' : 'faint', dataset: { col: 'interpreter' }, title: t('monitor.publisher_title') }, room.publisher ? room.publisher.tag : '—'),
    levelCell(floor.levelDbov),
    silenceCell(floor.silentSeconds, false),
    el('td', { class: 'num', dataset: { col: 'listeners' } }, typeof floor.listeners === 'number' ? num(floor.listeners) : '—'));
  const declaredRows = declared.map((l) => el('tr', { dataset: { channel: l, state: 'none' }, title: t('monitor.declared_title') },
    nameCell(l, ''),
    stateCell('none', '', now),
    el('td', { class: 'faint' }, '—'), el('td', {}), el('td', {}),
    el('td', { class: 'num faint', dataset: { col: 'listeners' } }, '—')));
  const heads = [t('monitor.col_channel'), t('monitor.col_state'), t('monitor.col_interpreter'), t('monitor.col_level'), t('monitor.col_sound'), t('monitor.col_listeners')];
  const table = el('table', { class: 'langs channels' }, headRow(heads, (i) => i === 5),
    el('tbody', {}, floorRow, rows.map((x) => x.row), declaredRows));
  const problems = rows.filter((x) => x.problem).map((x) => ({ problem: x.problem, lang: x.lang, name: localName(x.lang) }));
  return { table: scrollRegion('scroll-channels', t('monitor.channels_label', { room: room.title || room.name }), table), problems };
}
