-- Broadcasts: e-mails to an audience, the per-recipient outbox that makes
-- sending crash-safe, suppressed identifiers and bounce events. See
-- internal/broadcast (outbox.go explains the delivery states).

CREATE TABLE broadcasts (
    nation_id          BIGINT NOT NULL REFERENCES nations (id) ON DELETE CASCADE,
    id                 BIGINT NOT NULL,
    subject            TEXT   NOT NULL DEFAULT '',
    preheader          TEXT   NOT NULL DEFAULT '',
    body               TEXT   NOT NULL DEFAULT '',
    format             TEXT   NOT NULL DEFAULT 'md' CHECK (format IN ('md', 'html')),
    audience_filter    TEXT   NOT NULL DEFAULT '',
    topic              TEXT   NOT NULL DEFAULT '',
    basis              TEXT   NOT NULL DEFAULT 'consent' CHECK (basis IN ('consent', 'membership')),
    purpose            TEXT   NOT NULL DEFAULT '',
    state              TEXT   NOT NULL DEFAULT 'draft' CHECK (state IN ('draft', 'scheduled', 'sending', 'paused', 'cancelled', 'finished')),
    scheduled_at       BIGINT NOT NULL DEFAULT 0,
    job_id             BIGINT NOT NULL DEFAULT 0,
    register_id        BIGINT NOT NULL DEFAULT 0,
    materialised       INTEGER NOT NULL DEFAULT 0,
    audience_count     BIGINT NOT NULL DEFAULT 0, -- matched the audience definition
    queued_count       BIGINT NOT NULL DEFAULT 0, -- deliveries created
    skipped_consent    BIGINT NOT NULL DEFAULT 0,
    skipped_suppressed BIGINT NOT NULL DEFAULT 0,
    skipped_bad        BIGINT NOT NULL DEFAULT 0, -- no or malformed address
    created_by         BIGINT NOT NULL DEFAULT 0,
    created_at         BIGINT NOT NULL,
    updated_at         BIGINT NOT NULL,
    started_at         BIGINT NOT NULL DEFAULT 0,
    finished_at        BIGINT NOT NULL DEFAULT 0,
    PRIMARY KEY (nation_id, id)
);
CREATE INDEX broadcasts_state ON broadcasts (nation_id, state, id);

-- The outbox: one row per recipient per broadcast. state: queued → claimed
-- (a worker holds it, lease_until) → sending (on a connection, about to be
-- or being handed to the relay) → sent | failed | ambiguous; skipped when
-- consent, suppression or a cancel stopped it. recovered = 1 marks a row a
-- dead worker left in 'sending' and that was sent again (a possible
-- duplicate). last_error is a code, never personal data.
CREATE TABLE deliveries (
    nation_id       BIGINT  NOT NULL REFERENCES nations (id) ON DELETE CASCADE,
    broadcast_id    BIGINT  NOT NULL,
    person_id       BIGINT  NOT NULL,
    email           TEXT    NOT NULL,
    email_hash      TEXT    NOT NULL,
    state           TEXT    NOT NULL DEFAULT 'queued' CHECK (state IN ('queued', 'claimed', 'sending', 'sent', 'failed', 'ambiguous', 'skipped')),
    attempts        INTEGER NOT NULL DEFAULT 0,
    next_attempt_at BIGINT  NOT NULL DEFAULT 0,
    locked_by       TEXT    NOT NULL DEFAULT '',
    lease_until     BIGINT  NOT NULL DEFAULT 0,
    recovered       INTEGER NOT NULL DEFAULT 0,
    last_error      TEXT    NOT NULL DEFAULT '',
    sent_at         BIGINT  NOT NULL DEFAULT 0,
    PRIMARY KEY (nation_id, broadcast_id, person_id)
);
CREATE INDEX deliveries_state ON deliveries (nation_id, broadcast_id, state, next_attempt_at);

-- Identifiers that must never be contacted again (hard bounces, erasure):
-- only a keyed hash (HMAC-SHA256 with the installation key over the
-- normalised identifier), so that an erased person's address is not kept.
CREATE TABLE suppressions (
    nation_id  BIGINT NOT NULL REFERENCES nations (id) ON DELETE CASCADE,
    kind       TEXT   NOT NULL CHECK (kind IN ('email', 'phone')),
    hash       TEXT   NOT NULL,
    reason     TEXT   NOT NULL,
    created_at BIGINT NOT NULL,
    PRIMARY KEY (nation_id, kind, hash)
);

-- Bounce and complaint events, by address hash (soft bounces are counted
-- to give up on an address after a few).
CREATE TABLE bounce_events (
    nation_id    BIGINT NOT NULL REFERENCES nations (id) ON DELETE CASCADE,
    id           BIGINT NOT NULL,
    email_hash   TEXT   NOT NULL,
    kind         TEXT   NOT NULL CHECK (kind IN ('soft', 'hard', 'complaint')),
    broadcast_id BIGINT NOT NULL DEFAULT 0,
    status       TEXT   NOT NULL DEFAULT '',
    at           BIGINT NOT NULL,
    PRIMARY KEY (nation_id, id)
);
CREATE INDEX bounce_events_hash ON bounce_events (nation_id, email_hash, at);
