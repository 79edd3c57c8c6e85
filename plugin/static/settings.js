// Settings: automation (off / new products / new and changed images) with filters and the default pose set,
// publish mode, output size and format, daily limit.
import { apiFetch } from './api.js';
import {
  choiceValues, done, errorBanner, fieldValue, replace, setChoiceValues, setFieldValue, setOptions, showError,
  showLoading, successBanner,
} from './dom.js';
import { t } from './i18n.js';
import { poseSetsOf } from './records.js';

const form = document.getElementById('settings-form');
const region = document.getElementById('settings-state');
const result = document.getElementById('settings-result');
const field = (id) => document.getElementById(id);
let loaded = {};

function listText(value) {
  return Array.isArray(value) ? value.join(', ') : (value || '');
}

function textList(value) {
  return String(value || '').split(',').map((s) => s.trim()).filter(Boolean);
}

async function load() {
  showLoading(region);
  form.hidden = true;
  try {
    const [settingsData, setsData] = await Promise.all([apiFetch('/api/settings'), apiFetch('/api/pose-sets')]);
    loaded = settingsData.settings || settingsData;
    const sets = poseSetsOf(setsData);
    setOptions(field('settings-default-pose-set'), sets.map((s) => ({ value: s.id, label: s.name })), loaded.default_pose_set);
    setChoiceValues(field('settings-automation'), [loaded.automation || 'off']);
    setChoiceValues(field('settings-publish-mode'), [loaded.mode || 'review']);
    const filters = loaded.filters || {};
    setFieldValue(field('settings-filter-tags'), listText(filters.tags ?? loaded.filter_tags));
    setFieldValue(field('settings-filter-types'), listText(filters.product_types ?? loaded.filter_product_types));
    setFieldValue(field('settings-max-size'), loaded.max_size ?? 1024);
    setFieldValue(field('settings-backend'), loaded.backend ?? 'warp');
    setFieldValue(field('settings-output-format'), loaded.output_format ?? 'png');
    setFieldValue(field('settings-daily-limit'), loaded.daily_limit ?? 0);
    form.hidden = false;
    done(region);
  } catch (err) {
    showError(region, err, { onRetry: load });
  }
}

function collect() {
  const limit = String(fieldValue(field('settings-daily-limit'))).trim();
  const body = {
    automation: choiceValues(field('settings-automation'))[0] || 'off',
    filters: { tags: textList(fieldValue(field('settings-filter-tags'))), product_types: textList(fieldValue(field('settings-filter-types'))) },
    mode: choiceValues(field('settings-publish-mode'))[0] || 'review',
    max_size: Number(fieldValue(field('settings-max-size'))) || 1024,
    backend: fieldValue(field('settings-backend')) || 'warp',
    output_format: fieldValue(field('settings-output-format')) || 'png',
    daily_limit: limit === '' ? NaN : Number(limit),
  };
  const poseSet = fieldValue(field('settings-default-pose-set'));
  if (poseSet) body.default_pose_set = poseSet;
  return body;
}

let saving = false;
async function save(event) {
  event.preventDefault();
  if (saving) return;
  const body = collect();
  const limitField = field('settings-daily-limit');
  if (!Number.isInteger(body.daily_limit) || body.daily_limit < 0 || body.daily_limit > 100000) {
    limitField.setAttribute('error', t('settings.output.daily_limit_invalid'));
    limitField.focus();
    return;
  }
  limitField.removeAttribute('error');
  saving = true;
  const button = field('settings-save');
  button.setAttribute('loading', '');
  try {
    const data = await apiFetch('/api/settings', { method: 'PUT', json: body });
    loaded = data.settings || data;
    replace(result, successBanner(t('settings.saved')));
  } catch (err) {
    replace(result, errorBanner(err, { heading: t('settings.save_failed') }));
  } finally {
    saving = false;
    button.removeAttribute('loading');
  }
}

form.addEventListener('submit', save);
field('settings-save').addEventListener('click', save);
load();
