-- People: one record per human, with the pieces that make it up. See
-- internal/people for the rules; this file is the shape only.
--
-- Design notes:
--   * people holds the primary e-mail and one phone per kind (landline,
--     mobile, work) and the home address in columns, so that the common
--     reads (lists, segment counts, matching) need no join; further e-mails,
--     phones and addresses live in the side tables.
--   * person_emails holds EVERY e-mail (primary included); its key
--     (nation_id, email_norm) makes a normalised e-mail unique per nation and
--     is the matching index.
--   * provenance is one row per touch listing the fields that touch set
--     (not one row per field), which keeps bulk imports at one row per person.
--   * merged-away people keep their row with merged_into set, so that a merge
--     can be undone; every read and match skips them.

CREATE TABLE people (
    nation_id          BIGINT NOT NULL REFERENCES nations (id) ON DELETE CASCADE,
    id                 BIGINT NOT NULL,
    prefix             TEXT   NOT NULL DEFAULT '',
    first_name         TEXT   NOT NULL DEFAULT '',
    middle_name        TEXT   NOT NULL DEFAULT '',
    last_name          TEXT   NOT NULL DEFAULT '',
    email              TEXT   NOT NULL DEFAULT '', -- primary, as typed
    email_norm         TEXT   NOT NULL DEFAULT '', -- primary, lower-cased
    phone              TEXT   NOT NULL DEFAULT '', -- landline as typed
    phone_e164         TEXT   NOT NULL DEFAULT '',
    phone_invalid      INTEGER NOT NULL DEFAULT 0,  -- 1: could not be parsed
    mobile             TEXT   NOT NULL DEFAULT '',
    mobile_e164        TEXT   NOT NULL DEFAULT '',
    mobile_invalid     INTEGER NOT NULL DEFAULT 0,
    work_phone         TEXT   NOT NULL DEFAULT '',
    work_phone_e164    TEXT   NOT NULL DEFAULT '',
    work_phone_invalid INTEGER NOT NULL DEFAULT 0,
    birth_date         TEXT   NOT NULL DEFAULT '', -- YYYY-MM-DD
    gender             TEXT   NOT NULL DEFAULT '' CHECK (gender IN ('', 'f', 'm', 'x')),
    language           TEXT   NOT NULL DEFAULT '',
    home_line1         TEXT   NOT NULL DEFAULT '',
    home_line2         TEXT   NOT NULL DEFAULT '',
    home_city          TEXT   NOT NULL DEFAULT '',
    home_postcode      TEXT   NOT NULL DEFAULT '',
    home_region        TEXT   NOT NULL DEFAULT '',
    home_country       TEXT   NOT NULL DEFAULT '',
    home_lat           DOUBLE PRECISION,
    home_lng           DOUBLE PRECISION,
    support_level      INTEGER CHECK (support_level BETWEEN 1 AND 5),
    relationship       TEXT   NOT NULL DEFAULT '',
    membership_status  TEXT   NOT NULL DEFAULT '',
    membership_started TEXT   NOT NULL DEFAULT '',
    membership_ends    TEXT   NOT NULL DEFAULT '',
    nationbuilder_id   TEXT   NOT NULL DEFAULT '',
    civicrm_id         TEXT   NOT NULL DEFAULT '',
    external_id        TEXT   NOT NULL DEFAULT '',
    -- lower(first)|lower(last)|postcode, for proposing name+postcode duplicates
    name_key           TEXT   NOT NULL DEFAULT '',
    points             BIGINT NOT NULL DEFAULT 0,
    merged_into        BIGINT NOT NULL DEFAULT 0,
    created_at         BIGINT NOT NULL,
    updated_at         BIGINT NOT NULL,
    last_activity_at   BIGINT NOT NULL DEFAULT 0,
    PRIMARY KEY (nation_id, id)
);
CREATE INDEX people_nationbuilder ON people (nation_id, nationbuilder_id) WHERE nationbuilder_id <> '';
CREATE INDEX people_civicrm ON people (nation_id, civicrm_id) WHERE civicrm_id <> '';
CREATE INDEX people_external ON people (nation_id, external_id) WHERE external_id <> '';
CREATE INDEX people_mobile ON people (nation_id, mobile_e164) WHERE mobile_e164 <> '';
CREATE INDEX people_phone ON people (nation_id, phone_e164) WHERE phone_e164 <> '';
CREATE INDEX people_name_key ON people (nation_id, name_key) WHERE name_key <> '';
CREATE INDEX people_last_name ON people (nation_id, last_name);

