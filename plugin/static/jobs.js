// Jobs: live progress of every job (stage, percent), readable errors with what to do, cancel; bulk runs with
// their aggregate progress. Polls while anything runs.
import { apiFetch } from './api.js';
import {
  appUrl, done, errorBanner, fieldValue, h, numericId, replace, showEmpty, showError, showLoading,
} from './dom.js';
import { formatDateTime, formatTime, has, t } from './i18n.js';
import { percentOf, Poller } from './progress.js';
import { jobsOf } from './records.js';
import { statusBadge } from './status.js';

const ACTIVE = ['queued', 'fetching', 'generating', 'checking', 'publishing'];
const els = {
  list: document.getElementById('jobs-list'),
  region: document.getElementById('jobs-state'),
  filter: document.getElementById('jobs-filter'),
  bulk: document.getElementById('bulk-list'),
  updated: document.getElementById('jobs-updated'),
};
let firstLoad = true;

/** What the merchant can do about a failed job: a hint per error code, else the generic one. */
export function errorHint(code) {
  return has(`job_errors.${code}`) ? t(`job_errors.${code}`) : t('job_errors.default');
}

function jobItem(job) {
  const percent = percentOf(job);
  const active = ACTIVE.includes(job.state);
  const title = job.product_title || t('jobs.untitled', { id: job.product_id });
  const label = t('jobs.progress_label', { title, percent });
  const children = [
    h('div', { class: 'ps-job-head' },
      h('span', { class: 'ps-job-title' }, title),
      statusBadge(job.state),
      h('s-text', { tone: 'neutral' }, formatDateTime(job.created_at))),
  ];
  if (active || job.state === 'awaiting_review' || job.state === 'published') {
    children.push(h('div', { class: 'ps-job-progress' },
      h('s-progress', { value: String(percent), max: '100', accessibilityLabel: label, tone: job.state === 'published' ? 'success' : 'auto' }),
      h('span', { class: 'ps-percent', 'aria-hidden': 'true' }, `${percent} %`)));
    const stage = job.stage || job.state;
    children.push(h('s-text', { tone: 'neutral', class: 'ps-stage' }, has(`stages.${stage}`) ? t(`stages.${stage}`) : stage));
  }
  if (job.state === 'failed' && job.error) {
    children.push(h('s-banner', { tone: 'critical', heading: t('jobs.failed_heading'), 'data-state': 'job-error' },
      h('s-paragraph', { class: 'ps-error-message' }, job.error.message || t('errors.unknown')),
      h('s-paragraph', {}, errorHint(job.error.code))));
  }
  const actions = [];
  if (active || job.state === 'awaiting_review') {
    actions.push(h('s-button', {
      tone: 'critical', variant: 'secondary', 'data-action': 'cancel',
      accessibilityLabel: t('jobs.cancel_label', { title }), onclick: (e) => cancel(job, e.currentTarget),
    }, t('jobs.cancel')));
  }
  if (job.state === 'awaiting_review' || job.state === 'published') {
    actions.push(h('s-button', { href: appUrl(`/review/job/${job.id}`), variant: job.state === 'awaiting_review' ? 'primary' : 'secondary' },
      job.state === 'awaiting_review' ? t('jobs.review') : t('jobs.view')));
  }
  if (job.state === 'failed') {
    actions.push(h('s-button', { href: appUrl('/products') }, t('jobs.try_again')));
    actions.push(h('s-button', { href: appUrl('/pose-sets/editor', { product: numericId(job.product_id) }) }, t('jobs.place_skeleton')));
  }
  if (actions.length) children.push(h('div', { class: 'ps-toolbar' }, actions));
  return h('li', { class: 'ps-job', 'data-job': job.id, 'data-state': job.state }, children);
}

async function cancel(job, button) {
  button.setAttribute('loading', '');
  try {
    await apiFetch(`/api/jobs/${job.id}/cancel`, { method: 'POST' });
    await refresh();
  } catch (err) {
    button.closest('.ps-job').append(errorBanner(err, { heading: t('jobs.cancel_failed') }));
  } finally {
    button.removeAttribute('loading');
  }
}

async function refreshBulk(jobs) {
  const ids = [...new Set(jobs.filter((j) => j.bulk_id).map((j) => j.bulk_id))].slice(0, 5);
  const runs = (await Promise.all(ids.map((id) => apiFetch(`/api/bulk/${id}`).then((d) => d.bulk || d).catch(() => null))))
    .filter(Boolean);
  if (!runs.length) { replace(els.bulk); return false; }
  replace(els.bulk, h('s-section', { heading: t('jobs.bulk_heading') }, h('ul', { class: 'ps-job-list' }, runs.map((run) => {
    const percent = percentOf(run);
    const total = run.total ?? run.total_products ?? 0;
    const finished = run.done ?? run.completed ?? 0;
    return h('li', { class: 'ps-job', 'data-bulk': run.id },
      h('div', { class: 'ps-job-head' }, h('span', { class: 'ps-job-title' }, t('jobs.bulk_title', { id: run.id })),
        statusBadge(run.state || run.status)),
      h('div', { class: 'ps-job-progress' },
        h('s-progress', { value: String(percent), max: '100', accessibilityLabel: t('jobs.bulk_progress_label', { id: run.id, percent }) }),
        h('span', { class: 'ps-percent', 'aria-hidden': 'true' }, `${percent} %`)),
      h('s-text', { tone: 'neutral' }, t('jobs.bulk_counts', { done: finished, total, failed: run.failed ?? 0 })));
  }))));
  return runs.some((r) => percentOf(r) < 100 && !['done', 'finished', 'failed', 'cancelled'].includes(r.state || r.status));
}

async function refresh() {
  const filter = fieldValue(els.filter);
  const query = { status: filter === 'active' ? ACTIVE.join(',') : filter, limit: 100 };
  if (firstLoad) showLoading(els.region);
  try {
    const jobs = jobsOf(await apiFetch('/api/jobs', { query }));
    firstLoad = false;
    els.updated.textContent = t('jobs.updated', { time: formatTime(new Date()) });
    if (!jobs.length) {
      replace(els.list);
      showEmpty(els.region, filter
        ? { heading: t('jobs.empty_filtered.heading'), text: t('jobs.empty_filtered.text') }
        : { heading: t('jobs.empty.heading'), text: t('jobs.empty.text'), action: h('s-button', { variant: 'primary', href: appUrl('/products') }, t('jobs.new')) });
    } else {
      done(els.region);
      replace(els.list, jobs.map(jobItem));
    }
    const bulkBusy = await refreshBulk(jobs);
    return bulkBusy || jobs.some((j) => ACTIVE.includes(j.state));
  } catch (err) {
    if (firstLoad) showError(els.region, err, { onRetry: () => poller.now() });
    else replace(els.region, errorBanner(err, { heading: t('jobs.refresh_failed') }));
    throw err;
  }
}

const poller = new Poller(refresh);
els.filter.addEventListener('change', () => { firstLoad = true; poller.now(); });
poller.start();
