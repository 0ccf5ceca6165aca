-- Imports started from the control panel: the uploaded file (kept in the
-- data directory under imports/<nation id>/<id>.csv, never in the
-- database), the mapping and options chosen, and the outcome of the dry
-- run and of the run. The work itself is a job (internal/jobs); see
-- internal/importer/importweb.

CREATE TABLE imports (
    nation_id   BIGINT NOT NULL REFERENCES nations (id) ON DELETE CASCADE,
    id          BIGINT NOT NULL,
    file_name   TEXT   NOT NULL DEFAULT '', -- as uploaded, shown to staff
    size        BIGINT NOT NULL DEFAULT 0,
    -- uploaded → previewing → previewed → running → done; failed when a job
    -- gives up (the job's state is checked too, see importweb).
    status      TEXT   NOT NULL DEFAULT 'uploaded' CHECK (status IN ('uploaded', 'previewing', 'previewed', 'running', 'done', 'failed')),
    options     TEXT   NOT NULL DEFAULT '', -- JSON: format, mapping, tags, overwrite
    preview     TEXT   NOT NULL DEFAULT '', -- JSON: importer.Summary of the dry run
    summary     TEXT   NOT NULL DEFAULT '', -- JSON: importer.Summary of the run
    total_rows  BIGINT NOT NULL DEFAULT 0,  -- rows counted by the dry run, for progress
    job_id      BIGINT NOT NULL DEFAULT 0,  -- the latest job (dry run or run)
    error       TEXT   NOT NULL DEFAULT '', -- user-safe reason of a failure
    created_by  BIGINT NOT NULL DEFAULT 0,
    created_at  BIGINT NOT NULL,
    updated_at  BIGINT NOT NULL,
    started_at  BIGINT NOT NULL DEFAULT 0,  -- the run (not the dry run) began
    finished_at BIGINT NOT NULL DEFAULT 0,
    PRIMARY KEY (nation_id, id)
);
CREATE INDEX imports_recent ON imports (nation_id, created_at);
