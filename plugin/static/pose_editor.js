// The pose editor: an SVG canvas with a skeleton whose joints can be dragged (pointer) or moved with the arrow keys,
// optionally over a product photo. Bone lengths stay plausible: a dragged joint cannot move further from its parent
// than 1.25× (or closer than 0.5×, which foreshortening allows) the bone's length when editing started, and the
// joints below it (a wrist below an elbow) move along with it. Face, hand and foot points follow their anchor joint.
import { h, replace } from './dom.js';
import { t } from './i18n.js';
import { BONES, boneClass, jointName } from './skeleton_svg.js';

const N = 33;
// The joints a merchant moves; every other landmark follows one of them rigidly.
export const HANDLES = [0, 11, 12, 13, 14, 15, 16, 23, 24, 25, 26, 27, 28];
const FOLLOWERS = {
  0: [1, 2, 3, 4, 5, 6, 7, 8, 9, 10], 15: [17, 19, 21], 16: [18, 20, 22], 27: [29, 31], 28: [30, 32],
};
// parent of each limb joint (for the length limit); the nose hangs from the neck (midpoint of the shoulders).
const PARENT = { 13: 11, 15: 13, 14: 12, 16: 14, 25: 23, 27: 25, 26: 24, 28: 26, 0: 'neck' };
// joints that move along when their ancestor moves.
const DESCENDANTS = {
  11: [13, 15], 13: [15], 12: [14, 16], 14: [16], 23: [25, 27], 25: [27], 24: [26, 28], 26: [28],
};
// torso edges: a torso corner is held within limits of its two neighbours.
const TORSO_NEIGHBOURS = { 11: [12, 23], 12: [11, 24], 23: [24, 11], 24: [23, 12] };
const LIMB_RANGE = [0.5, 1.25];
const TORSO_RANGE = [0.6, 1.25];
const MIRROR = [0, 4, 5, 6, 1, 2, 3, 8, 7, 10, 9, ...Array.from({ length: 22 }, (_, k) => (k % 2 ? 11 + k - 1 : 11 + k + 1))];

// A standing figure facing the camera, normalized to a 3:4 frame (subject's left on the image's right).
export const TEMPLATE_POSE = [
  [0.5, 0.14], [0.51, 0.125], [0.52, 0.125], [0.53, 0.125], [0.49, 0.125], [0.48, 0.125], [0.47, 0.125],
  [0.545, 0.135], [0.455, 0.135], [0.515, 0.16], [0.485, 0.16],
  [0.6, 0.24], [0.4, 0.24], [0.64, 0.38], [0.36, 0.38], [0.66, 0.51], [0.34, 0.51],
  [0.67, 0.545], [0.33, 0.545], [0.665, 0.55], [0.335, 0.55], [0.655, 0.535], [0.345, 0.535],
  [0.565, 0.52], [0.435, 0.52], [0.57, 0.7], [0.43, 0.7], [0.57, 0.87], [0.43, 0.87],
  [0.565, 0.89], [0.435, 0.89], [0.59, 0.91], [0.41, 0.91],
].map(([x, y]) => [x, y, 1]);

function anchorOf(i) {
  for (const [anchor, followers] of Object.entries(FOLLOWERS)) if (followers.includes(i)) return Number(anchor);
  return null;
}

export class PoseEditor {
  /**
   * @param {HTMLElement} container
   * @param {{width:number,height:number,background?:string,landmarks?:Array,onChange?:Function,onSelect?:Function}} options
   */
  constructor(container, { width = 600, height = 800, background = null, landmarks = null, onChange, onSelect } = {}) {
    this.container = container;
    this.onChange = onChange || (() => {});
    this.onSelect = onSelect || (() => {});
    this.selected = 11;
    this.build(width, height, background);
    this.setLandmarks(landmarks || TEMPLATE_POSE);
  }

