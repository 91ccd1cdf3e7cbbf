// Language: the watch page's one "Language" choice. Picking Français sets
// the sound (the French booth, when the room has one), the subtitles and
// the transcript together; "Floor (original)" sets the sound to the floor
// and leaves the subtitles. The language settings set the sound apart
// (menu "Listen to"); the subtitles are set apart by the page's caption
// menus, through setApart. When the selected booth is down the player
// says so. The room's offer comes from /api/rooms (channels.js), what
// plays from the relay's /select answers. Over HLS the sound is the HLS
// audio track of the channel (media.js), the floor's when it has none; on
// a recording's page the offer is the recording's.

import { CUSTOM, FLOOR, airState, audioFor, channelsOf, choiceOf, languageChoices } from './channels.js';
import { announce } from './dom.js';
import { t } from './i18n.js';
import { localName, match, nativeName } from './langs.js';
import { fillMenu } from './menu.js';
import { save } from './prefs.js';

export class LanguageChoice {
  /**
   * playback: the page's Media (media.js); select: the Language menu;
   * audioSelect: the settings' sound menu; notice: the player's off-air
   * line (a live region); captions: {languages() the caption languages,
   * primary() the one shown, pick(want) shows want when the room has it};
   * intent: {language, audio, caption} from the URL or prefs.
   */
  constructor({ playback, select, audioSelect, notice, captions, intent }) {
    Object.assign(this, { playback, select, audioSelect, notice, captions, intent });
    this.channels = new Map(); // channelsOf(info, 'audio')
    this.choices = []; // the entries after the floor
    this.audio = FLOOR; // the selection the relay has, or gets with the next offer
    this.playing = FLOOR; // what the first audio track carries now
    this.choice = FLOOR; // what the menu shows
    select.addEventListener('change', () => this.pick(select.value));
    document.addEventListener('relay:ui', () => this.render());
    audioSelect.addEventListener('change', () => {
      this.setApart({ audio: audioSelect.value });
      announce(this.describe());
    });
  }

  /** Fresh room info: its channels, and what plays as far as the room list knows. */
  setRoom(info) {
    this.channels = channelsOf(info, 'audio');
    this.choices = languageChoices(this.captions.languages(), this.channels);
    this.playing = this.liveOrFloor(this.audio);
    this.reconcile();
  }

  /** What the relay's /select answer says the first audio track carries. */
  setPlaying(audio) {
    this.playing = audio;
    this.render();
  }

  /** The relay does not know the channel (it restarted): the floor until the room lists it again. */
  refused(lang) {
    this.channels.delete(lang);
    this.audio = FLOOR;
    this.playing = FLOOR;
    announce(t('watch.interpretation_unavailable', { lang: localName(lang) }));
    this.reconcile();
  }

  /** The delegate picks an entry of the Language menu. */
  pick(value) {
    if (value === CUSTOM) return;
    this.intent.language = value;
    save('language', value);
    if (value !== FLOOR) {
      this.intent.caption = value;
      save('lang', value);
    }
    this.reconcile();
    announce(this.describe());
  }

  /** Sound or subtitles set on their own: the Language choice no longer leads. */
  setApart({ audio = this.audio, caption = this.intent.caption }) {
    this.intent = { language: null, audio, caption };
    save('language', null);
    save('audio', audio);
    this.reconcile();
  }

  /**
   * Brings sound, subtitles and the menu in line with what the delegate
   * asked for and what the room offers now; tells the relay when the sound
   * changes.
   */
  reconcile() {
    const { intent } = this;
    const lang = intent.language === FLOOR ? FLOOR : match(intent.language, this.choices);
    const audio = lang ? audioFor(lang, this.channels) : this.channels.has(intent.audio) ? intent.audio : FLOOR;
    this.captions.pick(lang && lang !== FLOOR ? lang : intent.caption);
    if (audio !== this.audio) {
      this.audio = audio;
      this.playing = this.liveOrFloor(audio);
      this.playback.select({ audio });
    }
    this.choice = choiceOf(lang, { audio, caption: this.captions.primary(), channels: this.channels, captions: this.captions.languages() });
    this.render();
  }

  liveOrFloor(audio) {
    return audio !== FLOOR && this.channels.get(audio)?.live ? audio : FLOOR;
  }

  render() {
    const primary = this.captions.primary();
    const entries = [[FLOOR, t('watch.floor')], ...this.choices.map((l) => [l, nativeName(l), l])];
    if (this.choice === CUSTOM) {
      const audio = nativeName(this.audio);
      entries.push([CUSTOM, primary ? t('watch.custom_choice', { audio, subtitles: nativeName(primary) }) : t('watch.custom_choice_no_subtitles', { audio })]);
    }
    fillMenu(this.select, entries);
    this.select.value = this.choice;
    fillMenu(this.audioSelect, [[FLOOR, t('watch.floor')], ...[...this.channels.values()].map((c) => {
      const air = airState(c.lang, this.liveOrFloor(c.lang), this.channels);
      const name = nativeName(c.lang);
      if (air === 'off') return [c.lang, t('watch.channel_off_air', { lang: name }), c.lang];
      if (air === 'unstarted') return [c.lang, t('watch.channel_not_started', { lang: name }), c.lang];
      return [c.lang, name, c.lang];
    })]);
    this.audioSelect.value = this.audio;
    this.renderAir();
  }

  /**
   * Says so in the player while the selected booth is off air. A language
   * the room declares but no booth has used yet says nothing there: it may
   * be the floor's own language (the sound menu says "not started").
   */
  renderAir() {
    const air = this.playback.session ? airState(this.audio, this.playing, this.channels) : 'on';
    const text = air === 'off' ? t('watch.interpretation_off_air', { lang: localName(this.audio) }) : '';
    if (this.notice.textContent !== text) this.notice.textContent = text;
    this.notice.dataset.air = air;
  }

  describe() {
    const primary = this.captions.primary();
    const subtitles = primary ? localName(primary) : '';
    if (this.audio === FLOOR) {
      return primary ? t('watch.hear_floor', { subtitles }) : t('watch.hear_floor_no_subtitles');
    }
    const lang = localName(this.audio);
    return primary ? t('watch.hear_interpreter', { lang, subtitles }) : t('watch.hear_interpreter_no_subtitles', { lang });
  }
}
