import { JOURNAL_PREFIX, journalKeyTime } from "../backup/journal";
import { DATABASES, type DatabaseName } from "../backup/dump";
import { backupAuth } from "../backup/auth";
import { parseManifestKey, passedVerification, readManifest } from "../backup/manifest";
import { lastHeartbeat, latestAlerts, type AlertRecord, type HeartbeatRecord } from "../db/alerts";
import { isolateCache } from "../lib/isolate-cache";
import { describeError } from "../lib/log";
import { retryDeadJob } from "../jobs/consumer";
import { listDeadJobs, type DeadJob as StoredDeadJob } from "../db/dead-jobs";
import { pageStatusesOf } from "../db/page-status";
import { shopStatusesOf } from "../db/shop-status";
import { spaces } from "../services";
import { merchantLinks, merchantPage, probeSessionsDb, probeTokensDb, type PageRow, type ShopRow } from "./rows";
import { tokenState, type TokenState } from "./token-state";

/**
 * The operator's view, assembled from one read function per section, so the console page,
 * `GET /admin/status.json` and `npm run status` show the same thing. A new source of data (a
 * table of sync results, of dead jobs) plugs in by replacing one function of `sources`.
 */

/** One run of a sync or poll, as recorded. */
export interface RunResult {
  at: number;
  ok: boolean;
  durationMs: number | null;
  /** What failed, for the operator (never a token). */
  error?: string;
}

/** Whether the platform still sends us what we subscribed to. */
export interface SubscriptionHealth {
  ok: boolean;
  checkedAt: number | null;
  /** Topics or fields the platform dropped (put back by the daily poll). */
  missing: string[];
}

/** A dead job as the console lists it: when it last failed, not its whole retry record. */
export type DeadJob = Pick<StoredDeadJob, "id" | "type" | "subject" | "error" | "attempts"> & { failedAt: number };

/** The values of a status map that `pick` keeps (null: that row has nothing to show). */
function pickEach<S, R>(status: Map<string, S>, pick: (s: S) => R | null): Map<string, R> {
  const out = new Map<string, R>();
  for (const [key, s] of status) {
    const value = pick(s);
    if (value !== null) out.set(key, value);
  }
  return out;
}

const shopStatuses = (env: Env, shops: ShopRow[]) =>
  shopStatusesOf(
    env.TOKENS_DB,
    shops.map((s) => s.shop),
  );
const pageStatuses = (env: Env, pages: PageRow[]) =>
  pageStatusesOf(
    env.TOKENS_DB,
    pages.map((p) => p.page_id),
  );

