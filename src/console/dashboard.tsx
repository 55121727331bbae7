import type { Child } from "hono/jsx";
import type { BackupView, ConsoleStatus, MerchantView, Probe, RunResult, SubscriptionHealth } from "./read-model";
import { TOKEN_STATE_LABEL, type TokenState } from "./token-state";
import { Layout } from "../http/pages/layout";
import { age, bytes, duration, utc } from "./format";

/** Messages the console shows after an action, by code (nothing from the request is echoed). */
export const NOTICES = {
  retried: "The job ran again and succeeded.",
  retry_failed: "The job ran again and failed; it stays in the list and the daily retry will try it again.",
  retry_gone: "That job is no longer in the dead-letter list (already retried or removed).",
} as const;
export type Notice = keyof typeof NOTICES;

const STATE_CLASS: Record<TokenState, string> = {
  active: "state state-ok",
  expiring: "state state-warn",
  needs_reauth: "state state-bad",
  uninstalled: "state muted",
};

function When(props: { at: number | null; now: number; none?: string }) {
  if (props.at === null) return <span class="muted">{props.none ?? "none yet"}</span>;
  return (
    <time datetime={new Date(props.at).toISOString()} title={utc(props.at)}>
      {age(props.at, props.now)}
    </time>
  );
}

function Health(props: { name: string; probe: Probe }) {
  return (
    <tr>
      <th scope="row">{props.name}</th>
      <td class={props.probe.ok ? "state state-ok" : "state state-bad"}>{props.probe.ok ? "ok" : "down"}</td>
      <td>{props.probe.error ? <code>{props.probe.error}</code> : null}</td>
    </tr>
  );
}

function Run(props: { run: RunResult | null; now: number }) {
  const r = props.run;
  return (
    <>
      {r ? (
        <>
          <span class={r.ok ? "state state-ok" : "state state-bad"}>{r.ok ? "ok" : "failed"}</span>{" "}
          <When at={r.at} now={props.now} />{" "}
          {r.durationMs !== null ? <span class="muted">({duration(r.durationMs)})</span> : null}
          {r.error ? (
            <div>
              <code>{r.error}</code>
            </div>
          ) : null}
        </>
      ) : (
        <span class="muted">not recorded</span>
      )}
    </>
  );
}

function Subscriptions(props: { health: SubscriptionHealth | null }) {
  const h = props.health;
  if (!h) return <span class="muted">not checked</span>;
  return h.ok ? (
    <span class="state state-ok">ok</span>
  ) : (
    <span class="state state-bad">missing: {h.missing.join(", ")}</span>
  );
}

function MerchantRows(props: { merchant: MerchantView; now: number }) {
  const m = props.merchant;
  const rows: Child[] = [];
  const span = Math.max(1, m.shops.length + m.pages.length);
  const uuidCell = (
    <th scope="rowgroup" rowspan={span}>
      <code class="id">{m.userUuid}</code>
    </th>
  );
  m.shops.forEach((s, i) =>
    rows.push(
      <tr>
        {i === 0 ? uuidCell : null}
        <td>Shopify</td>
        <td>{s.shop}</td>
        <td>
          <span class={STATE_CLASS[s.token]}>{TOKEN_STATE_LABEL[s.token]}</span>
          {s.token === "expiring" && s.tokenExpiresAt ? (
            <div class="muted">
              ends <When at={s.tokenExpiresAt} now={props.now} />
            </div>
          ) : null}
        </td>
        <td>
          <When at={s.lastWebhookAt} now={props.now} />
        </td>
        <td>
          <Run run={s.lastSync} now={props.now} />
        </td>
        <td>
          <Subscriptions health={s.subscriptions} />
        </td>
      </tr>,
    ),
  );
  m.pages.forEach((p, i) =>
    rows.push(
      <tr>
        {i === 0 && !m.shops.length ? uuidCell : null}
        <td>Facebook</td>
        <td>
          {p.name ?? <span class="muted">(no name)</span>}
          <div class="muted">
            <code class="id whole">{p.pageId}</code>
          </div>
        </td>
        <td>
          <span class={STATE_CLASS[p.token]}>{TOKEN_STATE_LABEL[p.token]}</span>
        </td>
        <td>
          <span class="muted">not recorded</span>
        </td>
        <td>
          <Run run={p.lastPoll} now={props.now} />
        </td>
        <td>
          <Subscriptions health={p.subscriptions} />
        </td>
      </tr>,
    ),
  );
  return <tbody>{rows}</tbody>;
}

