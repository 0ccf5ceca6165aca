-- Privacy: data-subject requests (access, rectification, erasure,
-- restriction, objection) with their legal deadlines, the single-use links
-- of the public "my data" page, and the restriction flag (GDPR Art. 18) on
-- people. See internal/privacy and docs/privacy.md.

-- 1: processing restricted (Art. 18): no messages, no exports, no segment
-- matches; the record is only stored.
ALTER TABLE people ADD COLUMN restricted INTEGER NOT NULL DEFAULT 0;

-- A request from a data subject. person_id is 0 until the person is known
-- (or after erasure). contact is how staff reach the requester when the
-- request came by post or e-mail; it is personal data and is blanked when
-- the person is erased. due_at is one month after received_at, moved by up
-- to two more months when extended (extension_note says why, as told to
-- the person).
CREATE TABLE privacy_requests (
    nation_id      BIGINT NOT NULL REFERENCES nations (id) ON DELETE CASCADE,
    id             BIGINT NOT NULL,
    kind           TEXT   NOT NULL CHECK (kind IN ('access', 'rectification', 'erasure', 'restriction', 'objection')),
    channel        TEXT   NOT NULL CHECK (channel IN ('web', 'post', 'email', 'phone', 'other')),
    status         TEXT   NOT NULL DEFAULT 'open' CHECK (status IN ('open', 'done', 'refused')),
    person_id      BIGINT NOT NULL DEFAULT 0,
    contact        TEXT   NOT NULL DEFAULT '',
    details        TEXT   NOT NULL DEFAULT '',
    received_at    BIGINT NOT NULL,
    due_at         BIGINT NOT NULL,
    extended_at    BIGINT NOT NULL DEFAULT 0,
    extension_note TEXT   NOT NULL DEFAULT '',
    response       TEXT   NOT NULL DEFAULT '',
    responded_at   BIGINT NOT NULL DEFAULT 0,
    created_by     BIGINT NOT NULL DEFAULT 0,
    created_at     BIGINT NOT NULL,
    updated_at     BIGINT NOT NULL,
    PRIMARY KEY (nation_id, id)
);
CREATE INDEX privacy_requests_status ON privacy_requests (nation_id, status, due_at);
CREATE INDEX privacy_requests_person ON privacy_requests (nation_id, person_id);

-- Single-use links of the "my data" page (kind link) and the short
-- sessions they open (kind session). Only the SHA-256 of the token is kept.
CREATE TABLE privacy_links (
    nation_id  BIGINT NOT NULL REFERENCES nations (id) ON DELETE CASCADE,
    token_hash TEXT   NOT NULL,
    kind       TEXT   NOT NULL CHECK (kind IN ('link', 'session')),
    person_id  BIGINT NOT NULL,
    created_at BIGINT NOT NULL,
    expires_at BIGINT NOT NULL,
    used_at    BIGINT NOT NULL DEFAULT 0,
    PRIMARY KEY (nation_id, token_hash)
);
CREATE INDEX privacy_links_person ON privacy_links (nation_id, person_id);