CREATE TABLE person_emails (
    nation_id  BIGINT  NOT NULL REFERENCES nations (id) ON DELETE CASCADE,
    email_norm TEXT    NOT NULL,
    person_id  BIGINT  NOT NULL,
    email      TEXT    NOT NULL, -- as typed
    is_primary INTEGER NOT NULL DEFAULT 0,
    created_at BIGINT  NOT NULL,
    PRIMARY KEY (nation_id, email_norm)
);
CREATE INDEX person_emails_person ON person_emails (nation_id, person_id);

-- Phones beyond the one per kind held on people (kept by merges and overwrites).
CREATE TABLE person_phones (
    nation_id  BIGINT  NOT NULL REFERENCES nations (id) ON DELETE CASCADE,
    id         BIGINT  NOT NULL,
    person_id  BIGINT  NOT NULL,
    kind       TEXT    NOT NULL CHECK (kind IN ('phone', 'mobile', 'work')),
    raw        TEXT    NOT NULL,
    e164       TEXT    NOT NULL DEFAULT '',
    invalid    INTEGER NOT NULL DEFAULT 0,
    created_at BIGINT  NOT NULL,
    PRIMARY KEY (nation_id, id)
);
CREATE INDEX person_phones_person ON person_phones (nation_id, person_id);
CREATE INDEX person_phones_e164 ON person_phones (nation_id, e164) WHERE e164 <> '';

-- Mailing and work addresses (home is on people).
CREATE TABLE person_addresses (
    nation_id BIGINT NOT NULL REFERENCES nations (id) ON DELETE CASCADE,
    person_id BIGINT NOT NULL,
    kind      TEXT   NOT NULL CHECK (kind IN ('mailing', 'work')),
    line1     TEXT   NOT NULL DEFAULT '',
    line2     TEXT   NOT NULL DEFAULT '',
    city      TEXT   NOT NULL DEFAULT '',
    postcode  TEXT   NOT NULL DEFAULT '',
    region    TEXT   NOT NULL DEFAULT '',
    country   TEXT   NOT NULL DEFAULT '',
    lat       DOUBLE PRECISION,
    lng       DOUBLE PRECISION,
    PRIMARY KEY (nation_id, person_id, kind)
);

CREATE TABLE tags (
    nation_id  BIGINT NOT NULL REFERENCES nations (id) ON DELETE CASCADE,
    id         BIGINT NOT NULL,
    name       TEXT   NOT NULL,
    key        TEXT   NOT NULL, -- lower-cased name
    created_at BIGINT NOT NULL,
    PRIMARY KEY (nation_id, id)
);
CREATE UNIQUE INDEX tags_key ON tags (nation_id, key);

CREATE TABLE taggings (
    nation_id  BIGINT NOT NULL REFERENCES nations (id) ON DELETE CASCADE,
    person_id  BIGINT NOT NULL,
    tag_id     BIGINT NOT NULL,
    created_at BIGINT NOT NULL,
    PRIMARY KEY (nation_id, person_id, tag_id)
);
CREATE INDEX taggings_tag ON taggings (nation_id, tag_id);

CREATE TABLE custom_fields (
    nation_id  BIGINT NOT NULL REFERENCES nations (id) ON DELETE CASCADE,
    id         BIGINT NOT NULL,
    name       TEXT   NOT NULL,
    kind       TEXT   NOT NULL CHECK (kind IN ('text', 'number', 'date', 'bool', 'choice')),
    choices    TEXT   NOT NULL DEFAULT '', -- newline-separated, for kind choice
    created_at BIGINT NOT NULL,
    PRIMARY KEY (nation_id, id)
);
CREATE UNIQUE INDEX custom_fields_name ON custom_fields (nation_id, name);

CREATE TABLE custom_values (
    nation_id BIGINT NOT NULL REFERENCES nations (id) ON DELETE CASCADE,
    person_id BIGINT NOT NULL,
    field_id  BIGINT NOT NULL,
    value     TEXT   NOT NULL,
    PRIMARY KEY (nation_id, person_id, field_id)
);