/** Where each section's data comes from: one function per source, so a new one plugs in here. */
export const sources = {
  /** Per shop, from one read of shop_status: its last sync and its webhook subscriptions' health. */
  shops: async (
    env: Env,
    shops: ShopRow[],
  ): Promise<{ runs: Map<string, RunResult>; subscriptions: Map<string, SubscriptionHealth> }> => {
    const statuses = await shopStatuses(env, shops);
    return {
      runs: pickEach(statuses, ({ sync }) =>
        sync
          ? {
              at: sync.at,
              ok: sync.result === "ok",
              durationMs: sync.ms,
              ...(sync.result === "failed" ? { error: syncFailureWords(sync.reason) } : {}),
            }
          : null,
      ),
      subscriptions: pickEach(statuses, ({ webhooks }) =>
        webhooks ? { ok: webhooks.ok, checkedAt: webhooks.checkedAt, missing: webhooks.missing } : null,
      ),
    };
  },
  /** Per page, from one read of facebook_page_status: its last poll and its `subscribed_apps`. */
  pages: async (
    env: Env,
    pages: PageRow[],
  ): Promise<{ runs: Map<string, RunResult>; subscriptions: Map<string, SubscriptionHealth> }> => {
    const statuses = await pageStatuses(env, pages);
    return {
      runs: pickEach(statuses, (p) => {
        if (p.lastPollAt === null) return null;
        const ok = p.lastPollResult === "ok" || p.lastPollResult === "success";
        return {
          at: p.lastPollAt,
          ok,
          durationMs: p.lastPollDurationMs,
          ...(ok ? {} : { error: p.lastPollResult ?? "failed" }),
        };
      }),
      subscriptions: pickEach(statuses, (p) => {
        if (p.subscriptionHealth === null) return null;
        const ok = p.subscriptionHealth === "ok";
        const missing = ok
          ? []
          : p.subscriptionHealth
              .replace(/^[a-z_]+:/, "")
              .split(",")
              .filter(Boolean);
        return { ok, checkedAt: p.subscriptionCheckedAt, missing };
      }),
    };
  },
  /** The newest dead jobs (work that failed every retry) and how many there are. */
  deadJobs: async (env: Env, limit: number): Promise<{ total: number; items: DeadJob[] }> => {
    const all = await listDeadJobs(env.TOKENS_DB);
    const newest = [...all].sort((a, b) => b.lastFailedAt - a.lastFailedAt).slice(0, limit);
    return {
      total: all.length,
      items: newest.map((j) => ({
        id: j.id,
        type: j.type,
        subject: j.subject,
        error: j.error,
        attempts: j.attempts,
        failedAt: j.lastFailedAt,
      })),
    };
  },
  /** Runs a dead job again now: "done", "failed" (it stays listed), or null when there is no such job. */
  retryDeadJob: async (env: Env, id: string): Promise<"done" | "failed" | null> => {
    const result = await retryDeadJob(env, id);
    return result ? (result.status === "done" ? "done" : "failed") : null;
  },
};

/** A sync failure in words for the operator (reason codes only, never error text). */
function syncFailureWords(reason: string | null): string {
  return reason ? reason.replace(/_/g, " ") : "failed";
}

export interface ShopView {
  shop: string;
  installedAt: number;
  uninstalledAt: number | null;
  token: TokenState;
  tokenExpiresAt: number | null;
  lastWebhookAt: number | null;
  lastSync: RunResult | null;
  subscriptions: SubscriptionHealth | null;
}

export interface PageView {
  pageId: string;
  name: string | null;
  linkedAt: number;
  token: TokenState;
  lastPoll: RunResult | null;
  subscriptions: SubscriptionHealth | null;
}

export interface MerchantView {
  userUuid: string;
  shops: ShopView[];
  pages: PageView[];
}

export interface MerchantsSection {
  search: string;
  page: number;
  perPage: number;
  total: number;
  items: MerchantView[];
}

export const PER_PAGE = 50;

/** One page of merchants (1-based), optionally searched, with everything the console shows of each. */
export async function merchantsSection(
  env: Env,
  opts: { search?: string; page?: number; perPage?: number; now?: number } = {},
): Promise<MerchantsSection> {
  const perPage = opts.perPage ?? PER_PAGE;
  const page = Math.max(1, Math.floor(opts.page ?? 1));
  const search = (opts.search ?? "").trim().slice(0, 200);
  const now = opts.now ?? Date.now();
  const { total, userUuids } = await merchantPage(env.TOKENS_DB, {
    search,
    offset: (page - 1) * perPage,
    limit: perPage,
  });
  const links = await merchantLinks(env.TOKENS_DB, userUuids);
  const webhooks = links.lastWebhooks;
  const [shopStatus, pageStatus] = await Promise.all([
    sources.shops(env, links.shops),
    sources.pages(env, links.pages),
  ]);
  const tokens = new Map(links.tokens.map((t) => [t.key, t]));
  const items = userUuids.map((userUuid) => ({
    userUuid,
    shops: links.shops
      .filter((s) => s.user_uuid === userUuid)
      .map((s) => {
        const token = tokens.get(`shopify:${s.shop}`);
        return {
          shop: s.shop,
          installedAt: s.installed_at,
          uninstalledAt: s.uninstalled_at,
          token: tokenState(token, { uninstalled: s.uninstalled_at !== null, now }),
          tokenExpiresAt: token ? (token.has_refresh ? token.refresh_expires_at : token.expires_at) : null,
          lastWebhookAt: webhooks.get(s.shop) ?? null,
          lastSync: shopStatus.runs.get(s.shop) ?? null,
          subscriptions: shopStatus.subscriptions.get(s.shop) ?? null,
        };
      }),
    pages: links.pages
      .filter((p) => p.user_uuid === userUuid)
      .map((p) => ({
        pageId: p.page_id,
        name: p.name,
        linkedAt: p.linked_at,
        token: tokenState(tokens.get(`facebook:page:${p.page_id}`), { now }),
        lastPoll: pageStatus.runs.get(p.page_id) ?? null,
        subscriptions: pageStatus.subscriptions.get(p.page_id) ?? null,
      })),
  }));
  return { search, page, perPage, total, items };
}

