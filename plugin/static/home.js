// Home: jobs by state, images published this week, usage against the daily limit, worker health, and the next
// step for a merchant who has not generated anything yet.
import { apiFetch } from './api.js';
import { h, replace, showError, showLoading, done } from './dom.js';
import { t, tn } from './i18n.js';
import { jobsOf } from './records.js';

const status = document.getElementById('home-status');
const cards = document.getElementById('home-cards');

const GROUPS = [
  ['active', ['queued', 'fetching', 'generating', 'checking', 'publishing']],
  ['awaiting_review', ['awaiting_review']],
  ['published', ['published']],
  ['failed', ['failed']],
];

async function overview() {
  // One call when the backend has the summary; otherwise assembled from the job list and the settings.
  try {
    return normalizeOverview(await apiFetch('/api/overview'));
  } catch (err) {
    if (err.status !== 404) throw err;
  }
  const [jobsData, settingsData] = await Promise.all([
    apiFetch('/api/jobs', { query: { limit: 500 } }),
    apiFetch('/api/settings').catch(() => ({})),
  ]);
  const jobs = jobsOf(jobsData);
  const counts = {};
  for (const job of jobs) counts[job.state] = (counts[job.state] || 0) + 1;
  const weekAgo = Date.now() - 7 * 24 * 3600 * 1000;
  let publishedThisWeek = 0;
  for (const job of jobs) {
    if (job.state === 'published' && Date.parse(job.finished_at || job.updated_at) >= weekAgo) {
      publishedThisWeek += (job.outputs || []).filter((o) => o.published).length || 1;
    }
  }
  const settings = settingsData.settings || settingsData;
  const today = new Date().toISOString().slice(0, 10);
  const usedToday = jobs.filter((j) => (j.created_at || '').slice(0, 10) === today).length;
  return {
    counts, total: jobs.length, publishedThisWeek, worker: null,
    usage: { used: usedToday, limit: settings.daily_limit ?? null },
  };
}

function normalizeOverview(data) {
  const o = data.overview || data;
  return {
    counts: o.jobs_by_state || o.counts || {},
    total: o.total_jobs ?? Object.values(o.jobs_by_state || o.counts || {}).reduce((a, b) => a + b, 0),
    publishedThisWeek: o.published_this_week ?? o.images_published_this_week ?? 0,
    usage: o.usage || { used: o.used_today ?? 0, limit: o.daily_limit ?? null },
    worker: o.worker || o.workers || null,
  };
}

async function workerHealth(fromOverview) {
  if (fromOverview) return fromOverview;
  try {
    const data = await apiFetch('/api/health/workers');
    return data.workers || data;
  } catch {
    return null;
  }
}

function renderCounts(counts) {
  const list = document.getElementById('home-jobs-counts');
  replace(list, GROUPS.map(([key, states]) => {
    const n = states.reduce((sum, s) => sum + (counts[s] || 0), 0);
    return h('div', { class: 'ps-stat', 'data-group': key },
      h('dt', {}, t(`home.jobs.${key}`)), h('dd', {}, String(n)));
  }));
}

function renderUsage(usage) {
  const text = document.getElementById('home-usage');
  const bar = document.getElementById('home-usage-bar');
  if (usage.limit) {
    const percent = Math.min(100, Math.round((100 * usage.used) / usage.limit));
    text.textContent = t('home.usage.of_limit', { used: usage.used, limit: usage.limit });
    bar.setAttribute('value', String(percent));
    bar.setAttribute('tone', percent >= 90 ? 'critical' : 'auto');
    bar.hidden = false;
  } else {
    text.textContent = t('home.usage.no_limit', { used: usage.used });
    bar.hidden = true;
  }
}

function renderWorker(worker) {
  const box = document.getElementById('home-worker');
  if (!worker) {
    replace(box, h('s-badge', { tone: 'neutral' }, t('home.worker.unknown')),
      h('s-paragraph', {}, t('home.worker.unknown_help')));
    return;
  }
  const online = worker.online ?? worker.ok ?? (worker.count ?? worker.workers ?? 0) > 0;
  const queued = worker.queued ?? worker.queue_length;
  replace(box,
    h('s-badge', { tone: online ? 'success' : 'critical', 'data-worker': online ? 'online' : 'offline' },
      online ? t('home.worker.online') : t('home.worker.offline')),
    queued !== undefined ? h('s-paragraph', {}, tn('home.worker.queued', queued)) : null,
    online ? null : h('s-paragraph', {}, t('home.worker.offline_help')));
}

async function load() {
  showLoading(status);
  cards.hidden = true;
  try {
    const data = await overview();
    renderCounts(data.counts);
    document.getElementById('home-published').textContent = String(data.publishedThisWeek);
    renderUsage(data.usage);
    renderWorker(await workerHealth(data.worker));
    const review = data.counts.awaiting_review || 0;
    document.getElementById('home-review').hidden = review === 0;
    document.getElementById('home-review-text').textContent = tn('home.review_banner.text', review);
    document.getElementById('home-onboarding').hidden = data.total > 0;
    cards.hidden = false;
    done(status);
  } catch (err) {
    showError(status, err, { onRetry: load });
  }
}

load();
