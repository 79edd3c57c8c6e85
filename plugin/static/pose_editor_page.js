// The pose editor page. Two uses of one canvas:
// - /pose-sets/editor?product=<id>: place the skeleton on a product photo (where the detector missed the figure,
//   or got it wrong) and save it as that product's source skeleton;
// - /pose-sets/editor[?set=<custom set>]: build a custom pose set from drawn poses, copies of built-in poses and
//   poses read from a reference photo, each adjustable on the canvas.
import { apiFetch } from './api.js';
import {
  appUrl, done, errorBanner, fieldValue, h, numericId, pageContext, replace, setFieldValue, setOptions, showError,
  showLoading, successBanner,
} from './dom.js';
import { t, tn } from './i18n.js';
import { PoseEditor, TEMPLATE_POSE } from './pose_editor.js';
import { loadPoseSkeletons } from './pose_data.js';
import { poseSetsOf, productOf } from './records.js';
import { frameOf, jointName, landmarksOf, placePoseOnPhoto } from './skeleton_svg.js';

const DEFAULT_FRAME = { width: 1000, height: 1000 };
const els = {
  state: document.getElementById('editor-state'),
  result: document.getElementById('editor-result'),
  canvas: document.getElementById('editor-canvas'),
  save: document.getElementById('editor-save'),
  selected: document.getElementById('editor-selected'),
  hidden: document.getElementById('editor-joint-hidden'),
  poses: document.getElementById('editor-poses'),
  name: document.getElementById('editor-set-name'),
  backdrop: document.getElementById('editor-backdrop'),
  copy: document.getElementById('editor-copy-builtin'),
  drop: document.getElementById('editor-photo-drop'),
  photoState: document.getElementById('editor-photo-state'),
};
const productId = pageContext.product_id || null;
const state = { editor: null, frame: DEFAULT_FRAME, background: null, poses: [], current: 0, product: null, products: [] };

function newEditor(frame, background, landmarks) {
  state.frame = frame; state.background = background;
  state.editor = new PoseEditor(els.canvas, {
    width: frame.width, height: frame.height, background, landmarks,
    onChange: () => {
      const pose = state.poses[state.current];
      if (pose && state.editor) pose.skeleton = state.editor.toSkeleton();
    },
    onSelect: (i, hidden) => {
      els.selected.textContent = t('editor.canvas.selected', { name: jointName(i) });
      els.hidden.checked = hidden;
    },
  });
  state.editor.select(11);
}

function photoSize(url) {
  return new Promise((resolve) => {
    const img = new Image();
    img.onload = () => resolve({ width: img.naturalWidth, height: img.naturalHeight });
    img.onerror = () => resolve(null);
    img.src = url;
  });
}

/** Landmarks of `skeleton` re-fitted into the editor's frame (torso-aligned on a photo's figure when known). */
function intoFrame(skeleton, anchor = null) {
  const lms = landmarksOf(skeleton) || TEMPLATE_POSE;
  const from = skeleton && skeleton.width ? frameOf(skeleton) : { width: 3, height: 4 };
  if (from.width === state.frame.width && from.height === state.frame.height && !anchor) return lms;
  return placePoseOnPhoto(lms, from, anchor, state.frame);
}

// --- product source skeleton ----------------------------------------------------------------------------------

/** The product's photo (the one generation starts from) and the skeleton saved for it, if any. */
async function fetchSource(id) {
  const data = await apiFetch(`/api/products/${encodeURIComponent(numericId(id))}/source-skeleton`);
  return {
    id: data.product_id, numericId: numericId(data.product_id), title: data.title || '',
    image: data.photo && data.photo.url, skeleton: data.skeleton || null,
  };
}

async function startProductMode() {
  showLoading(els.state);
  try {
    const product = await fetchSource(productId);
    state.product = product;
    document.getElementById('editor-product-title').textContent = product.title;
    if (!product.image) throw new Error(t('editor.product.no_image'));
    const size = (await photoSize(product.image)) || { width: 600, height: 800 };
    state.frame = size;
    const saved = product.skeleton;
    state.poses = [{ id: 'source', name: product.title, skeleton: saved }];
    newEditor(size, product.image, saved ? intoFrame(saved) : placePoseOnPhoto(TEMPLATE_POSE, { width: 3, height: 4 }, null, size));
    els.result.replaceChildren(saved ? h('s-text', { tone: 'neutral', 'data-state': 'saved-skeleton' }, t('editor.product.loaded_saved')) : '');
    done(els.state);
  } catch (err) {
    showError(els.state, err, { onRetry: startProductMode });
  }
}

async function saveSourceSkeleton() {
  const skeleton = state.editor.toSkeleton();
  els.save.setAttribute('loading', '');
  try {
    await apiFetch(`/api/products/${encodeURIComponent(state.product.numericId)}/source-skeleton`, {
      method: 'PUT', json: { skeleton },
    });
    replace(els.result, successBanner(t('editor.product.saved'),
      h('s-button', { slot: 'secondary-actions', href: appUrl('/products') }, t('nav.products'))));
  } catch (err) {
    replace(els.result, errorBanner(err, { heading: t('editor.save_failed') }));
  } finally {
    els.save.removeAttribute('loading');
  }
}

