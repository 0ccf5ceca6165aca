-- Retention policies (internal/privacy/retention.go): per-nation rules
-- applied by a daily job through the erasure function, the reports of
-- their runs (counts only, no personal data), and the scopes of volunteers.

-- A rule is either "prospects" (no relationship, no membership, no current
-- consent, no activity for months) or "import" (people who came only from
-- one control-panel import, after its expiry date).
CREATE TABLE retention_rules (
    nation_id  BIGINT  NOT NULL REFERENCES nations (id) ON DELETE CASCADE,
    id         BIGINT  NOT NULL,
    kind       TEXT    NOT NULL CHECK (kind IN ('prospects', 'import')),
    months     INTEGER NOT NULL DEFAULT 0,  -- prospects: months without activity
    import_id  BIGINT  NOT NULL DEFAULT 0,  -- import: the imported list
    expires_on TEXT    NOT NULL DEFAULT '', -- import: YYYY-MM-DD, erased from the day after
    action     TEXT    NOT NULL DEFAULT 'erase' CHECK (action IN ('erase')),
    created_by BIGINT  NOT NULL DEFAULT 0,
    created_at BIGINT  NOT NULL,
    PRIMARY KEY (nation_id, id)
);

-- One application of the rules: report is JSON (per rule: matched, erased).
CREATE TABLE retention_runs (
    nation_id BIGINT NOT NULL REFERENCES nations (id) ON DELETE CASCADE,
    id        BIGINT NOT NULL,
    at        BIGINT NOT NULL,
    erased    BIGINT NOT NULL DEFAULT 0,
    report    TEXT   NOT NULL DEFAULT '',
    PRIMARY KEY (nation_id, id)
);
CREATE INDEX retention_runs_at ON retention_runs (nation_id, at);

-- What a volunteer may see: the people matching filter (segment filter
-- language; a saved segment is copied in as its filter), sensitive fields
-- only when granted, exports only with the export permission.
CREATE TABLE volunteer_scopes (
    nation_id  BIGINT  NOT NULL REFERENCES nations (id) ON DELETE CASCADE,
    user_id    BIGINT  NOT NULL,
    filter     TEXT    NOT NULL DEFAULT '',
    sensitive  INTEGER NOT NULL DEFAULT 0,
    can_export INTEGER NOT NULL DEFAULT 0,
    updated_by BIGINT  NOT NULL DEFAULT 0,
    updated_at BIGINT  NOT NULL,
    PRIMARY KEY (nation_id, user_id)
);
