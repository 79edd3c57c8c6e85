// Review: per product a before/after grid — the source photo, then each output with its target skeleton as an
// inset and the quality check as a badge. Approve / reject / regenerate each image or all; choose each image's
// carousel position and variant; publish; then a link to the product in the Shopify admin.
import { apiFetch } from './api.js';
import {
  adminProductUrl, appUrl, done, errorBanner, h, numericId, pageContext, replace, showEmpty, showError, showLoading,
  successBanner, toast,
} from './dom.js';
import { t, tn } from './i18n.js';
import { loadPoseSkeletons } from './pose_data.js';
import { Poller } from './progress.js';
import { jobsOf } from './records.js';
import { frameOf, landmarksOf, skeletonFigure } from './skeleton_svg.js';
import { statusBadge } from './status.js';

const els = {
  region: document.getElementById('review-state'),
  jobs: document.getElementById('review-jobs'),
  result: document.getElementById('review-result'),
};
const poseCache = new Map(); // pose set id -> Map(pose id -> pose)
const imageCache = new Map(); // output id + decision -> object URL
const productCache = new Map();
let jobs = [];

async function loadJobs() {
  if (pageContext.review_job) {
    const data = await apiFetch(`/api/jobs/${encodeURIComponent(pageContext.review_job)}`);
    return [data.job || data];
  }
  const list = jobsOf(await apiFetch('/api/jobs', { query: { status: 'awaiting_review,publishing,published', limit: 100 } }));
  const wanted = pageContext.review_product
    ? list.filter((j) => numericId(j.product_id) === String(pageContext.review_product)) : list.filter((j) => j.state !== 'published');
  // the list may omit outputs: fetch each job whole
  return Promise.all(wanted.slice(0, 20).map(async (j) => (j.outputs ? j : (await apiFetch(`/api/jobs/${j.id}`)).job || j)));
}

async function posesOf(job) {
  const setId = job.pose_set && (job.pose_set.id || job.pose_set);
  if (!setId) return new Map();
  if (!poseCache.has(setId)) {
    const [set] = await loadPoseSkeletons([{ id: setId, poses: [] }]).catch(() => [{ poses: [] }]);
    let poses = set.poses;
    if (!poses.length) {
      try { poses = (await apiFetch(`/api/pose-sets/${encodeURIComponent(setId)}/poses`)).poses || []; } catch { poses = []; }
    }
    poseCache.set(setId, new Map(poses.map((p) => [p.id, p])));
  }
  return poseCache.get(setId);
}

async function productFor(job) {
  const id = numericId(job.product_id);
  if (!productCache.has(id)) {
    // the product's title, photo and variants (GET /api/products/<id>/source-skeleton)
    productCache.set(id, apiFetch(`/api/products/${encodeURIComponent(id)}/source-skeleton`)
      .then((d) => ({ title: d.title, image: d.photo && d.photo.url, variants: d.variants || [] })).catch(() => null));
  }
  return productCache.get(id);
}

/** Output images need the session token, which an <img src> cannot send: fetch them and show a blob URL. */
function authImage(url, alt, className) {
  const img = h('img', { alt, class: className, loading: 'lazy' });
  if (!url) return img;
  if (imageCache.has(url)) { img.src = imageCache.get(url); return img; }
  apiFetch(url, { raw: true }).then((r) => r.blob()).then((blob) => {
    const objectUrl = URL.createObjectURL(blob);
    imageCache.set(url, objectUrl);
    img.src = objectUrl;
  }).catch(() => { img.replaceWith(h('div', { class: 'ps-image-missing', role: 'img', 'aria-label': alt }, t('review.image_failed'))); });
  return img;
}

function scoreBadge(output) {
  const oks = output.scores && Number.isFinite(output.scores.oks) ? output.scores.oks.toFixed(2) : null;
  if (output.passed === null || output.passed === undefined) return h('s-badge', { tone: 'neutral' }, t('review.check_pending'));
  return h('s-badge', {
    tone: output.passed ? 'success' : 'critical', 'data-check': output.passed ? 'passed' : 'failed',
  }, output.passed ? t('review.check_passed', { score: oks ?? '–' }) : t('review.check_failed', { score: oks ?? '–' }));
}

function decisionBadge(output) {
  const tones = { approved: 'success', rejected: 'critical', pending: 'neutral' };
  const decision = output.decision || 'pending';
  return h('s-badge', { tone: tones[decision] || 'neutral', 'data-decision': decision }, t(`review.decision.${decision}`));
}

