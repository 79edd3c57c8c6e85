// Skeleton figures as SVG: the gallery figure of a pose, a pose previewed on a product photo, the inset next to an
// output in review. The joint names and bones come from gpu_worker.pose.skeleton via the page context, so what we
// draw is the engine's own skeleton (33 MediaPipe landmarks, normalized [x, y, visibility], null when missing).
import { h, pageContext } from './dom.js';

export const LANDMARKS = (pageContext.skeleton && pageContext.skeleton.landmarks) || [];
export const BONES = (pageContext.skeleton && pageContext.skeleton.bones) || [];
export const VISIBLE = 0.5;

const L_SHOULDER = 11; const R_SHOULDER = 12; const L_HIP = 23; const R_HIP = 24;

/** Which side a joint is on, for colour: subject's left (odd index), right (even), centre (nose). */
export function side(i) {
  if (i === 0) return 'centre';
  if (i <= 10) return i <= 3 || i === 7 || i === 9 ? 'left' : 'right';
  return i % 2 ? 'left' : 'right';
}

export function boneClass(a, b) {
  return `ps-bone ps-bone--${side(a) === side(b) ? side(a) : 'centre'}`;
}

export function isPresent(lm, threshold = VISIBLE) {
  return Array.isArray(lm) && Number.isFinite(lm[0]) && Number.isFinite(lm[1]) && (lm.length < 3 || lm[2] >= threshold);
}

/** Extract the landmark list from whatever carries it: {landmarks}, {skeleton: {landmarks}}, or a bare list. */
export function landmarksOf(thing) {
  if (!thing) return null;
  if (Array.isArray(thing)) return thing;
  if (Array.isArray(thing.landmarks)) return thing.landmarks;
  if (thing.skeleton) return landmarksOf(thing.skeleton);
  return null;
}

/** Human-readable name of joint `i` ("left_elbow" → "left elbow"). */
export function jointName(i) {
  return (LANDMARKS[i] || `joint ${i}`).replace(/_/g, ' ');
}

/**
 * Append bones and joints of `landmarks` (normalized) into SVG group `g`, for a frame of `width` × `height` units.
 * Options: stroke width, joint radius, `threshold`.
 */
export function drawSkeleton(g, landmarks, { width, height, stroke = 4, radius = 4, threshold = VISIBLE } = {}) {
  const pts = landmarks.map((lm) => (isPresent(lm, threshold) ? [lm[0] * width, lm[1] * height] : null));
  for (const [a, b] of BONES) {
    if (!pts[a] || !pts[b]) continue;
    const cls = boneClass(a, b);
    g.append(h('svg:line', { x1: pts[a][0], y1: pts[a][1], x2: pts[b][0], y2: pts[b][1], class: cls, 'stroke-width': stroke }));
  }
  pts.forEach((p, i) => {
    if (!p || (i > 0 && i <= 10 && i !== 2 && i !== 5)) return; // face: nose and eyes are enough at figure size
    g.append(h('svg:circle', { cx: p[0], cy: p[1], r: radius, class: `ps-joint ps-joint--${side(i)}` }));
  });
  return g;
}

/**
 * An <svg role="img"> of a pose. `background` (an image URL) is drawn under it, `frame` the aspect of the frame
 * the landmarks are normalized to ({width, height}).
 */
export function skeletonFigure(landmarks, { title, frame = { width: 3, height: 4 }, background = null, className = '', fit = false } = {}) {
  if (fit && landmarks && !background) {
    // A gallery figure fills its card: crop the frame to the figure (padded) at a 3:4 aspect.
    const cropped = cropToFigure(landmarks, frame);
    if (cropped) ({ landmarks, frame } = cropped);
  }
  const W = 300; const H = Math.round((W * frame.height) / frame.width);
  const svg = h('svg:svg', {
    viewBox: `0 0 ${W} ${H}`, role: 'img', 'aria-label': title || '', class: `ps-figure-svg ${className}`,
    preserveAspectRatio: 'xMidYMid meet',
  });
  if (title) svg.append(h('svg:title', {}, title));
  if (background) {
    svg.append(h('svg:image', { href: background, x: 0, y: 0, width: W, height: H, preserveAspectRatio: 'xMidYMid slice' }));
  } else {
    svg.append(h('svg:rect', { x: 0, y: 0, width: W, height: H, class: 'ps-figure-bg' }));
  }
  if (landmarks) drawSkeleton(svg.appendChild(h('svg:g', {})), landmarks, { width: W, height: H, stroke: 5, radius: 4 });
  return svg;
}