export interface Probe {
  ok: boolean;
  error?: string;
}

async function probe(check: () => Promise<unknown>): Promise<Probe> {
  try {
    await check();
    return { ok: true };
  } catch (err) {
    return { ok: false, error: describeError(err) };
  }
}

export interface HealthSection {
  d1: { tokens: Probe; sessions: Probe };
  spaces: Probe;
}

async function d1Health(env: Env): Promise<HealthSection["d1"]> {
  const [tokens, sessions] = await Promise.all([
    probe(() => probeTokensDb(env.TOKENS_DB)),
    probe(() => probeSessionsDb(env.SESSIONS_DB)),
  ]);
  return { tokens, sessions };
}

export interface BackupView {
  database: DatabaseName;
  key: string;
  at: number;
  bytes: number;
  /** Its manifest is signed with our key and the dump in Spaces still has the checksum it records. */
  verified: boolean;
  /** The worker's restore test of it passed (its signed record, src/backup/restore-test.ts). */
  restoreTested: boolean;
}

export interface BackupsSection {
  newest: Record<DatabaseName, BackupView | null>;
  error?: string;
}

/** The newest backup of each database, checked against its manifest. */
export async function backupsSection(env: Env): Promise<BackupsSection> {
  const newest = { tokens: null, sessions: null } as Record<DatabaseName, BackupView | null>;
  try {
    const store = spaces(env);
    const auth = await backupAuth(env);
    for (const database of Object.keys(DATABASES) as DatabaseName[]) {
      const manifests = (await store.listKeys(`backups/d1/${database}/`))
        .filter((k) => parseManifestKey(k)?.database === database)
        .sort();
      const key = manifests.at(-1);
      if (!key) continue;
      const text = await store.getText(key);
      if (text === null) continue;
      const manifest = await readManifest(key, text, auth).catch(() => null);
      const stamp = parseManifestKey(key)!.stamp;
      if (!manifest) {
        // Altered or unsigned: shown, never trusted.
        newest[database] = { database, key, at: 0, bytes: 0, verified: false, restoreTested: false };
        continue;
      }
      const stored = await store.storedSha256(manifest.dump_key);
      newest[database] = {
        database,
        key: manifest.dump_key,
        at: manifest.exported_at,
        bytes: manifest.bytes,
        verified: stored !== null && stored === manifest.sha256,
        restoreTested: (await passedVerification(store, auth, database, stamp)) !== null,
      };
    }
    return { newest };
  } catch (err) {
    return { newest, error: describeError(err) };
  }
}

export interface JournalSection {
  newest: { key: string; at: number } | null;
  error?: string;
}

/**
 * The token journal's newest entry. Entry keys sort as time, so the newest is the last key of the
 * narrowest prefix that has any: this hour, today, this month, then everything.
 */
export async function journalSection(env: Env, now = Date.now()): Promise<JournalSection> {
  const stamp = new Date(now).toISOString().replace(/[-:.]/g, "");
  const prefixes = [stamp.slice(0, 11), stamp.slice(0, 8), stamp.slice(0, 6), ""].map((p) => `${JOURNAL_PREFIX}${p}`);
  try {
    const store = spaces(env);
    for (const prefix of prefixes) {
      const keys = (await store.listKeys(prefix)).filter((k) => journalKeyTime(k) !== null).sort();
      const key = keys.at(-1);
      if (key) return { newest: { key, at: journalKeyTime(key)! } };
    }
    return { newest: null };
  } catch (err) {
    return { newest: null, error: describeError(err) };
  }
}