  build(width, height, background) {
    this.width = width; this.height = height;
    const svg = h('svg:svg', {
      viewBox: `0 0 ${width} ${height}`, class: 'ps-editor-svg', role: 'group',
      'aria-label': t('editor.canvas.label'), 'aria-describedby': 'editor-keyboard-help',
    });
    this.backgroundEl = h('svg:image', { x: 0, y: 0, width, height, preserveAspectRatio: 'xMidYMid meet' });
    const bg = h('svg:rect', { x: 0, y: 0, width, height, class: 'ps-figure-bg' });
    svg.append(bg, this.backgroundEl);
    if (background) this.backgroundEl.setAttribute('href', background); else this.backgroundEl.setAttribute('visibility', 'hidden');
    const scale = Math.max(width, height) / 800;
    this.stroke = 5 * scale; this.radius = 9 * scale;
    this.torsoEl = h('svg:polygon', { class: 'ps-editor-torso', tabindex: 0, role: 'button',
      'aria-label': t('editor.canvas.figure_handle') });
    this.boneEls = BONES.map(([a, b]) => h('svg:line', { class: boneClass(a, b), 'stroke-width': this.stroke, 'data-bone': `${a}-${b}` }));
    this.pointEls = [];
    for (let i = 0; i < N; i++) {
      if (HANDLES.includes(i)) continue;
      this.pointEls[i] = h('svg:circle', { r: this.radius * 0.35, class: 'ps-editor-point' });
    }
    this.handleEls = {};
    for (const i of HANDLES) {
      this.handleEls[i] = h('svg:circle', {
        r: this.radius, class: 'ps-editor-handle', tabindex: 0, role: 'button', 'aria-roledescription': t('editor.canvas.joint_role'),
        'data-joint': i, 'data-name': (jointName(i) || '').replace(/ /g, '_'),
      });
    }
    svg.append(this.torsoEl, ...this.boneEls, ...this.pointEls.filter(Boolean), ...HANDLES.map((i) => this.handleEls[i]));
    this.svg = svg;
    replace(this.container, svg);
    this.bindEvents();
  }

  setBackground(url, frame) {
    const landmarks = this.normalized();
    if (frame && (frame.width !== this.width || frame.height !== this.height)) {
      this.build(frame.width, frame.height, url);
      this.setLandmarks(landmarks, { keepReference: false });
      return;
    }
    if (url) {
      this.backgroundEl.setAttribute('href', url);
      this.backgroundEl.removeAttribute('visibility');
    } else {
      this.backgroundEl.setAttribute('visibility', 'hidden');
    }
  }

  /** Load normalized landmarks ([x, y, visibility] or null); missing joints are filled from the template, hidden. */
  setLandmarks(landmarks, { keepReference = false } = {}) {
    this.points = []; this.hidden = [];
    for (let i = 0; i < N; i++) {
      const lm = landmarks[i];
      const ok = Array.isArray(lm) && Number.isFinite(lm[0]) && Number.isFinite(lm[1]);
      const src = ok ? lm : TEMPLATE_POSE[i];
      this.points[i] = [src[0] * this.width, src[1] * this.height];
      this.hidden[i] = !ok || (lm.length > 2 && lm[2] < 0.5);
    }
    if (!keepReference || !this.reference) this.captureReference();
    this.render();
    this.onChange();
  }

  captureReference() {
    this.reference = {};
    for (const [a, b] of Object.entries(PARENT)) this.reference[a] = this.dist(Number(a), b);
    for (const [a, ns] of Object.entries(TORSO_NEIGHBOURS)) for (const b of ns) this.reference[`${a}-${b}`] = this.dist(Number(a), b);
  }

  pos(i) {
    if (i === 'neck') return [(this.points[11][0] + this.points[12][0]) / 2, (this.points[11][1] + this.points[12][1]) / 2];
    return this.points[i];
  }

  dist(a, b) {
    const p = this.pos(a); const q = this.pos(b);
    return Math.hypot(p[0] - q[0], p[1] - q[1]);
  }

  /** `p` moved onto the ring around `centre` whose radius lies in [lo, hi]. */
  static clampRing(p, centre, lo, hi) {
    const dx = p[0] - centre[0]; const dy = p[1] - centre[1];
    const d = Math.hypot(dx, dy);
    if (d === 0) return [centre[0] + lo, centre[1]];
    const r = Math.min(hi, Math.max(lo, d));
    return [centre[0] + (dx / d) * r, centre[1] + (dy / d) * r];
  }

