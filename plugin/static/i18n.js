// UI strings: the catalogue plugin/i18n/<locale>.json, written into the page by templates/base.html.
const catalogue = JSON.parse(document.getElementById('ps-strings')?.textContent || '{}');

/** The string at dotted `key` with `{name}` placeholders filled from `params` (the key itself if missing). */
export function t(key, params = {}) {
  let node = catalogue;
  for (const part of key.split('.')) {
    node = node && typeof node === 'object' ? node[part] : undefined;
  }
  if (typeof node !== 'string') {
    console.error(`missing UI string ${key}`);
    return key;
  }
  return node.replace(/\{(\w+)\}/g, (m, name) => (name in params ? String(params[name]) : m));
}

/** Plural pick: `key.one` for 1, `key.other` otherwise, with {count}. */
export function tn(key, count, params = {}) {
  return t(`${key}.${count === 1 ? 'one' : 'other'}`, { count, ...params });
}

export function formatDateTime(value) {
  if (!value) return '';
  const date = new Date(value);
  if (Number.isNaN(date.getTime())) return String(value);
  return date.toLocaleString(document.documentElement.lang || undefined, { dateStyle: 'medium', timeStyle: 'short' });
}

export function formatTime(date) {
  return date.toLocaleTimeString(document.documentElement.lang || undefined, { timeStyle: 'medium' });
}

/** Whether the catalogue has a string at `key` (for optional strings such as per-error hints). */
export function has(key) {
  let node = catalogue;
  for (const part of key.split('.')) node = node && typeof node === 'object' ? node[part] : undefined;
  return typeof node === 'string';
}
