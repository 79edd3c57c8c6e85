// Products: a searchable, paginated list with thumbnails, variants and generation status. Select products (and,
// where variants have their own images, variants), pick a pose set, generate.
import { apiFetch } from './api.js';
import {
  appUrl, done, errorBanner, fieldValue, h, replace, setOptions, showEmpty, showError, showLoading, successBanner,
} from './dom.js';
import { t, tn } from './i18n.js';
import { pageInfoOf, poseSetsOf, productOf } from './records.js';
import { statusBadge } from './status.js';

const state = {
  query: '', cursor: null, history: [], pageInfo: null, products: [],
  selected: new Map(), // product id -> {title, variants: Set of variant ids}
};

const els = {
  body: document.getElementById('products-body'),
  table: document.getElementById('products-table'),
  region: document.getElementById('products-state'),
  prev: document.getElementById('products-prev'),
  next: document.getElementById('products-next'),
  selectAll: document.getElementById('products-select-all'),
  poseSet: document.getElementById('generate-pose-set'),
  mode: document.getElementById('generate-mode'),
  submit: document.getElementById('generate-submit'),
  result: document.getElementById('generate-result'),
  form: document.getElementById('generate-form'),
  search: document.getElementById('product-search'),
  query: document.getElementById('product-query'),
};

async function loadPoseSets() {
  try {
    const [sets, settings] = await Promise.all([
      apiFetch('/api/pose-sets').then(poseSetsOf),
      apiFetch('/api/settings').then((d) => d.settings || d).catch(() => ({})),
    ]);
    const preferred = new URLSearchParams(location.search).get('pose_set') || settings.default_pose_set || sets[0]?.id;
    setOptions(els.poseSet, sets.map((s) => ({
      value: s.id, label: `${s.name} (${tn('pose_sets.pose_count', s.poses.length)})`,
    })), preferred);
  } catch (err) {
    setOptions(els.poseSet, [{ value: '', label: t('products.generate.pose_sets_failed') }], '');
    replace(els.result, errorBanner(err, { heading: t('products.generate.pose_sets_failed') }));
  }
  updateSubmit();
}

async function loadProducts() {
  showLoading(els.region);
  els.table.hidden = true;
  try {
    const data = await apiFetch('/api/products', { query: { query: state.query, after: state.cursor } });
    state.products = (data.products || data.items || []).map(productOf);
    state.pageInfo = pageInfoOf(data);
    render();
  } catch (err) {
    showError(els.region, err, { onRetry: loadProducts });
  }
}

function render() {
  els.prev.disabled = state.history.length === 0;
  els.next.disabled = !state.pageInfo.hasNext;
  if (!state.products.length) {
    showEmpty(els.region, state.query
      ? { heading: t('products.empty_search.heading', { query: state.query }), text: t('products.empty_search.text') }
      : { heading: t('products.empty.heading'), text: t('products.empty.text') });
    return;
  }
  done(els.region);
  replace(els.body, state.products.flatMap(productRows));
  els.table.hidden = false;
  syncSelectAll();
}

function productRows(p) {
  const picked = state.selected.get(p.id);
  const checkbox = h('input', {
    type: 'checkbox', id: `select-${p.numericId}`, 'data-product': p.id, checked: picked ? true : null,
    onchange: (e) => toggleProduct(p, e.target.checked),
  });
  const thumb = p.image
    ? h('img', { src: p.image, alt: '', class: 'ps-thumb', loading: 'lazy', width: 48, height: 48 })
    : h('span', { class: 'ps-thumb ps-thumb--empty', 'aria-hidden': 'true' });
  const variantsCell = p.variants.length <= 1
    ? h('span', { class: 'ps-muted' }, tn('products.variant_count', p.variants.length))
    : h('span', {}, tn('products.variant_count', p.variants.length),
      p.variantsWithImages.length ? h('span', { class: 'ps-muted' }, ` · ${tn('products.variants_with_images', p.variantsWithImages.length)}`) : null);
  const actions = [];
  if (p.state === 'awaiting_review' || p.state === 'published') {
    actions.push(h('s-link', { href: appUrl(`/review/product/${p.numericId}`) }, t('products.action_review')));
  } else if (p.state && p.jobId) {
    actions.push(h('s-link', { href: appUrl('/jobs') }, t('products.action_progress')));
  }
  actions.push(h('s-link', { href: appUrl('/pose-sets/editor', { product: p.numericId }) }, t('products.action_skeleton')));
  const row = h('tr', { 'data-product-row': p.numericId, class: picked ? 'is-selected' : '' },
    h('td', { class: 'ps-col-check' }, h('label', { class: 'ps-check', for: `select-${p.numericId}` }, checkbox,
      h('span', { class: 'ps-visually-hidden' }, t('products.select_product', { title: p.title })))),
    h('td', {}, h('div', { class: 'ps-product-cell' }, thumb, h('span', { class: 'ps-product-title' }, p.title))),
    h('td', {}, variantsCell),
    h('td', {}, statusBadge(p.state), p.progress != null && p.state && !['published', 'failed', 'cancelled', 'awaiting_review'].includes(p.state)
      ? h('span', { class: 'ps-muted' }, ` ${p.progress} %`) : null),
    h('td', { class: 'ps-actions' }, actions));
  const rows = [row];
  if (picked && p.variantsWithImages.length) rows.push(variantRow(p, picked));
  return rows;
}

