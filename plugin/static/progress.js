// Live progress by polling: the API has no push channel, and a job's stages last seconds to minutes, so a poll
// every 2 s while something runs (slowing to 10 s when idle or after errors, paused while the tab is hidden) is
// both live enough and cheap.
export class Poller {
  /**
   * @param {() => Promise<boolean>} tick  does one refresh; resolves true while something is still running
   */
  constructor(tick, { fast = 2000, slow = 10000, maxBackoff = 30000 } = {}) {
    this.tick = tick; this.fast = fast; this.slow = slow; this.maxBackoff = maxBackoff;
    this.timer = null; this.failures = 0; this.stopped = true;
    this.onVisibility = () => { if (!document.hidden && !this.stopped) this.now(); };
  }

  start() {
    this.stopped = false;
    document.addEventListener('visibilitychange', this.onVisibility);
    this.now();
    return this;
  }

  stop() {
    this.stopped = true;
    clearTimeout(this.timer);
    document.removeEventListener('visibilitychange', this.onVisibility);
  }

  async now() {
    clearTimeout(this.timer);
    let delay;
    try {
      const busy = await this.tick();
      this.failures = 0;
      delay = busy ? this.fast : this.slow;
    } catch (err) {
      this.failures += 1;
      delay = Math.min(this.maxBackoff, this.fast * 2 ** this.failures);
    }
    if (!this.stopped && !document.hidden) this.timer = setTimeout(() => this.now(), delay);
  }
}

/** Percent 0..100 of a job or bulk record, from whatever counters it has. */
export function percentOf(record) {
  if (!record) return 0;
  if (Number.isFinite(record.progress)) return clampPercent(record.progress <= 1 && record.progress > 0 && !Number.isInteger(record.progress) ? record.progress * 100 : record.progress);
  if (Number.isFinite(record.percent)) return clampPercent(record.percent);
  const total = record.total ?? record.total_count ?? record.jobs_total;
  const doneCount = record.done ?? record.completed ?? record.finished ?? record.jobs_done;
  if (Number.isFinite(total) && total > 0 && Number.isFinite(doneCount)) return clampPercent((100 * doneCount) / total);
  return 0;
}

function clampPercent(v) { return Math.max(0, Math.min(100, Math.round(v))); }