  translate(indices, dx, dy) {
    for (const i of indices) this.points[i] = [this.points[i][0] + dx, this.points[i][1] + dy];
  }

  /** Move handle `i` towards frame point (x, y), keeping bone lengths plausible; dependents follow. */
  moveJoint(i, x, y) {
    let target = [Math.min(this.width, Math.max(0, x)), Math.min(this.height, Math.max(0, y))];
    if (PARENT[i] !== undefined) {
      const ref = this.reference[i];
      target = PoseEditor.clampRing(target, this.pos(PARENT[i]), ref * LIMB_RANGE[0], ref * LIMB_RANGE[1]);
    } else if (TORSO_NEIGHBOURS[i]) {
      for (let pass = 0; pass < 3; pass++) {
        for (const n of TORSO_NEIGHBOURS[i]) {
          const ref = this.reference[`${i}-${n}`];
          target = PoseEditor.clampRing(target, this.pos(n), ref * TORSO_RANGE[0], ref * TORSO_RANGE[1]);
        }
      }
    }
    const before = this.points[i];
    const dx = target[0] - before[0]; const dy = target[1] - before[1];
    const neckBefore = this.pos('neck');
    this.points[i] = target;
    this.translate([...(DESCENDANTS[i] || []), ...(DESCENDANTS[i] || []).flatMap((d) => FOLLOWERS[d] || []), ...(FOLLOWERS[i] || [])], dx, dy);
    if (i === 11 || i === 12) {
      // the head rides on the neck
      const neck = this.pos('neck');
      this.translate([0, ...FOLLOWERS[0]], neck[0] - neckBefore[0], neck[1] - neckBefore[1]);
    }
    this.render();
    this.onChange();
  }

  moveFigure(dx, dy) {
    this.translate([...Array(N).keys()], dx, dy);
    this.render();
    this.onChange();
  }

  /** Scale the whole figure about its centre (to fit a photographed person); bone references scale too. */
  scaleFigure(factor) {
    const xs = this.points.map((p) => p[0]); const ys = this.points.map((p) => p[1]);
    const cx = (Math.min(...xs) + Math.max(...xs)) / 2; const cy = (Math.min(...ys) + Math.max(...ys)) / 2;
    this.points = this.points.map(([x, y]) => [cx + (x - cx) * factor, cy + (y - cy) * factor]);
    for (const key of Object.keys(this.reference)) this.reference[key] *= factor;
    this.render();
    this.onChange();
  }

  mirror() {
    const old = this.points.map((p) => [...p]); const oldHidden = [...this.hidden];
    for (let i = 0; i < N; i++) {
      this.points[i] = [this.width - old[MIRROR[i]][0], old[MIRROR[i]][1]];
      this.hidden[i] = oldHidden[MIRROR[i]];
    }
    this.captureReference();
    this.render();
    this.onChange();
  }

  setHidden(i, hidden) {
    for (const j of [i, ...(FOLLOWERS[i] || [])]) this.hidden[j] = hidden;
    this.render();
    this.onChange();
  }

  select(i) {
    this.selected = i;
    for (const [j, el] of Object.entries(this.handleEls)) el.classList.toggle('is-selected', Number(j) === i);
    this.onSelect(i, this.hidden[i]);
  }