function variantRow(p, picked) {
  const legendId = `variants-${p.numericId}`;
  return h('tr', { class: 'ps-variant-row', 'data-variants-of': p.numericId },
    h('td', {}),
    h('td', { colspan: 4 },
      h('fieldset', { class: 'ps-variants', 'aria-describedby': `${legendId}-help` },
        h('legend', { id: legendId }, t('products.variants_legend', { title: p.title })),
        h('p', { id: `${legendId}-help`, class: 'ps-muted' }, t('products.variants_help')),
        h('div', { class: 'ps-variant-grid' }, p.variantsWithImages.map((v) => h('label', { class: 'ps-variant' },
          h('input', {
            type: 'checkbox', 'data-variant': v.id, checked: picked.variants.has(v.id) ? true : null,
            onchange: (e) => { if (e.target.checked) picked.variants.add(v.id); else picked.variants.delete(v.id); updateSubmit(); },
          }),
          v.image ? h('img', { src: v.image, alt: '', class: 'ps-thumb ps-thumb--small', loading: 'lazy', width: 32, height: 32 }) : null,
          h('span', {}, v.title)))))));
}

function toggleProduct(p, on) {
  if (on) state.selected.set(p.id, { title: p.title, variants: new Set() });
  else state.selected.delete(p.id);
  render();
  document.getElementById(`select-${p.numericId}`)?.focus();
  updateSubmit();
}

function syncSelectAll() {
  const onPage = state.products.filter((p) => state.selected.has(p.id)).length;
  els.selectAll.checked = onPage > 0 && onPage === state.products.length;
  els.selectAll.indeterminate = onPage > 0 && onPage < state.products.length;
}

function updateSubmit() {
  const n = state.selected.size;
  els.submit.disabled = n === 0 || !fieldValue(els.poseSet);
  els.submit.textContent = n ? tn('products.generate.submit', n) : t('products.generate.submit_none');
}

let busy = false;

async function generate(event) {
  event.preventDefault();
  if (busy || !state.selected.size) return;
  const poseSet = fieldValue(els.poseSet);
  if (!poseSet) {
    replace(els.result, errorBanner({ message: t('products.generate.choose_pose_set') }));
    return;
  }
  const variantIds = [...state.selected.values()].flatMap((s) => [...s.variants]);
  const body = { product_ids: [...state.selected.keys()], pose_set: poseSet, mode: fieldValue(els.mode) || 'review' };
  if (variantIds.length) body.variant_ids = variantIds;
  busy = true;
  els.submit.loading = true; els.submit.setAttribute('loading', '');
  els.submit.disabled = true;
  try {
    const data = await apiFetch('/api/jobs', { method: 'POST', json: body });
    const jobs = data.jobs || (data.job ? [data.job] : []);
    replace(els.result, successBanner(tn('products.generate.started', jobs.length || body.product_ids.length),
      h('s-button', { slot: 'secondary-actions', href: appUrl('/jobs') }, t('products.generate.watch'))));
    state.selected.clear();
    await loadProducts();
  } catch (err) {
    replace(els.result, errorBanner(err, { heading: t('products.generate.failed') }));
  } finally {
    busy = false;
    els.submit.loading = false; els.submit.removeAttribute('loading');
    updateSubmit();
  }
}

els.selectAll.addEventListener('change', (e) => {
  for (const p of state.products) {
    if (e.target.checked) { if (!state.selected.has(p.id)) state.selected.set(p.id, { title: p.title, variants: new Set() }); } else state.selected.delete(p.id);
  }
  render();
  updateSubmit();
});
els.next.addEventListener('click', () => {
  if (!state.pageInfo?.hasNext) return;
  state.history.push(state.cursor);
  state.cursor = state.pageInfo.endCursor;
  loadProducts();
});
els.prev.addEventListener('click', () => {
  if (!state.history.length) return;
  state.cursor = state.history.pop();
  loadProducts();
});
els.search.addEventListener('submit', (e) => {
  e.preventDefault();
  state.query = fieldValue(els.query).trim();
  state.cursor = null; state.history = [];
  loadProducts();
});
els.poseSet.addEventListener('change', updateSubmit);
els.form.addEventListener('submit', generate);
els.submit.addEventListener('click', (e) => { if (!els.submit.disabled) generate(e); });

loadPoseSets();
loadProducts();
