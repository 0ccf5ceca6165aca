-- A retention rule may anonymise instead of erase (internal/privacy,
-- retention.go): the person row stays with its country and creation year
-- only, so that counts (petition signatures) hold. SQLite cannot change a
-- CHECK constraint in place: the small rules table is rebuilt.
CREATE TABLE retention_rules_new (
    nation_id  BIGINT  NOT NULL REFERENCES nations (id) ON DELETE CASCADE,
    id         BIGINT  NOT NULL,
    kind       TEXT    NOT NULL CHECK (kind IN ('prospects', 'import')),
    months     INTEGER NOT NULL DEFAULT 0,
    import_id  BIGINT  NOT NULL DEFAULT 0,
    expires_on TEXT    NOT NULL DEFAULT '',
    action     TEXT    NOT NULL DEFAULT 'erase' CHECK (action IN ('erase', 'anonymise')),
    created_by BIGINT  NOT NULL DEFAULT 0,
    created_at BIGINT  NOT NULL,
    PRIMARY KEY (nation_id, id)
);
INSERT INTO retention_rules_new (nation_id, id, kind, months, import_id, expires_on, action, created_by, created_at)
    SELECT nation_id, id, kind, months, import_id, expires_on, action, created_by, created_at FROM retention_rules;
DROP TABLE retention_rules;
ALTER TABLE retention_rules_new RENAME TO retention_rules;