function BackupRow(props: { name: string; backup: BackupView | null; now: number }) {
  const b = props.backup;
  return (
    <tr>
      <th scope="row">{props.name}</th>
      {b ? (
        <>
          <td>
            <When at={b.at} now={props.now} />
            <div class="muted">{utc(b.at)}</div>
          </td>
          <td>{bytes(b.bytes)}</td>
          <td class={b.verified ? "state state-ok" : "state state-bad"}>{b.verified ? "verified" : "not verified"}</td>
          <td class={b.restoreTested ? "state state-ok" : "state state-bad"}>
            {b.restoreTested ? "passed" : "not passed (yet)"}
          </td>
          <td>
            <code>{b.key}</code>
          </td>
        </>
      ) : (
        <td colspan={5} class="state state-bad">
          no backup
        </td>
      )}
    </tr>
  );
}

/** The page link of the merchant list, keeping the search. */
export function merchantsHref(search: string, page: number): string {
  const params = new URLSearchParams();
  if (search) params.set("q", search);
  if (page > 1) params.set("page", String(page));
  const query = params.toString();
  return query ? `/admin?${query}` : "/admin";
}

export function SignOut(props: { csrf: string }) {
  return (
    <form class="inline" method="post" action="/admin/sign-out">
      <input type="hidden" name="csrf" value={props.csrf} />
      <button type="submit" class="secondary">
        Sign out
      </button>
    </form>
  );
}

