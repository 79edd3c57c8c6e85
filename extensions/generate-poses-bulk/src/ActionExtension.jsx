// Admin action on the product list: generate poses for the selected products (POST /api/bulk), then show how the
// run is going with a link into the app. fetch() to the app's own URL carries the merchant's ID token
// automatically (Authorization: Bearer), and relative URLs resolve against the app's application_url.
import '@shopify/ui-extensions/preact';
import {render} from 'preact';
import {useEffect, useState} from 'preact/hooks';

export default async () => {
  render(<Extension />, document.body);
};

const t = (key, params) => shopify.i18n.translate(key, params);

/** JSON from our API, or an Error carrying the API's own message ({"error": {"code", "message"}}). */
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
  const selected = shopify.data.selected.map((item) => item.id);
  const [sets, setSets] = useState(null);
  const [poseSet, setPoseSet] = useState('');
  const [error, setError] = useState('');
  const [busy, setBusy] = useState(false);
  const [bulk, setBulk] = useState(null);

  useEffect(() => {
    Promise.all([api('/api/pose-sets'), api('/api/settings').catch(() => ({}))])
      .then(([data, settings]) => {
        setSets(data.pose_sets || []);
        setPoseSet(settings.default_pose_set || (data.pose_sets[0] && data.pose_sets[0].id) || '');
      })
      .catch((err) => setError(err.message));
  }, []);

  // Follow the bulk run until every job has finished generating (or failed).
  useEffect(() => {
    if (!bulk || ['done', 'failed', 'cancelled'].includes(bulk.state) || bulk.progress >= 100) return undefined;
    const timer = setTimeout(() => api(`/api/bulk/${bulk.id}`).then(setBulk).catch(() => {}), 2000);
    return () => clearTimeout(timer);
  }, [bulk]);

  async function generate() {
    setBusy(true);
    setError('');
    try {
      setBulk(await api('/api/bulk', {method: 'POST', body: JSON.stringify({selected, pose_set: poseSet})}));
    } catch (err) {
      setError(err.message);
    } finally {
      setBusy(false);
    }
  }

  if (bulk) {
    return (
      <s-admin-action heading={t('heading')}>
        <s-stack direction="block" gap="base">
          <s-banner tone={bulk.error ? 'warning' : 'success'}>
            <s-paragraph>{t('started', {count: bulk.total ?? selected.length})}</s-paragraph>
            {bulk.error ? <s-paragraph>{bulk.error.message}</s-paragraph> : null}
          </s-banner>
          <s-progress value={bulk.progress ?? 0} max={100} accessibilityLabel={t('progress', {percent: bulk.progress ?? 0})} />
          <s-text>{t('progress', {percent: bulk.progress ?? 0})}</s-text>
          <s-link href="app:jobs">{t('open_jobs')}</s-link>
        </s-stack>
        <s-button slot="primary-action" variant="primary" onClick={() => shopify.close()}>{t('done')}</s-button>
      </s-admin-action>
    );
  }

  return (
    <s-admin-action heading={t('heading')} loading={sets === null && !error}>
      <s-stack direction="block" gap="base">
        <s-text>{t('intro', {count: selected.length})}</s-text>
        {error ? <s-banner tone="critical"><s-paragraph>{error}</s-paragraph></s-banner> : null}
        {sets && sets.length ? (
          <s-select label={t('pose_set')} value={poseSet} onChange={(event) => setPoseSet(event.currentTarget.value)}>
            {sets.map((set) => (
              <s-option value={set.id} key={set.id}>{`${set.name} (${t('poses', {count: set.poses.length})})`}</s-option>
            ))}
          </s-select>
        ) : null}
        <s-link href="app:pose-sets">{t('browse_sets')}</s-link>
      </s-stack>
      <s-button slot="primary-action" variant="primary" loading={busy} disabled={!poseSet || !selected.length}
        onClick={generate}>{t('generate', {count: selected.length})}</s-button>
      <s-button slot="secondary-actions" onClick={() => shopify.close()}>{t('cancel')}</s-button>
    </s-admin-action>
  );
}
