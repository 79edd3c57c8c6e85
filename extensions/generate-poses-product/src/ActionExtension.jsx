// Admin action on a product page: generate poses for this product (POST /api/jobs), follow the job, and link to its
// review in the app. Same request rules as the bulk action: fetch() to the app's URL carries the ID token.
import '@shopify/ui-extensions/preact';
import {render} from 'preact';
import {useEffect, useState} from 'preact/hooks';

export default async () => {
  render(<Extension />, document.body);
};

const t = (key, params) => shopify.i18n.translate(key, params);
const ACTIVE = ['queued', 'fetching', 'generating', 'checking', 'publishing'];

async function api(path, options = {}) {
  let response;
  try {
    response = await fetch(path, {
      ...options,
      headers: {Accept: 'application/json', ...(options.body ? {'Content-Type': 'application/json'} : {})},
    });
  } catch {
    throw new Error(t('errors.network'));
  }
  const data = await response.json().catch(() => ({}));
  if (!response.ok) {
    const err = data && typeof data.error === 'object' ? data.error : {};
    throw new Error(err.message || t('errors.status', {status: response.status}));
  }
  return data;
}

function Extension() {
  const productId = shopify.data.selected[0] && shopify.data.selected[0].id;
  const numericId = String(productId || '').split('/').pop();
  const [sets, setSets] = useState(null);
  const [poseSet, setPoseSet] = useState('');
  const [error, setError] = useState('');
  const [busy, setBusy] = useState(false);
  const [job, setJob] = useState(null);

  useEffect(() => {
    Promise.all([api('/api/pose-sets'), api('/api/settings').catch(() => ({}))])
      .then(([data, settings]) => {
        setSets(data.pose_sets || []);
        setPoseSet(settings.default_pose_set || (data.pose_sets[0] && data.pose_sets[0].id) || '');
      })
      .catch((err) => setError(err.message));
  }, []);

  useEffect(() => {
    if (!job || !ACTIVE.includes(job.state)) return undefined;
    const timer = setTimeout(() => api(`/api/jobs/${job.id}`).then(setJob).catch(() => {}), 2000);
    return () => clearTimeout(timer);
  }, [job]);

  async function generate() {
    setBusy(true);
    setError('');
    try {
      const data = await api('/api/jobs', {method: 'POST', body: JSON.stringify({product_ids: [productId], pose_set: poseSet})});
      setJob(data.jobs[0]);
    } catch (err) {
      setError(err.message);
    } finally {
      setBusy(false);
    }
  }

  if (job) {
    const failed = job.state === 'failed';
    return (
      <s-admin-action heading={t('heading')}>
        <s-stack direction="block" gap="base">
          {failed ? (
            <s-banner tone="critical"><s-paragraph>{(job.error && job.error.message) || t('failed')}</s-paragraph></s-banner>
          ) : (
            <s-progress value={job.progress ?? 0} max={100} accessibilityLabel={t('progress', {percent: job.progress ?? 0})} />
          )}
          <s-text>{t(`states.${job.state}`)}</s-text>
          <s-link href={job.state === 'awaiting_review' ? `app:review/job/${job.id}` : 'app:jobs'}>
            {job.state === 'awaiting_review' ? t('open_review') : t('open_jobs')}
          </s-link>
        </s-stack>
        <s-button slot="primary-action" variant="primary" onClick={() => shopify.close()}>{t('done')}</s-button>
      </s-admin-action>
    );
  }

  return (
    <s-admin-action heading={t('heading')} loading={sets === null && !error}>
      <s-stack direction="block" gap="base">
        {error ? <s-banner tone="critical"><s-paragraph>{error}</s-paragraph></s-banner> : null}
        {sets && sets.length ? (
          <s-select label={t('pose_set')} value={poseSet} onChange={(event) => setPoseSet(event.currentTarget.value)}>
            {sets.map((set) => (
              <s-option value={set.id} key={set.id}>{`${set.name} (${t('poses', {count: set.poses.length})})`}</s-option>
            ))}
          </s-select>
        ) : null}
        <s-link href={`app:pose-sets/editor?product=${numericId}`}>{t('place_skeleton')}</s-link>
      </s-stack>
      <s-button slot="primary-action" variant="primary" loading={busy} disabled={!poseSet || !productId}
        onClick={generate}>{t('generate')}</s-button>
      <s-button slot="secondary-actions" onClick={() => shopify.close()}>{t('cancel')}</s-button>
    </s-admin-action>
  );
}
