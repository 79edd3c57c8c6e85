// The JSON API client. In the Shopify admin, App Bridge patches the global fetch() so every request to the app's
// origin carries `Authorization: Bearer <ID token>` and is retried once with a fresh token when the server answers
// 401 with `X-Shopify-Retry-Invalid-Session-Request: 1`. So this module never handles tokens itself; it adds
// timeouts and turns every failure into an ApiError whose message can be shown to the merchant.
import { t } from './i18n.js';

export class ApiError extends Error {
  constructor(message, { code = 'error', status = 0, hint = '', details = null } = {}) {
    super(message);
    this.name = 'ApiError';
    this.code = code;
    this.status = status;
    this.hint = hint;
    this.details = details;
  }
}

const TIMEOUT_MS = 30000;

/**
 * apiFetch('/api/jobs', {method: 'POST', json: {...}}) → parsed JSON.
 * Throws ApiError with the server's {"error": {"code", "message"}} or a readable network/timeout message.
 */
export async function apiFetch(path, { method = 'GET', json, body, query, signal, raw = false } = {}) {
  let url = path;
  if (query) {
    const qs = new URLSearchParams();
    for (const [k, v] of Object.entries(query)) {
      if (v === undefined || v === null || v === '') continue;
      if (Array.isArray(v)) v.forEach((item) => qs.append(k, item)); else qs.set(k, v);
    }
    if ([...qs].length) url += `?${qs}`;
  }
  const headers = { Accept: 'application/json' };
  if (json !== undefined) headers['Content-Type'] = 'application/json';
  const controller = new AbortController();
  const timer = setTimeout(() => controller.abort(), TIMEOUT_MS);
  if (signal) signal.addEventListener('abort', () => controller.abort());
  let response;
  try {
    response = await fetch(url, {
      method, headers, body: json !== undefined ? JSON.stringify(json) : body, signal: controller.signal,
    });
  } catch (err) {
    if (signal && signal.aborted) throw err;
    throw new ApiError(controller.signal.aborted ? t('errors.timeout') : t('errors.network'), { code: 'network' });
  } finally {
    clearTimeout(timer);
  }
  if (raw && response.ok) return response;
  let data = null;
  const type = response.headers.get('Content-Type') || '';
  if (type.includes('json')) {
    try { data = await response.json(); } catch { data = null; }
  }
  if (!response.ok) {
    const err = (data && data.error) || {};
    throw new ApiError(err.message || statusMessage(response.status), {
      code: err.code || `http_${response.status}`, status: response.status, hint: err.hint || err.action || '',
      details: err.details || null,
    });
  }
  return data ?? {};
}

function statusMessage(status) {
  if (status === 401 || status === 403) return t('errors.session');
  if (status === 404) return t('errors.not_found');
  if (status === 429) return t('errors.rate_limited');
  if (status >= 500) return t('errors.server');
  return t('errors.unknown');
}

/** Whether an error means "this endpoint does not exist on this server" (an older backend). */
export function isMissingEndpoint(err) {
  return err instanceof ApiError && (err.status === 404 || err.status === 405) && !String(err.code).startsWith('not_found_');
}
