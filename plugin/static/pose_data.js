// Skeletons of the poses in pose sets. GET /api/pose-sets lists poses by id and name; the figures need their
// landmarks, which GET /api/pose-sets/<set>/poses returns (plugin/blueprints/api.py).
import { apiFetch } from './api.js';

export async function loadPoseSkeletons(sets) {
  await Promise.all(sets.map(async (set) => {
    if (set.poses.every((p) => p.skeleton)) return;
    try {
      const data = await apiFetch(`/api/pose-sets/${encodeURIComponent(set.id)}/poses`);
      const byId = new Map((data.poses || []).map((p) => [p.id, p]));
      for (const pose of set.poses) {
        const full = byId.get(pose.id);
        if (full) { pose.skeleton = full.skeleton; pose.description = full.description || ''; }
      }
    } catch {
      // a set whose figures cannot be loaded still lists its poses by name
    }
  }));
  return sets;
}
