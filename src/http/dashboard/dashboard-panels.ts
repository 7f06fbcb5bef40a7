import type { LockInfo } from '../../locks/lease';
import type { CampaignAction, DashboardCampaign, DashboardMessage, OutboxOverview, UnknownVerdict } from './dashboard-sources';
import type { DashboardView, JobPanelRow, Panel } from './dashboard-view';
import { html, type SafeHtml } from './html';

/** The overview's <main>: every panel, each readable without JavaScript. */
export function overviewMain(view: DashboardView, csrf: string, notice: string | undefined): SafeHtml {
  return html`<main id="overview" data-generated-at="${view.generatedAt}">
    ${notice && html`<p class="notice" role="status">${notice}</p>`}
    <p class="muted">As of ${view.generatedAt} from ${view.instanceId}.</p>
    <section id="outbox">
      <h2>Messages</h2>
      ${shown(view.outbox, outboxPanel)}
    </section>
    <section id="dead">
      <h2>Dead letters</h2>
      ${shown(view.dead, (list) => messageTable(list, 'dead', csrf))}
    </section>
    <section id="unknown">
      <h2>Unknown outcomes</h2>
      <p class="hint">Sent or not? The provider may have them: decide each one.</p>
      ${shown(view.unknown, (list) => messageTable(list, 'unknown', csrf))}
    </section>
    <section id="campaigns">
      <h2>Campaigns</h2>
      ${shown(view.campaigns, (list) => campaignTable(list, csrf))}
    </section>
    <section id="jobs">
      <h2>Jobs</h2>
      ${view.jobsScheduled ? shown(view.jobs, jobTable) : html`<p class="muted">This process schedules no jobs (JOBS_ENABLED=false).</p>`}
    </section>
    <section id="locks">
      <h2>Locks</h2>
      ${shown(view.locks, lockTable)}
    </section>
    <section id="health">
      <h2>Dependencies</h2>
      ${healthTable(view)}
    </section>
  </main>`;
}

function shown<T>(panel: Panel<T>, render: (value: T) => SafeHtml): SafeHtml {
  if (panel.ok === 'absent') return html`<p class="muted">Not part of this build.</p>`;
  if (panel.ok === false) return html`<p class="problem" role="alert">Could not be read: ${panel.error}</p>`;
  return render(panel.value);
}

const seconds = (value: number | null) => (value === null ? '—' : `${value.toFixed(value < 10 ? 2 : 0)} s`);

function outboxPanel(overview: OutboxOverview): SafeHtml {
  const channels = [...new Set(overview.counts.map((c) => c.channel))].sort();
  const statuses = [...new Set(overview.counts.map((c) => c.status))].sort();
  const count = (status: string, channel: string) => overview.counts.find((c) => c.status === status && c.channel === channel)?.count ?? 0;
  return html`<p>
      Due now: <strong data-count="due-now">${overview.dueNow}</strong> · scheduled for later:
      <strong data-count="scheduled-later">${overview.scheduledLater}</strong>, of them held by quiet hours:
      <strong data-count="held-quiet-hours">${overview.held.quietHours}</strong>, by a frequency cap:
      <strong data-count="held-frequency-cap">${overview.held.frequencyCap}</strong>
    </p>
    ${
      channels.length === 0
        ? html`<p class="muted">The outbox is empty.</p>`
        : html`<table class="counts">
            <thead>
              <tr>
                <th>status</th>
                ${channels.map((c) => html`<th>${c}</th>`)}
              </tr>
            </thead>
            <tbody>
              ${statuses.map(
                (s) =>
                  html`<tr>
                    <th class="status-${s}">${s}</th>
                    ${channels.map((c) => html`<td class="num" data-status="${s}" data-channel="${c}">${count(s, c)}</td>`)}
                  </tr>`,
              )}
            </tbody>
          </table>`
    }
    <h3>Delivery lag</h3>
    ${
      overview.lag.length === 0
        ? html`<p class="muted">Nothing due and nothing sent in the last hour.</p>`
        : html`<table class="lag">
            <thead>
              <tr>
                <th>channel</th>
                <th>due now</th>
                <th>oldest due for</th>
                <th>sent last hour</th>
                <th>average lag</th>
                <th>worst lag</th>
              </tr>
            </thead>
            <tbody>
              ${overview.lag.map(
                (l) =>
                  html`<tr data-channel="${l.channel}">
                    <td>${l.channel}</td>
                    <td class="num">${l.dueNow}</td>
                    <td class="num">${seconds(l.oldestDueSeconds)}</td>
                    <td class="num">${l.sentLastHour}</td>
                    <td class="num">${seconds(l.averageLagSeconds)}</td>
                    <td class="num">${seconds(l.maxLagSeconds)}</td>
                  </tr>`,
              )}
            </tbody>
          </table>`
    }`;
}

