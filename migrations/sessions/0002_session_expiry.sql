-- The daily purge finds expired sessions by this index instead of scanning the table.
CREATE INDEX sessions_expiry ON sessions (expires_at);
