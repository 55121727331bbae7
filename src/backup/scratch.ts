import { DurableObject } from "cloudflare:workers";
import { spaces } from "../services";
import { backupAuth } from "./auth";
import { DATABASES, type DatabaseName } from "./dump";
import { BackupRefused } from "./dump-parse";
import { planRestore } from "./pitr";
import { compareFacts, readBackFacts, stateStatements, type StateFacts } from "./restore-plan";
import { liveMigrations } from "./schema";
import type { SqlValue } from "./sql-text";

/** What a restore test of one backup found. */
export interface ScratchOutcome {
  database: DatabaseName;
  stamp: string;
  dumpKey: string;
  sha256: string | null;
  passed: boolean;
  problems: string[];
  facts: StateFacts | null;
}

/**
 * Statements a Durable Object's SQLite does not take and that change nothing a restore test
 * compares: the foreign-key pragma (no table of ours has a foreign key) and sqlite_sequence, which
 * SQLite keeps itself.
 */
const NOT_IN_SCRATCH = /^(PRAGMA |DELETE FROM sqlite_sequence|INSERT INTO "sqlite_sequence")/;

/** A BLOB as read from a Durable Object's SQLite (an ArrayBuffer) as the dump's reader has it. */
const scratchValue = (v: SqlStorageValue): SqlValue => (v instanceof ArrayBuffer ? new Uint8Array(v) : v);

/**
 * A scratch database for restore tests, on Cloudflare as locally: a Durable Object's own SQLite.
 * Each test is named by its dump (`idFromName`), starts from an empty database and leaves it empty.
 * The dump is read from Spaces here, checked against its signed manifest and parsed as data
 * (./pitr.ts), loaded with the statements a restore writes, read back, and its row counts and
 * per-table hashes compared with the manifest and the dump.
 */
export class BackupScratch extends DurableObject<Env> {
  async restoreTest(database: DatabaseName, stamp: string): Promise<ScratchOutcome> {
    const outcome: ScratchOutcome = {
      database,
      stamp,
      dumpKey: "",
      sha256: null,
      passed: false,
      problems: [],
      facts: null,
    };
    const migrations = await liveMigrations(this.env[DATABASES[database].binding]);
    let plan;
    try {
      [plan] = await planRestore(
        spaces(this.env),
        await backupAuth(this.env),
        { [database]: migrations },
        {
          from: stamp,
          databases: [database],
          journal: false,
        },
      );
    } catch (err) {
      if (!(err instanceof BackupRefused)) throw err;
      outcome.dumpKey = err.objectKey;
      outcome.problems.push(err.message);
      return outcome;
    }
    outcome.dumpKey = plan!.manifest.dump_key;
    outcome.sha256 = plan!.manifest.sha256;
    const sql = this.ctx.storage.sql;
    await this.ctx.storage.deleteAll();
    try {
      this.ctx.storage.transactionSync(() => {
        for (const statement of stateStatements(plan!.state, []))
          if (!NOT_IN_SCRATCH.test(statement)) sql.exec(statement);
      });
      const tables = [...plan!.state.tables.values()].map((t) => ({
        name: t.schema.name,
        rows: [...sql.exec(`SELECT * FROM "${t.schema.name}"`).raw()].map((row) => row.map(scratchValue)),
      }));
      const facts = await readBackFacts(tables);
      outcome.facts = facts;
      outcome.problems.push(...compareFacts(plan!.facts, facts));
      for (const [table, rows] of Object.entries(plan!.manifest.tables))
        if (plan!.state.tables.has(table) && facts.tables[table] !== rows)
          outcome.problems.push(`${table}: ${facts.tables[table] ?? "no"} rows read back, the manifest says ${rows}`);
    } catch (err) {
      outcome.problems.push(`loading it failed: ${err instanceof Error ? err.message : String(err)}`);
    } finally {
      await this.ctx.storage.deleteAll();
    }
    outcome.passed = outcome.problems.length === 0;
    return outcome;
  }
}