export interface MonitoringSection {
  /** The last call of BACKUP_HEARTBEAT_URL (null: none yet, or not configured). */
  heartbeat: HeartbeatRecord | null;
  /** The newest alerts first. */
  alerts: AlertRecord[];
  error?: string;
}

/** The last heartbeat and the latest alerts (two D1 reads). */
export async function monitoringSection(env: Env, limit = 10): Promise<MonitoringSection> {
  try {
    const [heartbeat, alerts] = await Promise.all([lastHeartbeat(env.TOKENS_DB), latestAlerts(env.TOKENS_DB, limit)]);
    return { heartbeat, alerts };
  } catch (err) {
    return { heartbeat: null, alerts: [], error: describeError(err) };
  }
}

export interface ConsoleStatus {
  generatedAt: number;
  /** How long each section took to read (ms), for a Server-Timing header. */
  timings: Record<string, number>;
  health: HealthSection;
  backups: BackupsSection;
  journal: JournalSection;
  /** When Spaces was last asked for its health, backups and journal (they are reused a little while). */
  spacesCheckedAt: number;
  deadJobs: { total: number; items: DeadJob[] };
  monitoring: MonitoringSection;
  merchants: MerchantsSection;
}

/**
 * How long the Spaces side of the console (its health, the backups, the journal) is reused in an
 * isolate. It is about ten S3 calls, each slow and costly in CPU next to the D1 reads, and backups
 * change once a day: re-reading them on every page view would make the page several times slower.
 */
export const SPACES_VIEW_TTL_MS = 30_000;

interface SpacesView {
  at: number;
  spaces: Probe;
  backups: BackupsSection;
  journal: JournalSection;
}
const spacesViews = isolateCache<string, Promise<SpacesView>>("console.spaces-views", {
  why: "the console's Spaces side (probe, backups, journal) per endpoint and bucket; read again after SPACES_VIEW_TTL_MS",
  maxEntries: 4,
});

async function readSpacesView(env: Env, now: number): Promise<SpacesView> {
  const [store, backups, journal] = await Promise.all([
    probe(() => spaces(env).check()),
    backupsSection(env),
    journalSection(env, now),
  ]);
  return { at: now, spaces: store, backups, journal };
}

/** The Spaces side, read again once it is older than SPACES_VIEW_TTL_MS (or when `fresh`). */
async function spacesView(env: Env, now: number, fresh: boolean): Promise<SpacesView> {
  const key = `${env.SPACES_ENDPOINT ?? ""}|${env.SPACES_BUCKET ?? ""}`;
  const cached = spacesViews.get(key);
  if (!fresh && cached) {
    const view = await cached;
    if (now - view.at < SPACES_VIEW_TTL_MS) return view;
  }
  const reading = readSpacesView(env, now);
  spacesViews.set(key, reading);
  return reading;
}

/** Every section at once: what the console's main page, status.json and `npm run status` show. */
export async function consoleStatus(
  env: Env,
  opts: { search?: string; page?: number; perPage?: number; fresh?: boolean } = {},
): Promise<ConsoleStatus> {
  const now = Date.now();
  const timings: Record<string, number> = {};
  const timed = <T>(name: string, read: Promise<T>) => {
    const started = performance.now();
    return read.finally(() => {
      timings[name] = performance.now() - started;
    });
  };
  const [d1, fromSpaces, deadJobs, monitoring, merchants] = await Promise.all([
    timed("d1", d1Health(env)),
    timed("spaces", spacesView(env, now, opts.fresh ?? false)),
    timed("dead_jobs", sources.deadJobs(env, 50)),
    timed("monitoring", monitoringSection(env)),
    timed("merchants", merchantsSection(env, { ...opts, now })),
  ]);
  return {
    generatedAt: now,
    timings,
    health: { d1, spaces: fromSpaces.spaces },
    backups: fromSpaces.backups,
    journal: fromSpaces.journal,
    spacesCheckedAt: fromSpaces.at,
    deadJobs,
    monitoring,
    merchants,
  };
}

