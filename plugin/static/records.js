// The API's records as the pages use them. Every field name the pages read from a response is mapped here, so a
// change of the JSON API touches this module only.
import { numericId } from './dom.js';

export function jobsOf(data) {
  return (data && (data.jobs || data.items)) || [];
}

export function pageInfoOf(data) {
  const p = (data && (data.page_info || data.pageInfo)) || {};
  // GraphQL's pageInfo passes through as is (hasNextPage / endCursor); snake_case is accepted too.
  return {
    hasNext: Boolean(p.has_next_page ?? p.hasNextPage ?? data?.next_cursor),
    hasPrevious: Boolean(p.has_previous_page ?? p.hasPreviousPage ?? data?.previous_cursor),
    endCursor: p.end_cursor ?? p.endCursor ?? data?.next_cursor ?? null,
    startCursor: p.start_cursor ?? p.startCursor ?? data?.previous_cursor ?? null,
  };
}

function imageUrl(x) {
  if (!x) return null;
  if (typeof x === 'string') return x;
  return x.url || x.src || x.thumbnail_url || null;
}

export function productOf(p) {
  // GET /api/products: each variant says whether it has a photo of its own (has_own_image; never one Pose Studio
  // generated) and which (image_url). Only those variants can get their own carousel.
  const variants = (p.variants || []).map((v) => ({
    id: v.id, title: v.title || '', image: v.image_url || null, ownImage: Boolean(v.has_own_image),
  }));
  const generation = p.generation || {};
  return {
    id: p.id, numericId: numericId(p.id), title: p.title || '',
    image: imageUrl(p.thumbnail),
    imageWidth: null, imageHeight: null, // filled in by pages that measure the photo
    variants,
    variantsWithImages: variants.filter((v) => v.ownImage),
    state: generation.state || null,
    jobId: generation.job_id ?? null,
    progress: generation.progress ?? null,
    sourceSkeleton: p.source_skeleton || null,
  };
}

export function poseSetsOf(data) {
  return ((data && (data.pose_sets || data.sets)) || []).map((s) => ({
    id: s.id, name: s.name || s.id, description: s.description || '', custom: Boolean(s.custom),
    version: s.version, category: s.category || '',
    poses: (s.poses || []).map((p) => ({ id: p.id, name: p.name || p.id, skeleton: p.skeleton || null })),
  }));
}
