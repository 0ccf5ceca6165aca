-- Automatic messages (internal/automail): page auto-responses, double
-- opt-in confirmations and welcome series.
--
-- automail_sends holds one row per message that a page's automation owes a
-- person: its key (kind, page, person, step) is unique, so each is sent at
-- most once however often the person submits. state: queued → sent |
-- skipped (reason in note) | failed.
--
-- optin_tokens are double opt-in confirmation links: the SHA-256 of the
-- token (the token itself is only in the e-mail), the wording the person
-- ticked, single use (used_at), valid until expires_at.

CREATE TABLE automail_sends (
    nation_id  BIGINT  NOT NULL REFERENCES nations (id) ON DELETE CASCADE,
    id         BIGINT  NOT NULL,
    kind       TEXT    NOT NULL CHECK (kind IN ('auto_response', 'confirm', 'welcome')),
    page_id    BIGINT  NOT NULL,
    person_id  BIGINT  NOT NULL,
    step       INTEGER NOT NULL DEFAULT 0,
    state      TEXT    NOT NULL DEFAULT 'queued' CHECK (state IN ('queued', 'sent', 'skipped', 'failed')),
    note       TEXT    NOT NULL DEFAULT '',
    due_at     BIGINT  NOT NULL,
    sent_at    BIGINT  NOT NULL DEFAULT 0,
    created_at BIGINT  NOT NULL,
    PRIMARY KEY (nation_id, id)
);
CREATE UNIQUE INDEX automail_sends_key ON automail_sends (nation_id, kind, page_id, person_id, step);
CREATE INDEX automail_sends_person ON automail_sends (nation_id, person_id, state);

CREATE TABLE optin_tokens (
    nation_id  BIGINT NOT NULL REFERENCES nations (id) ON DELETE CASCADE,
    token_hash TEXT   NOT NULL,
    page_id    BIGINT NOT NULL,
    person_id  BIGINT NOT NULL,
    wording    TEXT   NOT NULL DEFAULT '',
    lang       TEXT   NOT NULL DEFAULT '',
    created_at BIGINT NOT NULL,
    expires_at BIGINT NOT NULL,
    used_at    BIGINT NOT NULL DEFAULT 0,
    PRIMARY KEY (nation_id, token_hash)
);
CREATE INDEX optin_tokens_person ON optin_tokens (nation_id, person_id);

-- page_automail is a page's double opt-in and welcome series (welcome: a
-- JSON list of {delay_days, subject, body}, read whole, never filtered).
CREATE TABLE page_automail (
    nation_id       BIGINT  NOT NULL REFERENCES nations (id) ON DELETE CASCADE,
    page_id         BIGINT  NOT NULL,
    double_opt_in   INTEGER NOT NULL DEFAULT 0,
    confirm_subject TEXT    NOT NULL DEFAULT '',
    confirm_body    TEXT    NOT NULL DEFAULT '',
    welcome         TEXT    NOT NULL DEFAULT '',
    updated_at      BIGINT  NOT NULL,
    PRIMARY KEY (nation_id, page_id)
);
