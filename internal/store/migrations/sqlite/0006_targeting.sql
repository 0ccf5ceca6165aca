-- Targeting: the engagement ladder (points per action type and rungs per
-- nation, manual rungs per person), tags marked sensitive (political
-- opinions, refused for ad audiences) and the targeting register of every
-- export. See internal/segment (ladder.go, audience.go).

-- A tag whose meaning reveals a political opinion (or another special
-- category of GDPR Art. 9): filters on it are refused for ad audiences.
ALTER TABLE tags ADD COLUMN sensitive INTEGER NOT NULL DEFAULT 0;

-- Points each kind of action earns in a nation. A missing row means the
-- default of segment.DefaultPoints.
CREATE TABLE ladder_points (
    nation_id   BIGINT NOT NULL REFERENCES nations (id) ON DELETE CASCADE,
    action_type TEXT   NOT NULL,
    points      BIGINT NOT NULL,
    PRIMARY KEY (nation_id, action_type)
);

-- The rungs of a nation's ladder, bottom (position 0) first. A nation
-- without rows uses segment.DefaultRungs. filter is in the filter language;
-- manual rungs are only ever set by staff, and their filter (if any) says
-- who is ready to be invited to them.
CREATE TABLE ladder_rungs (
    nation_id BIGINT  NOT NULL REFERENCES nations (id) ON DELETE CASCADE,
    position  INTEGER NOT NULL,
    key       TEXT    NOT NULL,
    name      TEXT    NOT NULL,
    filter    TEXT    NOT NULL DEFAULT '',
    manual    INTEGER NOT NULL DEFAULT 0,
    PRIMARY KEY (nation_id, position)
);
CREATE UNIQUE INDEX ladder_rungs_key ON ladder_rungs (nation_id, key);

-- A rung set by hand (it overrides the computed rung).
CREATE TABLE person_rungs (
    nation_id BIGINT NOT NULL REFERENCES nations (id) ON DELETE CASCADE,
    person_id BIGINT NOT NULL,
    rung      TEXT   NOT NULL,
    set_by    BIGINT NOT NULL,
    set_at    BIGINT NOT NULL,
    PRIMARY KEY (nation_id, person_id)
);

-- Every export of people selected by a filter: who, when, which filter, how
-- many, for what purpose and in which format (audience: hashed identifiers
-- for an ad platform; csv: a plain list).
CREATE TABLE targeting_register (
    nation_id BIGINT NOT NULL REFERENCES nations (id) ON DELETE CASCADE,
    id        BIGINT NOT NULL,
    at        BIGINT NOT NULL,
    actor_id  BIGINT NOT NULL,
    format    TEXT   NOT NULL,
    filter    TEXT   NOT NULL,
    purpose   TEXT   NOT NULL DEFAULT '',
    count     BIGINT NOT NULL,
    PRIMARY KEY (nation_id, id)
);
CREATE INDEX targeting_register_at ON targeting_register (nation_id, at);
