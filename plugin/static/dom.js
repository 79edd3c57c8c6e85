// Building DOM without innerHTML (so product titles and error texts are never parsed as HTML), and the three
// states every data region has: loading, empty, error.
import { t } from './i18n.js';

export const pageContext = JSON.parse(document.getElementById('ps-context')?.textContent || '{}');

/** h('s-button', {variant: 'primary', onclick: fn}, 'Save') → element. Attributes; `on*` functions become listeners. */
export function h(tag, attrs = {}, ...children) {
  const el = tag.includes(':') ? document.createElementNS('http://www.w3.org/2000/svg', tag.split(':')[1])
    : document.createElement(tag);
  for (const [name, value] of Object.entries(attrs || {})) {
    if (value === undefined || value === null || value === false) continue;
    if (name.startsWith('on') && typeof value === 'function') {
      el.addEventListener(name.slice(2).toLowerCase(), value);
    } else if (name === 'dataset') {
      Object.assign(el.dataset, value);
    } else if (name === 'prop') {
      Object.assign(el, value);
    } else {
      el.setAttribute(name, value === true ? '' : String(value));
    }
  }
  append(el, children);
  return el;
}

function append(el, children) {
  for (const child of children.flat(Infinity)) {
    if (child === undefined || child === null || child === false) continue;
    el.append(child instanceof Node ? child : document.createTextNode(String(child)));
  }
}

export function clear(el) {
  while (el.firstChild) el.firstChild.remove();
  return el;
}

export function replace(el, ...children) {
  clear(el);
  append(el, children);
  return el;
}

export function showLoading(region, label = t('common.loading')) {
  region.setAttribute('aria-busy', 'true');
  return replace(region, h('div', { class: 'ps-loading' },
    h('s-spinner', { accessibilityLabel: label, size: 'base' }), h('s-text', {}, label)));
}

export function showEmpty(region, { heading, text, action } = {}) {
  region.removeAttribute('aria-busy');
  return replace(region, h('div', { class: 'ps-empty', 'data-state': 'empty' },
    h('s-heading', {}, heading || t('common.empty')),
    text ? h('s-paragraph', {}, text) : null,
    action || null));
}

/** An error banner that says what went wrong and, where the API gave one, what to do; optional retry. */
export function showError(region, error, { onRetry, heading } = {}) {
  region.removeAttribute('aria-busy');
  return replace(region, errorBanner(error, { onRetry, heading }));
}

export function errorBanner(error, { onRetry, heading } = {}) {
  const message = (error && error.message) || t('errors.unknown');
  return h('s-banner', { tone: 'critical', heading: heading || t('errors.heading'), 'data-state': 'error', role: 'alert' },
    h('s-paragraph', {}, message),
    error && error.hint ? h('s-paragraph', {}, error.hint) : null,
    onRetry ? h('s-button', { slot: 'secondary-actions', onclick: onRetry }, t('common.retry')) : null);
}

export function done(region) {
  region.removeAttribute('aria-busy');
  return clear(region);
}

export function successBanner(text, ...extra) {
  return h('s-banner', { tone: 'success', 'data-state': 'success' }, h('s-paragraph', {}, text), ...extra);
}

/** Tell the merchant something happened: App Bridge's toast in the admin (also read out), plus nothing else. */
export function toast(message, { isError = false } = {}) {
  if (window.shopify && window.shopify.toast) window.shopify.toast.show(message, { isError });
}

/** An in-app link keeping Shopify's shop/host parameters (as the server's app_url()). */
export function appUrl(path, params = {}) {
  const query = new URLSearchParams(pageContext.carried_params || {});
  for (const [k, v] of Object.entries(params)) if (v !== undefined && v !== null) query.set(k, v);
  const qs = query.toString();
  return qs ? `${path}?${qs}` : path;
}

/** The numeric id at the end of a Shopify GID ("gid://shopify/Product/42" → "42"). */
export function numericId(id) {
  return String(id ?? '').split('/').pop();
}

export function adminProductUrl(productId) {
  return `${pageContext.admin_base}/products/${numericId(productId)}`;
}

/** Read a Polaris form field's value (s-select, s-text-field, s-number-field, s-search-field). */
export function fieldValue(el) {
  return el ? (el.value ?? el.getAttribute('value') ?? '') : '';
}

export function setFieldValue(el, value) {
  if (!el) return;
  el.value = value == null ? '' : String(value);
}

/** Selected values of an s-choice-list (the `values` property). */
export function choiceValues(el) {
  if (!el) return [];
  if (Array.isArray(el.values)) return el.values;
  return [...el.querySelectorAll('s-choice')].filter((c) => c.selected || c.hasAttribute('selected'))
    .map((c) => c.getAttribute('value'));
}

export function setChoiceValues(el, values) {
  for (const choice of el.querySelectorAll('s-choice')) {
    const on = values.includes(choice.getAttribute('value'));
    choice.selected = on;
    choice.toggleAttribute('selected', on);
  }
  try { el.values = values; } catch { /* older Polaris: attribute only */ }
}

export function setOptions(select, options, selected) {
  replace(select, options.map(({ value, label }) =>
    h('s-option', { value, selected: String(value) === String(selected ?? '') ? true : null }, label)));
  if (selected !== undefined && selected !== null) select.value = String(selected);
}
