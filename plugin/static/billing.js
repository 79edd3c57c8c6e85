// Settings → Billing (only when the operator turned usage billing on): the plan's state, this period's usage and cap,
// a "Generation is paused" banner with the reason, and the button that sends the merchant to Shopify's approval page.
import { apiFetch } from './api.js';
import { errorBanner, h, replace } from './dom.js';
import { t } from './i18n.js';

const region = document.getElementById('billing-region');

async function approve(button) {
  button.setAttribute('loading', '');
  try {
    const { confirmation_url: url } = await apiFetch('/api/billing/subscribe', { method: 'POST', json: {} });
    // the approval page is Shopify's own: it opens at the top of the window, not inside the app's frame
    window.open(url, '_top');
  } catch (err) {
    button.removeAttribute('loading');
    region.append(errorBanner(err, { heading: t('billing.approve_failed') }));
  }
}

function render(s) {
  const stateText = t(`billing.state.${s.state}`);
  const lines = [
    h('s-paragraph', { 'data-billing': 'state' }, stateText),
    h('s-paragraph', { 'data-billing': 'terms' },
      t('billing.terms', { price: s.price_per_image, cap: s.capped_amount, currency: s.currency })),
  ];
  if (s.state === 'active') {
    lines.push(h('s-paragraph', { 'data-billing': 'usage' }, t('billing.used', {
      used: s.balance_used, cap: s.capped_amount, remaining: s.remaining, currency: s.currency,
    })));
    if (s.period_end) lines.push(h('s-paragraph', {}, t('billing.renews', { date: s.period_end })));
  }
  const banner = s.paused
    ? h('s-banner', { tone: 'warning', heading: t('billing.paused_heading'), 'data-state': 'billing-paused' },
      h('s-paragraph', {}, s.reason || ''))
    : null;
  const button = s.state === 'active' ? null : h('s-button', { variant: 'primary', id: 'billing-approve' },
    t('billing.approve'));
  if (button) button.addEventListener('click', () => approve(button));
  replace(region, banner, h('s-section', { heading: t('billing.heading') }, lines, button));
}

async function load() {
  try {
    const status = await apiFetch('/api/billing');
    if (status.enabled) render(status);
  } catch (err) {
    replace(region, errorBanner(err, { heading: t('billing.heading'), onRetry: load }));
  }
}

load();
