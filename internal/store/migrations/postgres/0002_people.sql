-- People: the minimal record the foundation counts; the people domain
-- extends this migration until the first release.
CREATE TABLE people (
    nation_id  BIGINT NOT NULL REFERENCES nations (id) ON DELETE CASCADE,
    id         BIGINT NOT NULL,
    first_name TEXT   NOT NULL DEFAULT '',
    last_name  TEXT   NOT NULL DEFAULT '',
    email      TEXT   NOT NULL DEFAULT '',
    created_at BIGINT NOT NULL,
    updated_at BIGINT NOT NULL,
    PRIMARY KEY (nation_id, id)
);
