-- The operator's monitoring (src/alerts/): the last state of each thing an alert is about, so an
-- alert goes out once per change of state and not once per failed call; the alerts sent (newest
-- kept); and the last backup heartbeat. Details are fixed wordings, never a token or customer text.
CREATE TABLE alert_states (
  subject TEXT PRIMARY KEY,
  state TEXT NOT NULL,
  changed_at INTEGER NOT NULL
);
CREATE TABLE alert_log (
  id INTEGER PRIMARY KEY AUTOINCREMENT,
  at INTEGER NOT NULL,
  event TEXT NOT NULL,
  shop TEXT,
  page_id TEXT,
  state TEXT NOT NULL,
  detail TEXT NOT NULL,
  delivery TEXT NOT NULL
);
CREATE TABLE backup_heartbeats (
  id INTEGER PRIMARY KEY CHECK (id = 1),
  at INTEGER NOT NULL,
  backup TEXT NOT NULL,
  delivery TEXT NOT NULL
);

-- The token journal's sequence: each entry takes the next number, so a restore that finds a
-- number missing between the dump's value and the newest entry refuses the journal.
CREATE TABLE journal_sequence (
  id INTEGER PRIMARY KEY CHECK (id = 1),
  next INTEGER NOT NULL
);
INSERT INTO journal_sequence (id, next) VALUES (1, 1);
