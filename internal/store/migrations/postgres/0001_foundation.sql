-- Foundation: id allocation, nations, staff accounts, sessions, set-up.
-- Times are BIGINT milliseconds since the epoch (UTC); see package store.

CREATE TABLE id_sequences (
    nation_id BIGINT NOT NULL,
    name      TEXT   NOT NULL,
    last_id   BIGINT NOT NULL,
    PRIMARY KEY (nation_id, name)
);

-- A nation is its own key: nations.id is the nation_id of every owned table.
CREATE TABLE nations (
    id           BIGINT  NOT NULL PRIMARY KEY,
    slug         TEXT    NOT NULL UNIQUE,
    name         TEXT    NOT NULL,
    parent_id    BIGINT  REFERENCES nations (id),
    default_lang TEXT    NOT NULL DEFAULT 'en',
    languages    TEXT    NOT NULL DEFAULT 'en,fr,nl',
    country      TEXT    NOT NULL DEFAULT '',
    timezone     TEXT    NOT NULL DEFAULT 'UTC',
    created_at   BIGINT  NOT NULL,
    updated_at   BIGINT  NOT NULL
);

-- Staff accounts are installation-wide: one person may work for several nations.
CREATE TABLE users (
    id                  BIGINT NOT NULL PRIMARY KEY,
    email               TEXT   NOT NULL UNIQUE,
    name                TEXT   NOT NULL DEFAULT '',
    password_hash       TEXT   NOT NULL,
    created_at          BIGINT NOT NULL,
    password_changed_at BIGINT NOT NULL
);

CREATE TABLE memberships (
    nation_id  BIGINT NOT NULL REFERENCES nations (id) ON DELETE CASCADE,
    user_id    BIGINT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    role       TEXT   NOT NULL CHECK (role IN ('admin', 'organizer', 'volunteer')),
    created_at BIGINT NOT NULL,
    PRIMARY KEY (nation_id, user_id)
);
CREATE INDEX memberships_user ON memberships (user_id);

CREATE TABLE invitations (
    nation_id   BIGINT NOT NULL REFERENCES nations (id) ON DELETE CASCADE,
    token_hash  TEXT   NOT NULL,
    email       TEXT   NOT NULL,
    role        TEXT   NOT NULL CHECK (role IN ('admin', 'organizer', 'volunteer')),
    invited_by  BIGINT NOT NULL,
    created_at  BIGINT NOT NULL,
    expires_at  BIGINT NOT NULL,
    accepted_at BIGINT NOT NULL DEFAULT 0,
    PRIMARY KEY (nation_id, token_hash)
);
CREATE UNIQUE INDEX invitations_token ON invitations (token_hash);

CREATE TABLE sessions (
    token_hash TEXT   NOT NULL PRIMARY KEY,
    user_id    BIGINT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    created_at BIGINT NOT NULL,
    expires_at BIGINT NOT NULL
);
CREATE INDEX sessions_user ON sessions (user_id);

CREATE TABLE setup_tokens (
    token_hash TEXT   NOT NULL PRIMARY KEY,
    created_at BIGINT NOT NULL,
    expires_at BIGINT NOT NULL,
    used_at    BIGINT NOT NULL DEFAULT 0
);

-- Failed sign-ins, keyed by account or by client address, for the throttle.
CREATE TABLE login_failures (
    key TEXT   NOT NULL,
    at  BIGINT NOT NULL
);
CREATE INDEX login_failures_key ON login_failures (key, at);