// --- custom pose set ------------------------------------------------------------------------------------------

function slug(text) {
  return (text || 'pose').toLowerCase().normalize('NFKD').replace(/[^a-z0-9]+/g, '-').replace(/^-+|-+$/g, '').slice(0, 60) || 'pose';
}

function uniqueId(base) {
  const taken = new Set(state.poses.map((p) => p.id));
  let id = slug(base); let n = 2;
  while (taken.has(id)) id = `${slug(base).slice(0, 56)}-${n++}`;
  return id;
}

function renderPoseList() {
  replace(els.poses, state.poses.map((pose, i) => h('li', { class: i === state.current ? 'is-current' : '', 'data-pose-index': i },
    h('button', {
      type: 'button', class: 'ps-pose-item', 'aria-current': i === state.current ? 'true' : null,
      onclick: () => selectPose(i),
    }, pose.name),
    h('button', {
      type: 'button', class: 'ps-icon-button', 'aria-label': t('editor.set.remove_pose', { name: pose.name }),
      onclick: () => removePose(i),
    }, '×'))));
  if (!state.poses.length) els.poses.append(h('li', { class: 'ps-muted' }, t('editor.set.no_poses')));
}

function selectPose(i) {
  state.current = i;
  const pose = state.poses[i];
  if (pose) state.editor.setLandmarks(intoFrame(pose.skeleton));
  renderPoseList();
}

function addPose(name, skeleton, anchor = null) {
  const pose = { id: uniqueId(name), name, skeleton: null };
  state.poses.push(pose);
  state.current = state.poses.length - 1;
  state.editor.setLandmarks(skeleton ? intoFrame(skeleton, anchor) : intoFrame(null));
  pose.skeleton = state.editor.toSkeleton();
  renderPoseList();
}

function removePose(i) {
  state.poses.splice(i, 1);
  state.current = Math.max(0, Math.min(state.current, state.poses.length - 1));
  if (state.poses.length) selectPose(state.current); else renderPoseList();
}

async function startSetMode() {
  showLoading(els.state);
  try {
    const sets = await loadPoseSkeletons(poseSetsOf(await apiFetch('/api/pose-sets')));
    const builtins = sets.filter((s) => !s.custom);
    state.library = builtins;
    setOptions(els.copy, [{ value: '', label: t('editor.set.copy_builtin_placeholder') },
      ...builtins.flatMap((s) => s.poses.filter((p) => p.skeleton).map((p) => ({ value: `${s.id}/${p.id}`, label: `${s.name} · ${p.name}` })))], '');
    const editing = pageContext.set_id ? sets.find((s) => s.id === pageContext.set_id) : null;
    // the canvas appears once its first pose is known, so nothing dragged early is overwritten
    state.frame = DEFAULT_FRAME;
    newEditor(DEFAULT_FRAME, null, intoFrame(null));
    if (editing) {
      setFieldValue(els.name, editing.name);
      for (const pose of editing.poses) state.poses.push({ id: pose.id, name: pose.name, skeleton: pose.skeleton });
      selectPose(0);
    } else {
      addPose(t('editor.set.first_pose_name'), null);
    }
    done(els.state);
  } catch (err) {
    showError(els.state, err, { onRetry: startSetMode });
    return;
  }
  loadBackdrops();
}

async function loadBackdrops() {
  try {
    const data = await apiFetch('/api/products', { query: { first: 50 } });
    state.products = (data.products || []).map(productOf).filter((p) => p.image);
    setOptions(els.backdrop, [{ value: '', label: t('editor.backdrop.none') },
      ...state.products.map((p) => ({ value: p.id, label: p.title }))], '');
  } catch {
    // the backdrop is optional; the editor works on a blank canvas
  }
}

async function chooseBackdrop() {
  const product = state.products.find((p) => String(p.id) === fieldValue(els.backdrop));
  const current = state.poses[state.current]?.skeleton || state.editor.toSkeleton();
  if (!product) {
    newEditor(DEFAULT_FRAME, null, intoFrame(current));
  } else {
    const size = (await photoSize(product.image)) || DEFAULT_FRAME;
    state.frame = size;
    newEditor(size, product.image, intoFrame(current, landmarksOf(product.sourceSkeleton)));
  }
  // poses already in the list keep their own frames; they are re-fitted when selected
  const pose = state.poses[state.current];
  if (pose) pose.skeleton = state.editor.toSkeleton();
}

/** Read a pose from a reference photo: POST /api/pose-sets (multipart name + photo) makes a one-pose custom set
 * whose pose a GPU worker detects (status `extracting`, then ready or an error); the skeleton is then shown on the
 * photo for the merchant to confirm and adjust, and joins the set being built. */