/** A POST form for one action: CSRF token, the confirmation question, confirm=yes set by the dialog or the confirmation page. */
function actionForm(action: string, label: string, question: string, csrf: string, fields: Record<string, string> = {}): SafeHtml {
  return html`<form class="inline" method="post" action="${action}" data-confirm="${question}">
    <input type="hidden" name="csrf" value="${csrf}" /><input type="hidden" name="confirm" value="" />
    ${Object.entries(fields).map(([name, value]) => html`<input type="hidden" name="${name}" value="${value}" />`)}
    <button type="submit">${label}</button>
  </form>`;
}

export const VERDICT_QUESTIONS: Record<UnknownVerdict, (id: string) => string> = {
  sent: (id) => `Record message ${id} as sent (the provider has it)?`,
  failed: (id) => `Record message ${id} as failed (never sent, and not to be sent)?`,
  resend: (id) => `Send message ${id} again now (the provider does not have it)?`,
};
export const redriveQuestion = (id: string) => `Send dead message ${id} again from scratch (attempts reset, due now)?`;

function messageTable(list: DashboardMessage[], status: 'dead' | 'unknown', csrf: string): SafeHtml {
  if (list.length === 0) return html`<p class="muted" data-empty="${status}">None.</p>`;
  return html`<table class="messages">
    <thead>
      <tr>
        <th>id</th>
        <th>tenant</th>
        <th>channel</th>
        <th>recipient</th>
        <th>type</th>
        <th>attempts</th>
        <th>due</th>
        <th>last error</th>
        <th></th>
      </tr>
    </thead>
    <tbody>
      ${list.map(
        (m) =>
          html`<tr data-message-id="${m.id}">
            <td>${m.id}</td>
            <td>${m.tenantId}</td>
            <td>${m.channel}</td>
            <td>${m.recipient}</td>
            <td>${m.type}</td>
            <td class="num">${m.attempts}</td>
            <td>${m.dueAt}</td>
            <td class="error">${m.lastError ?? ''}</td>
            <td>
              ${
                status === 'dead'
                  ? actionForm(`/dashboard/messages/${m.id}/redrive`, 'Redrive', redriveQuestion(m.id), csrf)
                  : (['sent', 'failed', 'resend'] as const).map((v) =>
                      actionForm(`/dashboard/messages/${m.id}/resolve`, `Resolve: ${v}`, VERDICT_QUESTIONS[v](m.id), csrf, { outcome: v }),
                    )
              }
            </td>
          </tr>`,
      )}
    </tbody>
  </table>`;
}

/** Which actions a campaign's status allows (the store refuses the others with a 409 all the same). */
const CAMPAIGN_ACTIONS: Record<string, CampaignAction[]> = { scheduled: ['pause', 'cancel'], sending: ['pause', 'cancel'], paused: ['resume', 'cancel'] };
export const campaignQuestion = (action: CampaignAction, c: { id: string; name: string }) =>
  `${action[0]!.toUpperCase()}${action.slice(1)} campaign "${c.name}" (${c.id})?`;