-- The timeline. fields lists (comma-separated) the person fields this touch
-- set: it is the provenance of each datum (source + time).
CREATE TABLE activities (
    nation_id   BIGINT NOT NULL REFERENCES nations (id) ON DELETE CASCADE,
    id          BIGINT NOT NULL,
    person_id   BIGINT NOT NULL,
    type        TEXT   NOT NULL,
    source_kind TEXT   NOT NULL DEFAULT '',
    source_ref  TEXT   NOT NULL DEFAULT '',
    source_line INTEGER NOT NULL DEFAULT 0,
    source_user BIGINT NOT NULL DEFAULT 0,
    fields      TEXT   NOT NULL DEFAULT '',
    details     TEXT   NOT NULL DEFAULT '',
    at          BIGINT NOT NULL,
    PRIMARY KEY (nation_id, id)
);
CREATE INDEX activities_person ON activities (nation_id, person_id, at);

-- Consent wordings are stored once and referenced by their SHA-256 (hex).
CREATE TABLE consent_wordings (
    nation_id  BIGINT NOT NULL REFERENCES nations (id) ON DELETE CASCADE,
    hash       TEXT   NOT NULL,
    wording    TEXT   NOT NULL,
    created_at BIGINT NOT NULL,
    PRIMARY KEY (nation_id, hash)
);

-- The consent ledger: append-only; current state = latest entry per channel.
CREATE TABLE consents (
    nation_id    BIGINT NOT NULL REFERENCES nations (id) ON DELETE CASCADE,
    id           BIGINT NOT NULL,
    person_id    BIGINT NOT NULL,
    channel      TEXT   NOT NULL CHECK (channel IN ('email', 'sms', 'phone', 'post', 'ads', 'push')),
    status       TEXT   NOT NULL CHECK (status IN ('granted', 'withdrawn')),
    basis        TEXT   NOT NULL CHECK (basis IN ('consent', 'membership', 'legitimate_interest', 'legal_obligation')),
    wording_hash TEXT   NOT NULL DEFAULT '',
    source_kind  TEXT   NOT NULL DEFAULT '',
    source_ref   TEXT   NOT NULL DEFAULT '',
    source_line  INTEGER NOT NULL DEFAULT 0,
    source_user  BIGINT NOT NULL DEFAULT 0,
    ip           TEXT   NOT NULL DEFAULT '',
    at           BIGINT NOT NULL,
    PRIMARY KEY (nation_id, id)
);
CREATE INDEX consents_person ON consents (nation_id, person_id, channel, at);

CREATE TABLE duplicates (
    nation_id  BIGINT NOT NULL REFERENCES nations (id) ON DELETE CASCADE,
    id         BIGINT NOT NULL,
    person_a   BIGINT NOT NULL, -- the lower id
    person_b   BIGINT NOT NULL,
    reason     TEXT   NOT NULL,
    status     TEXT   NOT NULL DEFAULT 'open' CHECK (status IN ('open', 'merged', 'dismissed')),
    created_at BIGINT NOT NULL,
    PRIMARY KEY (nation_id, id)
);
CREATE UNIQUE INDEX duplicates_pair ON duplicates (nation_id, person_a, person_b);
CREATE INDEX duplicates_status ON duplicates (nation_id, status, id);

-- A merge keeps what undo needs (JSON snapshot) for 30 days.
CREATE TABLE merges (
    nation_id   BIGINT NOT NULL REFERENCES nations (id) ON DELETE CASCADE,
    id          BIGINT NOT NULL,
    survivor_id BIGINT NOT NULL,
    other_id    BIGINT NOT NULL,
    actor_id    BIGINT NOT NULL DEFAULT 0,
    snapshot    TEXT   NOT NULL,
    at          BIGINT NOT NULL,
    undone_at   BIGINT NOT NULL DEFAULT 0,
    PRIMARY KEY (nation_id, id)
);
CREATE INDEX merges_survivor ON merges (nation_id, survivor_id);
CREATE INDEX merges_other ON merges (nation_id, other_id);

-- Who did what to which object. Never personal data: ids only.
CREATE TABLE audit_log (
    nation_id   BIGINT NOT NULL REFERENCES nations (id) ON DELETE CASCADE,
    id          BIGINT NOT NULL,
    at          BIGINT NOT NULL,
    actor_id    BIGINT NOT NULL,
    action      TEXT   NOT NULL,
    object_kind TEXT   NOT NULL,
    object_id   BIGINT NOT NULL,
    PRIMARY KEY (nation_id, id)
);
CREATE INDEX audit_actor ON audit_log (nation_id, actor_id, at);
CREATE INDEX audit_object ON audit_log (nation_id, object_kind, object_id, at);
