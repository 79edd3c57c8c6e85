// Home: jobs by state, images published this week, usage against the daily limit, worker health and queue lengths,
// and the next step for a merchant who has not generated anything yet. Polled while the page is visible.
import { apiFetch } from './api.js';
import { h, replace, showError, showLoading, done } from './dom.js';
import { t, tn } from './i18n.js';
import { Poller } from './progress.js';

const status = document.getElementById('home-status');
const cards = document.getElementById('home-cards');

const GROUPS = [
  ['active', ['queued', 'fetching', 'generating', 'checking', 'publishing']],
  ['awaiting_review', ['awaiting_review']],
  ['published', ['published']],
  ['failed', ['failed']],
];

async function overview() {
  // One call: counts, this week's images, usage and worker health are summed up server-side (GET /api/overview).
  const o = await apiFetch('/api/overview');
  const counts = o.jobs_by_state || {};
  return {
    counts,
    total: o.total_jobs ?? Object.values(counts).reduce((a, b) => a + b, 0),
    publishedThisWeek: o.published_this_week ?? 0,
    usage: o.usage || { used: 0, limit: null },
    worker: o.workers || null,
  };
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

const QUEUE_NAMES = ['gpu', 'shopify'];

function renderWorker(worker) {
  const box = document.getElementById('home-worker');
  if (!worker || worker.status === 'unknown' || worker.online === null || worker.online === undefined) {
    replace(box, h('s-badge', { tone: 'neutral', 'data-worker': 'unknown' }, t('home.worker.unknown')),
      h('s-paragraph', {}, t('home.worker.unknown_help')));
    return;
  }
  const online = Boolean(worker.online);
  const queues = worker.queues || {};
  const help = { no_workers: 'home.worker.offline_help', no_gpu_worker: 'home.worker.no_gpu_help', no_shopify_worker: 'home.worker.no_shopify_help' }[worker.status];
  replace(box,
    h('s-badge', { tone: online ? 'success' : 'critical', 'data-worker': online ? 'online' : 'offline' },
      online ? t('home.worker.online') : t('home.worker.offline')),
    h('ul', { class: 'ps-queue-list', 'aria-label': t('home.worker.queues_label') },
      QUEUE_NAMES.filter((name) => queues[name]).map((name) => {
        const q = queues[name];
        return h('li', { 'data-queue': name },
          h('span', {}, `${t(`home.worker.queue.${name}`)}: `),
          h('span', {}, q.length === null || q.length === undefined ? t('home.worker.length_unknown') : tn('home.worker.queued', q.length)),
          h('span', { class: 'ps-muted' }, ` · ${tn('home.worker.workers', q.workers ?? 0)}`));
      })),
    help ? h('s-paragraph', {}, t(help)) : null);
}

let loaded = false;

async function load() {
  if (!loaded) { showLoading(status); cards.hidden = true; }
  try {
    const data = await overview();
    renderCounts(data.counts);
    document.getElementById('home-published').textContent = String(data.publishedThisWeek);
    renderUsage(data.usage);
    renderWorker(data.worker);
    const review = data.counts.awaiting_review || 0;
    document.getElementById('home-review').hidden = review === 0;
    document.getElementById('home-review-text').textContent = tn('home.review_banner.text', review);
    document.getElementById('home-onboarding').hidden = data.total > 0;
    cards.hidden = false;
    done(status);
    loaded = true;
    // poll faster while work is under way (the overview is cheap: two counts and a cached worker check)
    return ['queued', 'fetching', 'generating', 'checking', 'publishing'].some((s) => data.counts[s]);
  } catch (err) {
    if (!loaded) showError(status, err, { onRetry: () => poller.now() });
    throw err;
  }
}

const poller = new Poller(load, { fast: 5000, slow: 30000 });
poller.start();
