-- Field-level encryption of political-opinion data (internal/crypt,
-- docs/privacy.md "Encryption").
--
-- nation_keys holds each nation's random data key, wrapped (AES-256-GCM) by
-- the organisation's master key, which never enters the database. version
-- counts rotations.
-- people.support_level_enc replaces people.support_level (left NULL): the
-- level sealed deterministically under the nation key, so equal levels have
-- equal stored values and `support:` filters match with IN (...).

CREATE TABLE nation_keys (
    nation_id  BIGINT NOT NULL REFERENCES nations (id) ON DELETE CASCADE,
    version    BIGINT NOT NULL,
    wrapped    TEXT   NOT NULL,
    created_at BIGINT NOT NULL,
    PRIMARY KEY (nation_id)
);

ALTER TABLE people ADD COLUMN support_level_enc TEXT;
CREATE INDEX people_support_enc ON people (nation_id, support_level_enc);
