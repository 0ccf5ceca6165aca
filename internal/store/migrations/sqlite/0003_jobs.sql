-- Durable background jobs: one table-backed queue on both engines (see
-- internal/jobs for the semantics). nation_id is 0 for installation-wide jobs,
-- so there is no foreign key to nations.
--
-- state: available (waiting for run_at), running (claimed; locked_by holds
-- the lease until locked_until), succeeded, failed, cancelled, and held (it
-- was claimed after its not_after deadline and waits for a person).
-- last_error and progress_note never hold personal data.

CREATE TABLE jobs (
    nation_id      BIGINT  NOT NULL,
    id             BIGINT  NOT NULL,
    kind           TEXT    NOT NULL,
    args           TEXT    NOT NULL DEFAULT '{}',
    state          TEXT    NOT NULL DEFAULT 'available'
                   CHECK (state IN ('available', 'running', 'succeeded', 'failed', 'cancelled', 'held')),
    run_at         BIGINT  NOT NULL,
    not_after      BIGINT  NOT NULL DEFAULT 0,
    attempts       INTEGER NOT NULL DEFAULT 0,
    max_attempts   INTEGER NOT NULL,
    last_error     TEXT    NOT NULL DEFAULT '',
    unique_key     TEXT,
    locked_by      TEXT    NOT NULL DEFAULT '',
    locked_until   BIGINT  NOT NULL DEFAULT 0,
    progress_done  BIGINT  NOT NULL DEFAULT 0,
    progress_total BIGINT  NOT NULL DEFAULT 0,
    progress_note  TEXT    NOT NULL DEFAULT '',
    created_at     BIGINT  NOT NULL,
    updated_at     BIGINT  NOT NULL,
    finished_at    BIGINT  NOT NULL DEFAULT 0,
    PRIMARY KEY (nation_id, id)
);

-- Claiming: due available jobs by run_at, and running jobs whose lease ran out.
CREATE INDEX jobs_claim ON jobs (state, run_at);

-- A unique key is unique among live jobs of a kind in a nation only: once the
-- job has finished, the same key may be enqueued again.
CREATE UNIQUE INDEX jobs_unique_live ON jobs (nation_id, kind, unique_key)
    WHERE unique_key IS NOT NULL AND state IN ('available', 'running', 'held');
