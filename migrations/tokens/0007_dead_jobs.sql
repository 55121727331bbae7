-- Jobs that failed every retry of the queue: kept, shown to the operator and retried by the daily
-- cron (src/storage/dead-jobs.ts). id is the SHA-256 of the job's body, so the same job dying again
-- is one row with more attempts. error is a scrubbed reason, never a secret.
CREATE TABLE dead_jobs (
  id TEXT PRIMARY KEY,
  type TEXT NOT NULL,
  subject TEXT NOT NULL,
  body TEXT NOT NULL,
  error TEXT NOT NULL,
  attempts INTEGER NOT NULL,
  first_failed_at INTEGER NOT NULL,
  last_failed_at INTEGER NOT NULL,
  retries INTEGER NOT NULL DEFAULT 0,
  next_retry_at INTEGER NOT NULL,
  given_up INTEGER NOT NULL DEFAULT 0
);
CREATE INDEX dead_jobs_due ON dead_jobs (next_retry_at);