/** The console's main page: health, backups, dead jobs, then the merchants (searchable, paged). */
export function DashboardPage(props: { status: ConsoleStatus; csrf: string; notice?: Notice }) {
  const { health, backups, journal, deadJobs, monitoring, merchants } = props.status;
  const now = props.status.generatedAt;
  const lastPage = Math.max(1, Math.ceil(merchants.total / merchants.perPage));
  const first = merchants.total ? (merchants.page - 1) * merchants.perPage + 1 : 0;
  const last = Math.min(merchants.total, merchants.page * merchants.perPage);
  return (
    <Layout title="Operator console" wide nav={<SignOut csrf={props.csrf} />}>
      {props.notice ? (
        <p class="notice" role="status">
          {NOTICES[props.notice]}
        </p>
      ) : null}

      <h2 id="health">Health</h2>
      <p class="muted">
        Spaces, backups and journal as read <When at={props.status.spacesCheckedAt} now={now} />.{" "}
        <a href="/admin?fresh=1">Read them again</a>
      </p>
      <div class="scroll">
        <table class="compact" aria-labelledby="health">
          <tbody>
            <Health name="D1 tokens" probe={health.d1.tokens} />
            <Health name="D1 sessions" probe={health.d1.sessions} />
            <Health name="Spaces" probe={health.spaces} />
          </tbody>
        </table>
      </div>

      <h2 id="backups">Backups</h2>
      {backups.error ? (
        <p class="notice problem">
          Backups could not be read: <code>{backups.error}</code>
        </p>
      ) : null}
      <div class="scroll">
        <table aria-labelledby="backups">
          <thead>
            <tr>
              <th scope="col">Database</th>
              <th scope="col">Newest backup</th>
              <th scope="col">Size</th>
              <th scope="col">Checksum</th>
              <th scope="col">Restore test</th>
              <th scope="col">Key</th>
            </tr>
          </thead>
          <tbody>
            <BackupRow name="tokens" backup={backups.newest.tokens} now={now} />
            <BackupRow name="sessions" backup={backups.newest.sessions} now={now} />
          </tbody>
        </table>
      </div>
      <p>
        Token journal, newest entry:{" "}
        {journal.newest ? (
          <>
            <When at={journal.newest.at} now={now} /> <code>{journal.newest.key}</code>
          </>
        ) : journal.error ? (
          <code>{journal.error}</code>
        ) : (
          <span class="muted">none</span>
        )}
      </p>

      <h2 id="monitoring">Heartbeat and alerts</h2>
      <p>
        Last backup heartbeat:{" "}
        {monitoring.heartbeat ? (
          <>
            <When at={monitoring.heartbeat.at} now={now} /> {monitoring.heartbeat.delivery}{" "}
            <code>{monitoring.heartbeat.backup}</code>
          </>
        ) : (
          <span class="muted">none (BACKUP_HEARTBEAT_URL unset, or no restore-tested backup yet)</span>
        )}
      </p>
      {monitoring.error ? (
        <p class="notice problem">
          Alerts could not be read: <code>{monitoring.error}</code>
        </p>
      ) : null}
      {monitoring.alerts.length ? (
        <div class="scroll">
          <table aria-labelledby="monitoring">
            <thead>
              <tr>
                <th scope="col">When</th>
                <th scope="col">Event</th>
                <th scope="col">Shop or page</th>
                <th scope="col">State</th>
                <th scope="col">Detail</th>
                <th scope="col">Delivery</th>
              </tr>
            </thead>
            <tbody>
              {monitoring.alerts.map((a) => (
                <tr>
                  <td>
                    <When at={a.at} now={now} />
                  </td>
                  <td>{a.event}</td>
                  <td>{a.shop ?? a.pageId ?? ""}</td>
                  <td>{a.state}</td>
                  <td>{a.detail}</td>
                  <td>{a.delivery}</td>
                </tr>
              ))}
            </tbody>
          </table>
        </div>
      ) : (
        <p class="muted">No alerts.</p>
      )}

      <h2 id="dead-jobs">Dead jobs ({deadJobs.total})</h2>
      {deadJobs.items.length ? (
        <div class="scroll">
          <table aria-labelledby="dead-jobs">
            <thead>
              <tr>
                <th scope="col">Job</th>
                <th scope="col">For</th>
                <th scope="col">Error</th>
                <th scope="col">Attempts</th>
                <th scope="col">Failed</th>
                <th scope="col">
                  <span class="muted">Action</span>
                </th>
              </tr>
            </thead>
            <tbody>
              {deadJobs.items.map((j) => (
                <tr>
                  <td>{j.type}</td>
                  <td>{j.subject}</td>
                  <td>
                    <code>{j.error}</code>
                  </td>
                  <td>{j.attempts}</td>
                  <td>
                    <When at={j.failedAt} now={now} />
                  </td>
                  <td>
                    <form class="inline" method="post" action={`/admin/dead-jobs/${encodeURIComponent(j.id)}/retry`}>
                      <input type="hidden" name="csrf" value={props.csrf} />
                      <button type="submit" aria-label={`Retry ${j.type} for ${j.subject}`}>
                        Retry
                      </button>
                    </form>
                  </td>
                </tr>
              ))}
            </tbody>
          </table>
        </div>
      ) : (
        <p class="muted">No dead jobs.</p>
      )}

      <h2 id="merchants">Merchants ({merchants.total})</h2>
      <form method="get" action="/admin" role="search">
        <label for="q">Search by shop, page name, page id or user UUID</label>
        <input id="q" name="q" type="search" value={merchants.search} /> <button type="submit">Search</button>
        {merchants.search ? (
          <>
            {" "}
            <a href="/admin">Show all</a>
          </>
        ) : null}
      </form>
      {merchants.items.length ? (
        <div class="scroll">
          <table aria-labelledby="merchants">
            <caption>
              {first} to {last} of {merchants.total}
            </caption>
            <thead>
              <tr>
                <th scope="col">User UUID</th>
                <th scope="col">Platform</th>
                <th scope="col">Shop or page</th>
                <th scope="col">Token</th>
                <th scope="col">Last webhook</th>
                <th scope="col">Last sync or poll</th>
                <th scope="col">Subscriptions</th>
              </tr>
            </thead>
            {merchants.items.map((m) => (
              <MerchantRows merchant={m} now={now} />
            ))}
          </table>
        </div>
      ) : (
        <p>{merchants.search ? "No merchant matches this search." : "No merchants yet."}</p>
      )}
      {lastPage > 1 ? (
        <nav class="pager" aria-label="Merchant pages">
          {merchants.page > 1 ? (
            <a href={merchantsHref(merchants.search, merchants.page - 1)} rel="prev">
              Previous
            </a>
          ) : null}
          <span>
            Page {merchants.page} of {lastPage}
          </span>
          {merchants.page < lastPage ? (
            <a href={merchantsHref(merchants.search, merchants.page + 1)} rel="next">
              Next
            </a>
          ) : null}
        </nav>
      ) : null}
    </Layout>
  );
}