async function extractFromPhoto(file) {
  // the server refuses a larger body before reading it (413); saying so here spares the merchant the upload
  const maxBytes = Number(els.drop.dataset.maxBytes) || 0;
  if (maxBytes && file.size > maxBytes) {
    const mb = Math.max(0.1, maxBytes / (1024 * 1024)).toFixed(maxBytes % (1024 * 1024) ? 1 : 0);
    replace(els.photoState, errorBanner(new Error(t('editor.photo.too_large', { mb })), { heading: t('editor.photo.failed') }));
    return;
  }
  showLoading(els.photoState, t('editor.photo.reading'));
  const form = new FormData();
  form.append('name', t('editor.photo.pose_name', { name: file.name.replace(/\.[^.]+$/, '') }));
  form.append('photo', file);
  try {
    let set = await apiFetch('/api/pose-sets', { method: 'POST', body: form });
    const started = Date.now();
    while (set && set.status === 'extracting' && Date.now() - started < 120000) {
      await new Promise((r) => setTimeout(r, 1500));
      const list = (await apiFetch('/api/pose-sets')).pose_sets || [];
      set = list.find((s) => s.id === set.id) || set;
    }
    if (set.error) throw new Error(set.error.message || t('editor.photo.no_person'));
    const poses = (await apiFetch(`/api/pose-sets/${encodeURIComponent(set.id)}/poses`)).poses || [];
    const skeleton = poses[0] && poses[0].skeleton;
    if (!skeleton) throw new Error(t('editor.photo.no_person'));
    const url = URL.createObjectURL(file);
    const size = (await photoSize(url)) || frameOf(skeleton);
    newEditor(size, url, landmarksOf(skeleton));
    addPose(poses[0].name || set.name, state.editor.toSkeleton());
    replace(els.photoState, h('s-banner', { tone: 'info', 'data-state': 'extracted' }, h('s-paragraph', {}, t('editor.photo.confirm'))));
  } catch (err) {
    replace(els.photoState, errorBanner(err, { heading: t('editor.photo.failed') }));
  }
}

async function saveSet() {
  const name = fieldValue(els.name).trim();
  if (!name) {
    els.name.setAttribute('error', t('editor.set.name_required'));
    els.name.focus();
    return;
  }
  els.name.removeAttribute('error');
  if (!state.poses.length) {
    replace(els.result, errorBanner({ message: t('editor.set.no_poses') }));
    return;
  }
  const poses = state.poses.map((p) => ({ id: p.id, name: p.name, skeleton: p.skeleton }));
  els.save.setAttribute('loading', '');
  try {
    const data = await apiFetch('/api/pose-sets', { method: 'POST', json: { name, poses } });
    const created = data.pose_set || data;
    replace(els.result, successBanner(t('editor.set.saved', { name: created.name || name, count: poses.length }),
      h('s-button', { slot: 'secondary-actions', href: appUrl('/products', { pose_set: created.id }) }, t('pose_sets.use_set'))));
  } catch (err) {
    replace(els.result, errorBanner(err, { heading: t('editor.save_failed') }));
  } finally {
    els.save.removeAttribute('loading');
  }
}

// --- wiring ---------------------------------------------------------------------------------------------------

els.save.addEventListener('click', () => (productId ? saveSourceSkeleton() : saveSet()));
els.hidden.addEventListener('change', () => state.editor.setHidden(state.editor.selected, Boolean(els.hidden.checked)));
document.getElementById('editor-mirror').addEventListener('click', () => state.editor.mirror());
document.getElementById('editor-smaller').addEventListener('click', () => state.editor.scaleFigure(1 / 1.1));
document.getElementById('editor-larger').addEventListener('click', () => state.editor.scaleFigure(1.1));
document.getElementById('editor-reset').addEventListener('click', () => {
  const base = productId ? placePoseOnPhoto(TEMPLATE_POSE, { width: 3, height: 4 }, null, state.frame) : intoFrame(null);
  state.editor.setLandmarks(base);
});
if (!productId) {
  document.getElementById('editor-add-template').addEventListener('click', () => addPose(t('editor.set.new_pose_name', { count: state.poses.length + 1 }), null));
  els.copy.addEventListener('change', () => {
    const [setId, poseId] = fieldValue(els.copy).split('/');
    const set = (state.library || []).find((s) => s.id === setId);
    const pose = set && set.poses.find((p) => p.id === poseId);
    if (pose) addPose(pose.name, pose.skeleton);
    setFieldValue(els.copy, '');
  });
  els.backdrop.addEventListener('change', chooseBackdrop);
  els.drop.addEventListener('change', () => {
    const file = (els.drop.files || [])[0];
    if (file) extractFromPhoto(file);
  });
  startSetMode();
  if (pageContext.source === 'photo') document.getElementById('editor-photo').scrollIntoView();
} else {
  startProductMode();
}