function campaignTable(list: DashboardCampaign[], csrf: string): SafeHtml {
  if (list.length === 0) return html`<p class="muted">No campaigns.</p>`;
  return html`<table class="campaigns">
    <thead>
      <tr>
        <th>campaign</th>
        <th>tenant</th>
        <th>channel</th>
        <th>status</th>
        <th>send at</th>
        <th>progress</th>
        <th>sent</th>
        <th>failed</th>
        <th>skipped</th>
        <th>cancelled</th>
        <th></th>
      </tr>
    </thead>
    <tbody>
      ${list.map((c) => {
        const done = c.sent + c.failed + c.skipped + c.cancelled;
        const percent = c.targeted > 0 ? Math.min(100, Math.floor((done / c.targeted) * 100)) : 0;
        return html`<tr data-campaign-id="${c.id}">
          <td>${c.name} <span class="muted">${c.id}</span></td>
          <td>${c.tenantId}</td>
          <td>${c.channel}</td>
          <td class="status-${c.status}" data-field="status">${c.status}</td>
          <td>${c.sendAt}</td>
          <td><progress max="100" value="${percent}"></progress> ${done} of ${c.targeted} (${c.queued} queued)</td>
          <td class="num">${c.sent}</td>
          <td class="num">${c.failed}</td>
          <td class="num">${c.skipped}</td>
          <td class="num">${c.cancelled}</td>
          <td>
            ${(CAMPAIGN_ACTIONS[c.status] ?? []).map((a) => actionForm(`/dashboard/campaigns/${c.id}/${a}`, a[0]!.toUpperCase() + a.slice(1), campaignQuestion(a, c), csrf))}
          </td>
        </tr>`;
      })}
    </tbody>
  </table>`;
}

function jobTable(jobs: JobPanelRow[]): SafeHtml {
  if (jobs.length === 0) return html`<p class="muted">No jobs registered.</p>`;
  return html`<table class="jobs">
    <thead>
      <tr>
        <th>job</th>
        <th>schedule</th>
        <th>running here</th>
        <th>next fire time</th>
        <th>lease holder</th>
        <th>last runs (fire time, outcome, items, instance)</th>
      </tr>
    </thead>
    <tbody>
      ${jobs.map(
        (j) =>
          html`<tr data-job="${j.name}">
            <td>${j.name}<br /><span class="muted">${j.description ?? ''}</span></td>
            <td><code>${j.schedule}</code></td>
            <td>${j.running ? 'yes' : 'no'}</td>
            <td>${j.nextRunAt ?? '—'}</td>
            <td data-field="holder">
              ${j.holder ? html`${j.holder.owner} <span class="muted">(${ttl(j.holder.ttlMs)} left)</span>` : html`<span class="muted">free</span>`}
            </td>
            <td>
              ${
                j.runs.length === 0
                  ? html`<span class="muted" data-runs="none">none yet</span>`
                  : html`<ol class="runs">
                      ${j.runs.map(
                        (r) =>
                          html`<li data-outcome="${r.outcome}">
                            ${new Date(r.fire_time).toISOString()} <span class="status-${r.outcome}">${r.outcome}</span> ${Number(r.items)} items, ${r.instance}
                            ${r.error && html`<div class="error">${r.error}</div>`}
                          </li>`,
                      )}
                    </ol>`
              }
            </td>
          </tr>`,
      )}
    </tbody>
  </table>`;
}

function ttl(ms: number): string {
  if (ms < 0) return 'no expiry';
  return ms >= 10_000 ? `${Math.round(ms / 1000)} s` : `${ms} ms`;
}

function lockTable(locks: LockInfo[]): SafeHtml {
  if (locks.length === 0) return html`<p class="muted">No locks held.</p>`;
  return html`<table class="locks">
    <thead>
      <tr>
        <th>key</th>
        <th>holder</th>
        <th>expires in</th>
      </tr>
    </thead>
    <tbody>
      ${locks.map(
        (l) =>
          html`<tr data-lock="${l.key}">
            <td>${l.key}</td>
            <td>${l.owner}</td>
            <td>${ttl(l.ttlMs)}</td>
          </tr>`,
      )}
    </tbody>
  </table>`;
}

function healthTable(view: DashboardView): SafeHtml {
  return html`<table class="health">
    <thead>
      <tr>
        <th>service</th>
        <th>status</th>
        <th>checked</th>
        <th>error</th>
      </tr>
    </thead>
    <tbody>
      ${view.health.map(
        (h) =>
          html`<tr data-service="${h.service}">
            <td>${h.service}</td>
            <td class="status-${h.status}">${h.status}</td>
            <td>${h.detail?.checkedAt ?? '—'}</td>
            <td class="error">${h.detail?.error ?? ''}</td>
          </tr>`,
      )}
    </tbody>
  </table>`;
}