  render() {
    BONES.forEach(([a, b], k) => {
      const el = this.boneEls[k];
      el.setAttribute('x1', this.points[a][0]); el.setAttribute('y1', this.points[a][1]);
      el.setAttribute('x2', this.points[b][0]); el.setAttribute('y2', this.points[b][1]);
      el.classList.toggle('is-hidden', this.hidden[a] || this.hidden[b]);
    });
    this.pointEls.forEach((el, i) => {
      if (!el) return;
      el.setAttribute('cx', this.points[i][0]); el.setAttribute('cy', this.points[i][1]);
      el.classList.toggle('is-hidden', this.hidden[i]);
    });
    for (const i of HANDLES) {
      const el = this.handleEls[i]; const [x, y] = this.points[i];
      el.setAttribute('cx', x); el.setAttribute('cy', y);
      el.classList.toggle('is-hidden', this.hidden[i]);
      el.setAttribute('aria-label', t(this.hidden[i] ? 'editor.canvas.joint_label_hidden' : 'editor.canvas.joint_label', {
        name: jointName(i), x: Math.round((100 * x) / this.width), y: Math.round((100 * y) / this.height),
      }));
    }
    this.torsoEl.setAttribute('points', [11, 12, 24, 23].map((i) => this.points[i].join(',')).join(' '));
  }

  /** The skeleton as gpu_worker's Skeleton.to_dict(): frame size and 33 normalized [x, y, 1] or null when hidden. */
  toSkeleton() {
    return { width: Math.round(this.width), height: Math.round(this.height), landmarks: this.normalized(true) };
  }

  normalized(nullHidden = false) {
    return this.points.map(([x, y], i) => {
      if (nullHidden && this.hidden[i]) return null;
      return [round6(x / this.width), round6(y / this.height), this.hidden[i] ? 0 : 1];
    });
  }

  svgPoint(event) {
    const pt = this.svg.createSVGPoint();
    pt.x = event.clientX; pt.y = event.clientY;
    const p = pt.matrixTransform(this.svg.getScreenCTM().inverse());
    return [p.x, p.y];
  }

  bindEvents() {
    let drag = null;
    this.svg.addEventListener('pointerdown', (event) => {
      const handle = event.target.closest('.ps-editor-handle');
      const torso = event.target === this.torsoEl;
      if (!handle && !torso) return;
      event.preventDefault();
      this.svg.setPointerCapture(event.pointerId);
      const [x, y] = this.svgPoint(event);
      if (handle) {
        const i = Number(handle.dataset.joint);
        this.select(i);
        handle.focus();
        drag = { joint: i, offset: [this.points[i][0] - x, this.points[i][1] - y] };
      } else {
        this.torsoEl.focus();
        drag = { figure: true, last: [x, y] };
      }
    });
    this.svg.addEventListener('pointermove', (event) => {
      if (!drag) return;
      const [x, y] = this.svgPoint(event);
      if (drag.figure) {
        this.moveFigure(x - drag.last[0], y - drag.last[1]);
        drag.last = [x, y];
      } else {
        this.moveJoint(drag.joint, x + drag.offset[0], y + drag.offset[1]);
      }
    });
    const end = () => { drag = null; };
    this.svg.addEventListener('pointerup', end);
    this.svg.addEventListener('pointercancel', end);
    this.svg.addEventListener('focusin', (event) => {
      const handle = event.target.closest && event.target.closest('.ps-editor-handle');
      if (handle) this.select(Number(handle.dataset.joint));
    });
    this.svg.addEventListener('keydown', (event) => {
      const step = (event.shiftKey ? 0.025 : 0.005) * Math.max(this.width, this.height);
      const delta = { ArrowLeft: [-step, 0], ArrowRight: [step, 0], ArrowUp: [0, -step], ArrowDown: [0, step] }[event.key];
      const handle = event.target.closest && event.target.closest('.ps-editor-handle');
      if (delta) {
        event.preventDefault();
        if (handle) {
          const i = Number(handle.dataset.joint);
          this.moveJoint(i, this.points[i][0] + delta[0], this.points[i][1] + delta[1]);
        } else if (event.target === this.torsoEl) {
          this.moveFigure(...delta);
        }
      } else if (event.target === this.torsoEl && (event.key === '+' || event.key === '=' || event.key === '-')) {
        event.preventDefault();
        this.scaleFigure(event.key === '-' ? 1 / 1.05 : 1.05);
      } else if (handle && event.key.toLowerCase() === 'h') {
        event.preventDefault();
        const i = Number(handle.dataset.joint);
        this.setHidden(i, !this.hidden[i]);
        this.select(i);
      }
    });
  }
}

function round6(v) { return Math.round(v * 1e6) / 1e6; }
