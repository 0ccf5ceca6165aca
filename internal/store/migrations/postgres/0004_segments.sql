-- Segments: saved filters, their count history, and the people change log
-- that keeps every process's in-memory segment index in step with writes.

-- A saved filter; segment:NAME in another filter refers to it by name.
CREATE TABLE segments (
    nation_id   BIGINT NOT NULL REFERENCES nations (id) ON DELETE CASCADE,
    id          BIGINT NOT NULL,
    name        TEXT   NOT NULL,
    filter      TEXT   NOT NULL,
    description TEXT   NOT NULL DEFAULT '',
    author_id   BIGINT NOT NULL DEFAULT 0,
    created_at  BIGINT NOT NULL,
    updated_at  BIGINT NOT NULL,
    PRIMARY KEY (nation_id, id)
);
CREATE UNIQUE INDEX segments_name ON segments (nation_id, name);

-- The count of a saved segment over time (the small chart).
CREATE TABLE segment_counts (
    nation_id  BIGINT NOT NULL REFERENCES nations (id) ON DELETE CASCADE,
    segment_id BIGINT NOT NULL,
    at         BIGINT NOT NULL,
    count      BIGINT NOT NULL,
    PRIMARY KEY (nation_id, segment_id, at)
);

-- One row per person changed by a committed write. seq comes from
-- Tx.NextID(nation, 'people_changes') inside the writing transaction, which
-- holds the counter row until commit: seq order is commit order. Each
-- process's segment index reads the rows after the last seq it applied.
-- Old rows are pruned (see internal/segment).
CREATE TABLE people_changes (
    nation_id BIGINT NOT NULL REFERENCES nations (id) ON DELETE CASCADE,
    seq       BIGINT NOT NULL,
    person_id BIGINT NOT NULL,
    at        BIGINT NOT NULL,
    PRIMARY KEY (nation_id, seq, person_id)
);
CREATE INDEX people_changes_at ON people_changes (nation_id, at);
