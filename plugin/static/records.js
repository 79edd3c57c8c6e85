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
  const variants = (p.variants || []).map((v) => ({
    id: v.id, title: v.title || v.name || '', image: imageUrl(v.image) || v.image_url || null,
    ownImage: v.has_own_image ?? Boolean(imageUrl(v.image) || v.image_url || v.media_id),
  }));
  const imageCount = typeof p.images === 'number' ? p.images : (Array.isArray(p.images) ? p.images.length : 1);
  // Which variants can get their own carousel: those with their own photo. Until the API says which these are
  // (GET /api/products lists variants without images), a product with several photos and several variants offers
  // every variant; the backend falls back to the product photo for a variant without one.
  const knowsVariantImages = (p.variants || []).some((v) => ['image', 'image_url', 'has_own_image', 'media_id'].some((k) => k in v));
  const generation = p.generation || p.status || {};
  return {
    id: p.id, numericId: numericId(p.id), title: p.title || '',
    image: imageUrl(p.thumbnail) || imageUrl(p.image) || p.image_url || p.thumbnail_url || null,
    imageWidth: p.image?.width ?? null, imageHeight: p.image?.height ?? null,
    variants,
    // variants that carry an image of their own: those can get their own carousel
    variantsWithImages: knowsVariantImages ? variants.filter((v) => v.ownImage)
      : (variants.length > 1 && imageCount > 1 ? variants : []),
    state: typeof generation === 'string' ? generation : (generation.state || p.generation_state || null),
    jobId: generation.job_id ?? p.job_id ?? null,
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
