// Pose sets: the gallery of built-in and custom sets, each pose drawn as a skeleton figure and, once a product is
// chosen, as a preview on that product's photo. Picking poses (checkboxes on the figures) and naming the selection
// creates a custom set; drawing a pose or reading one from a photo happens in the pose editor.
import { apiFetch } from './api.js';
import {
  appUrl, done, errorBanner, fieldValue, h, replace, setOptions, showEmpty, showError, showLoading, successBanner,
} from './dom.js';
import { t, tn } from './i18n.js';
import { poseSetsOf, productOf } from './records.js';
import { frameOf, landmarksOf, placePoseOnPhoto, skeletonFigure } from './skeleton_svg.js';
import { loadPoseSkeletons } from './pose_data.js';

const els = {
  gallery: document.getElementById('sets-gallery'),
  region: document.getElementById('sets-state'),
  product: document.getElementById('preview-product'),
  previewState: document.getElementById('preview-state'),
  form: document.getElementById('create-set-form'),
  name: document.getElementById('create-set-name'),
  picked: document.getElementById('create-set-picked'),
  result: document.getElementById('create-set-result'),
  submit: document.getElementById('create-set-submit'),
};

const state = { sets: [], products: [], product: null, picked: new Set() };

async function loadSets() {
  showLoading(els.region);
  try {
    state.sets = await loadPoseSkeletons(poseSetsOf(await apiFetch('/api/pose-sets')));
    if (!state.sets.length) {
      showEmpty(els.region, { heading: t('pose_sets.empty.heading'), text: t('pose_sets.empty.text') });
      return;
    }
    done(els.region);
    renderGallery();
  } catch (err) {
    showError(els.region, err, { onRetry: loadSets });
  }
}

function figureFor(pose) {
  const landmarks = landmarksOf(pose.skeleton);
  const frame = frameOf(pose.skeleton);
  if (!landmarks) return h('div', { class: 'ps-figure-missing' }, t('pose_sets.no_figure'));
  const p = state.product;
  if (p && p.image) {
    const photoFrame = { width: p.imageWidth || 3, height: p.imageHeight || 4 };
    const placed = placePoseOnPhoto(landmarks, frame, landmarksOf(p.sourceSkeleton), photoFrame);
    return skeletonFigure(placed, {
      title: t('pose_sets.preview_title', { pose: pose.name, product: p.title }), frame: photoFrame, background: p.image,
      className: 'ps-figure-svg--preview',
    });
  }
  return skeletonFigure(landmarks, { title: t('pose_sets.figure_title', { pose: pose.name }), frame, fit: true });
}

function renderGallery() {
  replace(els.gallery, state.sets.map((set) => h('s-section', {
    heading: set.name, 'data-set': set.id,
  },
  h('div', { class: 'ps-set-meta' },
    set.custom ? h('s-badge', { tone: 'info' }, t('pose_sets.custom')) : h('s-badge', { tone: 'neutral' }, t('pose_sets.builtin')),
    h('s-text', { tone: 'neutral' }, ` ${tn('pose_sets.pose_count', set.poses.length)}`),
    set.description ? h('s-paragraph', {}, set.description) : null),
  h('ul', { class: 'ps-pose-grid', 'aria-label': t('pose_sets.poses_of', { set: set.name }) }, set.poses.map((pose) => {
    const key = `${set.id}/${pose.id}`;
    const id = `pick-${set.id}-${pose.id}`;
    return h('li', { class: 'ps-pose-card', 'data-pose': key },
      figureFor(pose),
      h('label', { class: 'ps-pose-pick', for: id },
        h('input', {
          type: 'checkbox', id, checked: state.picked.has(key) ? true : null,
          onchange: (e) => { if (e.target.checked) state.picked.add(key); else state.picked.delete(key); updatePicked(); },
        }),
        h('span', {}, pose.name)));
  })),
  h('div', { class: 'ps-toolbar' },
    h('s-button', { href: appUrl('/products', { pose_set: set.id }) }, t('pose_sets.use_set')),
    set.custom ? h('s-button', { href: appUrl('/pose-sets/editor', { set: set.id }) }, t('pose_sets.edit_set')) : null))));
}

function updatePicked() {
  els.picked.textContent = state.picked.size ? tn('pose_sets.create.picked', state.picked.size) : t('pose_sets.create.picked_none');
}

async function loadProducts() {
  try {
    const data = await apiFetch('/api/products', { query: { first: 50 } });
    state.products = (data.products || data.items || []).map(productOf).filter((p) => p.image);
    setOptions(els.product, [{ value: '', label: t('pose_sets.preview.no_product') },
      ...state.products.map((p) => ({ value: p.id, label: p.title }))], '');
  } catch (err) {
    replace(els.previewState, errorBanner(err, { heading: t('pose_sets.preview.products_failed') }));
  }
}

async function chooseProduct() {
  const id = fieldValue(els.product);
  const product = state.products.find((p) => String(p.id) === id) || null;
  if (product && product.image && !product.imageWidth) {
    // the photo's size decides the preview's frame
    await new Promise((resolve) => {
      const img = new Image();
      img.onload = () => { product.imageWidth = img.naturalWidth; product.imageHeight = img.naturalHeight; resolve(); };
      img.onerror = resolve;
      img.src = product.image;
    });
  }
  state.product = product;
  replace(els.previewState, product ? h('s-text', { tone: 'neutral' }, t('pose_sets.preview.showing', { product: product.title })) : null);
  renderGallery();
}

async function createSet(event) {
  event.preventDefault();
  const name = fieldValue(els.name).trim();
  if (!name) {
    els.name.setAttribute('error', t('pose_sets.create.name_required'));
    els.name.focus();
    return;
  }
  els.name.removeAttribute('error');
  if (!state.picked.size) {
    replace(els.result, errorBanner({ message: t('pose_sets.create.pick_required') }));
    return;
  }
  els.submit.setAttribute('loading', '');
  try {
    const data = await apiFetch('/api/pose-sets', { method: 'POST', json: { name, poses: [...state.picked] } });
    const created = data.pose_set || data;
    replace(els.result, successBanner(t('pose_sets.create.created', { name: created.name || name }),
      h('s-button', { slot: 'secondary-actions', href: appUrl('/products', { pose_set: created.id }) }, t('pose_sets.use_set'))));
    state.picked.clear();
    updatePicked();
    await loadSets();
  } catch (err) {
    replace(els.result, errorBanner(err, { heading: t('pose_sets.create.failed') }));
  } finally {
    els.submit.removeAttribute('loading');
  }
}

els.product.addEventListener('change', chooseProduct);
els.form.addEventListener('submit', createSet);
updatePicked();
loadSets();
loadProducts();