/** Landmarks re-normalized to a 3:4 box around the figure (10 % margin), or null when no joint is present. */
export function cropToFigure(landmarks, frame) {
  const pts = landmarks.filter((p) => isPresent(p)).map((p) => [p[0] * frame.width, p[1] * frame.height]);
  if (!pts.length) return null;
  const xs = pts.map((p) => p[0]); const ys = pts.map((p) => p[1]);
  let w = Math.max(...xs) - Math.min(...xs); let h = Math.max(...ys) - Math.min(...ys);
  const cx = (Math.max(...xs) + Math.min(...xs)) / 2; const cy = (Math.max(...ys) + Math.min(...ys)) / 2;
  w *= 1.2; h *= 1.2;
  if (w / h > 3 / 4) h = (w * 4) / 3; else w = (h * 3) / 4;
  const x0 = cx - w / 2; const y0 = cy - h / 2;
  return {
    frame: { width: 3, height: 4 },
    landmarks: landmarks.map((p) => (Array.isArray(p)
      ? [(p[0] * frame.width - x0) / w, (p[1] * frame.height - y0) / h, p.length > 2 ? p[2] : 1] : p)),
  };
}

function mid(a, b) { return [(a[0] + b[0]) / 2, (a[1] + b[1]) / 2]; }

/** Neck position and torso length of normalized landmarks in a frame of aspect `frame`; null without a torso. */
function torsoOf(lms, frame) {
  const s = [L_SHOULDER, R_SHOULDER, L_HIP, R_HIP].map((i) => lms[i]);
  if (!isPresent(s[0]) || !isPresent(s[1])) return null;
  const neck = mid(s[0], s[1]);
  const sx = frame.width; const sy = frame.height;
  let length;
  if (isPresent(s[2]) && isPresent(s[3])) {
    const hip = mid(s[2], s[3]);
    length = Math.hypot((neck[0] - hip[0]) * sx, (neck[1] - hip[1]) * sy);
  } else {
    length = 1.6 * Math.hypot((s[0][0] - s[1][0]) * sx, (s[0][1] - s[1][1]) * sy);
  }
  return { neck, length };
}

/**
 * Place a target pose (normalized to `poseFrame`) on a product photo (normalized to `photoFrame`): the pose is scaled
 * so its torso is as long as the photographed figure's and moved so the necks coincide. Without a detected figure
 * the pose is fitted to 80 % of the photo's height, centred. Returns landmarks normalized to the photo frame.
 */
export function placePoseOnPhoto(pose, poseFrame, source, photoFrame) {
  const target = torsoOf(pose, poseFrame);
  const anchor = source ? torsoOf(source, photoFrame) : null;
  let scale; let dx; let dy;
  if (target && anchor && target.length > 0) {
    scale = anchor.length / target.length;
    dx = anchor.neck[0] * photoFrame.width - target.neck[0] * poseFrame.width * scale;
    dy = anchor.neck[1] * photoFrame.height - target.neck[1] * poseFrame.height * scale;
  } else {
    const ys = pose.filter((p) => isPresent(p)).map((p) => p[1] * poseFrame.height);
    const xs = pose.filter((p) => isPresent(p)).map((p) => p[0] * poseFrame.width);
    if (!ys.length) return pose;
    const bh = Math.max(...ys) - Math.min(...ys) || 1;
    scale = (0.8 * photoFrame.height) / bh;
    const cx = (Math.max(...xs) + Math.min(...xs)) / 2;
    dx = photoFrame.width / 2 - cx * scale;
    dy = 0.1 * photoFrame.height - Math.min(...ys) * scale;
  }
  return pose.map((p) => (Array.isArray(p)
    ? [(p[0] * poseFrame.width * scale + dx) / photoFrame.width, (p[1] * poseFrame.height * scale + dy) / photoFrame.height,
      p.length > 2 ? p[2] : 1]
    : p));
}

export function frameOf(skeleton) {
  if (skeleton && skeleton.width && skeleton.height) return { width: skeleton.width, height: skeleton.height };
  return { width: 3, height: 4 };
}
