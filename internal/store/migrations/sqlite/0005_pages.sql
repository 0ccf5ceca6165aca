-- Public pages (basic, petition, signup, volunteer, topic preferences, the
-- home page's text), per-nation e-mail topics with their subscriptions, and
-- petition signatures. See internal/pages.
--
-- Design notes:
--   * A page's form settings (fields asked and required, consent questions
--     with their exact wording per language, tags, points, thank-you text,
--     auto-response) are one JSON text column: they are read whole with the
--     page and never filtered on.
--   * signatures and topic_subscriptions are plain join tables so that the
--     filter language (signed:SLUG, subscribed:TOPIC) can query them.
--   * The signature count is COUNT(*) over signatures (cached briefly in
--     process), never a counter row written by every signature.

CREATE TABLE pages (
    nation_id      BIGINT  NOT NULL REFERENCES nations (id) ON DELETE CASCADE,
    id             BIGINT  NOT NULL,
    slug           TEXT    NOT NULL,
    type           TEXT    NOT NULL CHECK (type IN ('basic', 'petition', 'signup', 'volunteer', 'topics', 'home')),
    title          TEXT    NOT NULL,
    body           TEXT    NOT NULL DEFAULT '',   -- Markdown
    languages      TEXT    NOT NULL DEFAULT '',   -- comma-separated; '' = the nation's
    share_image    TEXT    NOT NULL DEFAULT '',
    status         TEXT    NOT NULL DEFAULT 'draft' CHECK (status IN ('draft', 'published')),
    target         TEXT    NOT NULL DEFAULT '',   -- petition: whom it addresses
    goal           BIGINT  NOT NULL DEFAULT 0,    -- petition: signatures sought
    supports_party INTEGER NOT NULL DEFAULT 0,    -- petition directly supports the party or candidate
    settings       TEXT    NOT NULL DEFAULT '{}', -- JSON form settings
    created_at     BIGINT  NOT NULL,
    updated_at     BIGINT  NOT NULL,
    published_at   BIGINT  NOT NULL DEFAULT 0,
    PRIMARY KEY (nation_id, id)
);
CREATE UNIQUE INDEX pages_slug ON pages (nation_id, slug);

CREATE TABLE topics (
    nation_id  BIGINT NOT NULL REFERENCES nations (id) ON DELETE CASCADE,
    id         BIGINT NOT NULL,
    slug       TEXT   NOT NULL,
    names      TEXT   NOT NULL DEFAULT '{}', -- JSON: language → name
    created_at BIGINT NOT NULL,
    PRIMARY KEY (nation_id, id)
);
CREATE UNIQUE INDEX topics_slug ON topics (nation_id, slug);

CREATE TABLE topic_subscriptions (
    nation_id   BIGINT NOT NULL REFERENCES nations (id) ON DELETE CASCADE,
    topic_id    BIGINT NOT NULL,
    person_id   BIGINT NOT NULL,
    status      TEXT   NOT NULL CHECK (status IN ('subscribed', 'unsubscribed')),
    at          BIGINT NOT NULL,
    source_kind TEXT   NOT NULL DEFAULT '',
    source_ref  TEXT   NOT NULL DEFAULT '',
    PRIMARY KEY (nation_id, topic_id, person_id)
);
CREATE INDEX topic_subscriptions_person ON topic_subscriptions (nation_id, person_id);

-- first_name and city are the signer's, as typed on the form, kept only for
-- the opt-in public list of recent signers (and erased with the person).
CREATE TABLE signatures (
    nation_id     BIGINT  NOT NULL REFERENCES nations (id) ON DELETE CASCADE,
    page_id       BIGINT  NOT NULL,
    person_id     BIGINT  NOT NULL,
    signed_at     BIGINT  NOT NULL,
    comment       TEXT    NOT NULL DEFAULT '',
    show_publicly INTEGER NOT NULL DEFAULT 0,
    lang          TEXT    NOT NULL DEFAULT '',
    first_name    TEXT    NOT NULL DEFAULT '',
    city          TEXT    NOT NULL DEFAULT '',
    PRIMARY KEY (nation_id, page_id, person_id)
);
CREATE INDEX signatures_recent ON signatures (nation_id, page_id, signed_at);
CREATE INDEX signatures_person ON signatures (nation_id, person_id);