function outputCard(job, output, poses, product, count) {
  const pose = poses.get(output.pose_id);
  const landmarks = pose && landmarksOf(pose.skeleton);
  const title = output.pose_name || (pose && pose.name) || output.pose_id;
  const editable = job.state === 'awaiting_review';
  const positionId = `position-${output.id}`;
  const variantId = `variant-${output.id}`;
  const variants = (product && product.variants) || [];
  return h('li', { class: `ps-output ps-output--${output.decision || 'pending'}`, 'data-output': output.id },
    h('figure', { class: 'ps-output-figure' },
      authImage(output.image_url, t('review.output_alt', { pose: title }), 'ps-output-image'),
      landmarks ? h('div', { class: 'ps-inset' }, skeletonFigure(landmarks, { title: t('review.target_pose', { pose: title }), frame: frameOf(pose.skeleton), fit: true })) : null,
      h('figcaption', {}, h('span', { class: 'ps-output-title' }, title), ' ', scoreBadge(output), ' ', decisionBadge(output))),
    output.passed === false && (output.reasons || []).length
      ? h('ul', { class: 'ps-reasons', 'aria-label': t('review.reasons_label') }, output.reasons.map((r) => h('li', {}, r))) : null,
    output.regenerating ? h('s-text', { tone: 'neutral' }, t('review.regenerating')) : null,
    editable ? h('div', { class: 'ps-output-options' },
      h('label', { for: positionId }, t('review.position_label')),
      h('select', { id: positionId, 'data-field': 'position' },
        Array.from({ length: Math.max(count, 1) }, (_, i) => h('option', { value: i + 1, selected: carouselPosition(output) === i + 1 ? true : null }, String(i + 1)))),
      variants.length > 1 ? [
        h('label', { for: variantId }, t('review.variant_label')),
        h('select', { id: variantId, 'data-field': 'variant' },
          h('option', { value: '' }, t('review.variant_none')),
          variants.map((v) => h('option', { value: v.id, selected: String(v.id) === String(output.variant_id ?? '') ? true : null }, v.title))),
      ] : null) : null,
    editable ? h('div', { class: 'ps-toolbar' },
      h('s-button', { variant: 'primary', 'data-action': 'approve', accessibilityLabel: t('review.approve_label', { pose: title }), onclick: (e) => decide(job, output, 'approve', e.currentTarget) }, t('review.approve')),
      h('s-button', { 'data-action': 'reject', accessibilityLabel: t('review.reject_label', { pose: title }), onclick: (e) => decide(job, output, 'reject', e.currentTarget) }, t('review.reject')),
      h('s-button', { variant: 'tertiary', 'data-action': 'regenerate', accessibilityLabel: t('review.regenerate_label', { pose: title }), onclick: (e) => decide(job, output, 'regenerate', e.currentTarget) }, t('review.regenerate'))) : null);
}

/** 1 = first of the job's images in the carousel (what approve takes; `position` in the record is 0-based). */
function carouselPosition(output) {
  return output.carousel_position ?? (output.position ?? 0) + 1;
}

/** Approve's body: the carousel position and the variant chosen on the card (null variant: shown for all). */
function optionsOf(outputId) {
  const card = document.querySelector(`[data-output="${outputId}"]`);
  const position = card && card.querySelector('[data-field="position"]');
  const variant = card && card.querySelector('[data-field="variant"]');
  const body = {};
  if (position) body.position = Number(position.value);
  if (variant) body.variant_id = variant.value || null;
  return body;
}

async function decide(job, output, action, button) {
  button?.setAttribute('loading', '');
  try {
    await apiFetch(`/api/outputs/${output.id}/${action}`, { method: 'POST', json: action === 'approve' ? optionsOf(output.id) : {} });
    toast(t(`review.toast_${action}`));
    await refresh();
  } catch (err) {
    replace(els.result, errorBanner(err, { heading: t('review.action_failed') }));
  } finally {
    button?.removeAttribute('loading');
  }
}

async function decideAll(job, action, button) {
  button.setAttribute('loading', '');
  try {
    for (const output of job.outputs.filter((o) => (o.decision || 'pending') === 'pending')) {
      await apiFetch(`/api/outputs/${output.id}/${action}`, { method: 'POST', json: action === 'approve' ? optionsOf(output.id) : {} });
    }
    await refresh();
  } catch (err) {
    replace(els.result, errorBanner(err, { heading: t('review.action_failed') }));
  } finally {
    button.removeAttribute('loading');
  }
}

async function publish(job, button) {
  button.setAttribute('loading', '');
  try {
    await apiFetch(`/api/jobs/${job.id}/publish`, { method: 'POST', json: {} });
    replace(els.result, successBanner(t('review.publishing')));
    els.result.dataset.kind = 'publishing';
    poller.now();
  } catch (err) {
    replace(els.result, errorBanner(err, { heading: t('review.publish_failed') }));
  } finally {
    button.removeAttribute('loading');
  }
}

