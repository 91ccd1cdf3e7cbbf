// Sign choice: the watch page's "Sign language" toggle, the choice among
// the room's sign-language channels (in the language settings) and what
// the movable box (signpip.js) shows: the channel's video, or that its
// interpreter is off air. It keeps the playback's sign selection in line:
// the toggle off, or audio only, is {"sign": ""}.

import { announce } from './dom.js';
import { t } from './i18n.js';
import { label, match, nativeName } from './langs.js';
import { fillMenu } from './menu.js';
import { load, save } from './prefs.js';

export class SignChoice {
  /**
   * playback: the page's Playback; pip: its SignPip; button: the toggle;
   * field, select: the settings' choice among several sign languages;
   * off: the box's off-air text.
   */
  constructor({ playback, pip, button, field, select, off }) {
    Object.assign(this, { playback, pip, button, field, select, off });
    this.on = load('signOn', false);
    this.want = load('signLang', null);
    this.channels = new Map(); // channels.js channelsOf(info, 'sign')
    this.sign = ''; // the selection the relay has
    this.playing = ''; // what the second video track carries now
    button.addEventListener('click', () => this.toggle(!this.on));
    document.addEventListener('relay:ui', () => {
      this.titleButton();
      this.render();
    });
    select.addEventListener('change', () => {
      this.want = select.value;
      save('signLang', this.want);
      this.reconcile();
    });
  }

  /** The room's sign channels, from fresh room info. */
  setChannels(channels) {
    this.channels = channels;
    this.playing = this.sign && channels.get(this.sign)?.live ? this.sign : '';
    this.reconcile();
  }

  /** What the relay's /select answer says the track carries. */
  setPlaying(sign) {
    this.playing = sign;
    this.render();
  }

  /** The relay does not know the channel (it restarted): none until the room lists it again. */
  refused(lang) {
    this.channels.delete(lang);
    this.sign = '';
    this.reconcile();
  }

  toggle(on) {
    this.on = on;
    save('signOn', on);
    this.reconcile();
    if (on && this.sign) announce(t('watch.sign_shown', { lang: nativeName(this.sign) }));
    else announce(on ? t('watch.sign_on') : t('watch.sign_hidden'));
  }

  /** The toggle, the menu and the selection the relay gets. */
  reconcile() {
    const langs = [...this.channels.keys()];
    const audioOnly = this.playback.audioOnly;
    const lang = match(this.want, langs) || langs[0] || null;
    const b = this.button;
    b.hidden = !lang;
    b.disabled = audioOnly;
    this.titleButton();
    b.setAttribute('aria-pressed', String(!!(lang && this.on)));
    this.field.hidden = langs.length < 2;
    fillMenu(this.select, langs.map((l) => [l, nativeName(l), l]));
    if (lang) this.select.value = lang;
    const sign = this.on && lang && !audioOnly ? lang : '';
    this.playback.setSignLine(!!lang, { restart: !!sign });
    if (sign !== this.sign) {
      this.sign = sign;
      this.playing = sign && this.channels.get(sign)?.live ? sign : '';
      this.playback.select({ sign });
    }
    this.render();
  }

  /** The toggle's tooltip, in the interface language. */
  titleButton() {
    const lang = match(this.want, [...this.channels.keys()]) || this.channels.keys().next().value || null;
    this.button.title = this.playback.audioOnly ? t('watch.sign_audio_only') : lang ? label(lang) : '';
  }

  /** The box: shown while a session carries the selected channel. */
  render() {
    const s = this.playback.session;
    if (!this.sign || !s) {
      this.pip.hide();
      return;
    }
    this.pip.show(s.sign);
    const name = nativeName(this.sign);
    this.pip.box.setAttribute('aria-label', t('watch.sign_pip_named', { lang: name }));
    const offAir = this.playing !== this.sign;
    this.off.hidden = !offAir;
    this.off.textContent = offAir ? t('watch.sign_off_air', { lang: name }) : '';
    this.pip.box.classList.toggle('off-air', offAir);
  }
}
