// Job states as badges: one tone per state, the same on every page.
import { h } from './dom.js';
import { has, t } from './i18n.js';

export const STATUS_TONES = {
  queued: 'info', fetching: 'info', generating: 'info', checking: 'info', publishing: 'info',
  awaiting_review: 'warning', published: 'success', failed: 'critical', cancelled: 'neutral',
  running: 'info', done: 'success', finished: 'success',
};

export function statusBadge(stateName) {
  if (!stateName) return h('s-badge', { tone: 'neutral', 'data-status': 'none' }, t('status.none'));
  const label = has(`status.${stateName}`) ? t(`status.${stateName}`) : stateName;
  return h('s-badge', { tone: STATUS_TONES[stateName] || 'neutral', 'data-status': stateName }, label);
}
