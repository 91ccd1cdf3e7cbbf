// Booth words: the interpreter console's states in the interface language,
// kept apart from the console so that it only says when to word them.

import { t } from './i18n.js';

/**
 * The booth's state (booth.js) in words: the status pill, and what it
 * means for delegates (who hear a microphone, or see a camera).
 */
export function airWords(state, detail, mic) {
  switch (state) {
    case 'connecting': return [t('interpret.st_connecting'), t('interpret.air_connecting')];
    case 'on': return [t('interpret.st_on'), mic ? t('interpret.air_on_hear') : t('interpret.air_on_see')];
    case 'reconnecting': return [t('interpret.st_reconnecting'), t('interpret.air_reconnecting')];
    case 'handed-over': return [t('interpret.st_handed_over'), t('interpret.air_handed_over')];
    case 'refused': return [t('interpret.st_refused'), t('interpret.air_refused', { reason: detail })];
    case 'error': return [t('interpret.st_error'), t('interpret.air_error', { reason: detail })];
    default: return [t('interpret.st_off'), t('interpret.air_off')];
  }
}

/** The floor link's state (floor.js) in words. */
export function floorWords(state, detail) {
  switch (state) {
    case 'connecting': return t('interpret.floor_connecting');
    case 'waiting': return t('interpret.floor_waiting');
    case 'live': return t('interpret.floor_live');
    case 'reconnecting': return t('interpret.floor_reconnecting');
    case 'refused': return t('interpret.floor_refused', { reason: detail });
    case 'stopped': return t('interpret.floor_stopped');
    default: return state;
  }
}