function sourceImage(job, product, alt) {
  if (job.source_url) return authImage(job.source_url, alt, 'ps-output-image ps-source-image');
  if (product && product.image) return h('img', { src: product.image, alt, class: 'ps-output-image ps-source-image' });
  return h('div', { class: 'ps-image-missing' }, t('review.no_source'));
}

async function jobSection(job) {
  const [poses, product] = await Promise.all([posesOf(job), productFor(job)]);
  const outputs = [...(job.outputs || [])].sort((a, b) => (a.position ?? 0) - (b.position ?? 0));
  const approved = outputs.filter((o) => o.decision === 'approved').length;
  const pending = outputs.filter((o) => (o.decision || 'pending') === 'pending').length;
  const title = job.product_title || (product && product.title) || t('jobs.untitled', { id: job.product_id });
  // the photo this job generates from, as stored (needs the token: fetched as a blob); else the product's photo
  const head = h('div', { class: 'ps-review-head' }, statusBadge(job.state),
    h('s-text', { tone: 'neutral' }, ` ${tn('review.summary', outputs.length, { approved })}`));
  const toolbar = [];
  if (job.state === 'awaiting_review') {
    if (pending) {
      toolbar.push(h('s-button', { 'data-action': 'approve-all', onclick: (e) => decideAll(job, 'approve', e.currentTarget) }, t('review.approve_all')));
      toolbar.push(h('s-button', { 'data-action': 'reject-all', onclick: (e) => decideAll(job, 'reject', e.currentTarget) }, t('review.reject_all')));
    }
    toolbar.push(h('s-button', {
      variant: 'primary', 'data-action': 'publish', disabled: approved === 0 ? true : null,
      onclick: (e) => publish(job, e.currentTarget),
    }, approved ? tn('review.publish', approved) : t('review.publish_none')));
  }
  const published = job.state === 'published';
  return h('s-section', { heading: title, 'data-job': job.id, 'data-state': job.state },
    head,
    published ? h('s-banner', { tone: 'success', 'data-state': 'published' },
      h('s-paragraph', {}, t('review.published')),
      h('s-link', { href: adminProductUrl(job.product_id), target: '_top', 'data-link': 'admin-product' }, t('review.open_in_admin'))) : null,
    job.state === 'publishing' ? h('div', { class: 'ps-loading' }, h('s-spinner', { accessibilityLabel: t('review.publishing') }), h('s-text', {}, t('review.publishing'))) : null,
    h('ul', { class: 'ps-output-grid', 'aria-label': t('review.grid_label', { title }) },
      h('li', { class: 'ps-output ps-output--source' },
        h('figure', { class: 'ps-output-figure' },
          sourceImage(job, product, t('review.source_alt', { title })),
          h('figcaption', {}, h('span', { class: 'ps-output-title' }, t('review.before'))))),
      outputs.map((o) => outputCard(job, o, poses, product, outputs.length))),
    toolbar.length ? h('div', { class: 'ps-toolbar' }, toolbar) : null);
}

let firstLoad = true;
let lastSnapshot = '';
async function refresh() {
  if (firstLoad) showLoading(els.region);
  try {
    jobs = await loadJobs();
    firstLoad = false;
    if (!jobs.length) {
      replace(els.jobs);
      showEmpty(els.region, {
        heading: t('review.empty.heading'), text: t('review.empty.text'),
        action: h('s-button', { href: appUrl('/jobs') }, t('nav.jobs')),
      });
      return false;
    }
    done(els.region);
    if (els.result.dataset.kind === 'publishing' && !jobs.some((j) => j.state === 'publishing')) {
      replace(els.result);
      delete els.result.dataset.kind;
    }
    // polling must not throw away a position or variant the merchant is choosing: re-render on change only
    const snapshot = JSON.stringify(jobs);
    if (snapshot === lastSnapshot) return jobs.some((j) => j.state === 'publishing');
    lastSnapshot = snapshot;
    const focused = document.activeElement && document.activeElement.closest && document.activeElement.closest('[data-output]');
    replace(els.jobs, await Promise.all(jobs.map(jobSection)));
    if (focused) document.querySelector(`[data-output="${focused.dataset.output}"] s-button`)?.focus();
    return jobs.some((j) => j.state === 'publishing' || (j.outputs || []).some((o) => o.regenerating));
  } catch (err) {
    if (firstLoad) showError(els.region, err, { onRetry: () => poller.now() });
    throw err;
  }
}

const poller = new Poller(refresh, { slow: 30000 });
poller.start();