/** `Server-Timing` of a status read: each section's time, shown by a browser's developer tools. */
export const serverTiming = (status: ConsoleStatus) =>
  Object.entries(status.timings)
    .map(([name, ms]) => `${name};dur=${ms.toFixed(1)}`)
    .join(", ");

/** The status as the JSON of `GET /admin/status.json` (snake_case, times as ISO strings). */
export function statusJson(status: ConsoleStatus) {
  const iso = (at: number | null | undefined) => (at == null ? null : new Date(at).toISOString());
  const run = (r: RunResult | null) =>
    r && { at: iso(r.at), ok: r.ok, duration_ms: r.durationMs, ...(r.error ? { error: r.error } : {}) };
  const subs = (s: SubscriptionHealth | null) => s && { ok: s.ok, checked_at: iso(s.checkedAt), missing: s.missing };
  const backup = (b: BackupView | null) =>
    b && {
      key: b.key,
      at: iso(b.at),
      age_s: Math.round((status.generatedAt - b.at) / 1000),
      bytes: b.bytes,
      verified: b.verified,
      restore_tested: b.restoreTested,
    };
  return {
    generated_at: iso(status.generatedAt),
    spaces_checked_at: iso(status.spacesCheckedAt),
    health: status.health,
    backups: {
      tokens: backup(status.backups.newest.tokens),
      sessions: backup(status.backups.newest.sessions),
      ...(status.backups.error ? { error: status.backups.error } : {}),
    },
    journal: {
      newest: status.journal.newest && {
        key: status.journal.newest.key,
        at: iso(status.journal.newest.at),
        age_s: Math.round((status.generatedAt - status.journal.newest.at) / 1000),
      },
      ...(status.journal.error ? { error: status.journal.error } : {}),
    },
    monitoring: {
      heartbeat: status.monitoring.heartbeat && {
        at: iso(status.monitoring.heartbeat.at),
        backup: status.monitoring.heartbeat.backup,
        delivery: status.monitoring.heartbeat.delivery,
      },
      alerts: status.monitoring.alerts.map((a) => ({
        at: iso(a.at),
        event: a.event,
        ...(a.shop ? { shop: a.shop } : {}),
        ...(a.pageId ? { page_id: a.pageId } : {}),
        state: a.state,
        detail: a.detail,
        delivery: a.delivery,
      })),
      ...(status.monitoring.error ? { error: status.monitoring.error } : {}),
    },
    dead_jobs: {
      total: status.deadJobs.total,
      items: status.deadJobs.items.map((j) => ({
        id: j.id,
        type: j.type,
        subject: j.subject,
        error: j.error,
        attempts: j.attempts,
        failed_at: iso(j.failedAt),
      })),
    },
    merchants: {
      search: status.merchants.search,
      page: status.merchants.page,
      per_page: status.merchants.perPage,
      total: status.merchants.total,
      items: status.merchants.items.map((m) => ({
        user_uuid: m.userUuid,
        shops: m.shops.map((s) => ({
          shop: s.shop,
          installed_at: iso(s.installedAt),
          uninstalled_at: iso(s.uninstalledAt),
          token: s.token,
          token_expires_at: iso(s.tokenExpiresAt),
          last_webhook_at: iso(s.lastWebhookAt),
          last_sync: run(s.lastSync),
          subscriptions: subs(s.subscriptions),
        })),
        pages: m.pages.map((p) => ({
          page_id: p.pageId,
          name: p.name,
          linked_at: iso(p.linkedAt),
          token: p.token,
          last_poll: run(p.lastPoll),
          subscriptions: subs(p.subscriptions),
        })),
      })),
    },
  };
}

export type StatusJson = ReturnType<typeof statusJson>;
