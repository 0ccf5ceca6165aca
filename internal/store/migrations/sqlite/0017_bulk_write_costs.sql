-- Cheaper bulk writes on SQLite (issue 3: import speed).
--
--   * people_last_name is dropped: no query uses it (the lists sort by
--     LOWER(last_name), which this index cannot serve), and at a million
--     people it was one of the indexes every new person is inserted into
--     at a random place.
--   * people_fts no longer holds the phone digits. A search word of four
--     digits or more already matches phone numbers anywhere with LIKE
--     (people.MatchCondition); the digits made three unique terms per
--     person in the full-text index, the costliest kind. Names and the
--     primary e-mail stay.
--   * people_fts is contentless (content='') and keeps no column sizes
--     (columnsize=0, no ranking uses them): it no longer stores a copy of
--     every person's names and e-mail beside its index, two rows fewer per
--     person. A person is found by rowid, nation_id * 2^40 + id, so the
--     nation is a rowid range. A contentless table cannot read back what
--     it indexed, so the triggers remove a person with FTS5's 'delete'
--     command and the values that were indexed (OLD.*); with secure-delete
--     the tokens leave the index at once, as the erasure tests check (a
--     plain DELETE on a contentless_delete table would leave tombstones and
--     the tokens on disk).
--   The foreign keys stay: their checks cost about 5 % here, and dropping
--   one would mean rebuilding the table.

DROP INDEX IF EXISTS people_last_name;

DROP TRIGGER people_fts_insert;
DROP TRIGGER people_fts_delete;
DROP TRIGGER people_fts_update;
DROP TABLE people_fts;

CREATE VIRTUAL TABLE people_fts USING fts5(
    names, emails,
    content = '', columnsize = 0,
    tokenize = 'unicode61 remove_diacritics 2'
);
INSERT INTO people_fts (people_fts, rank) VALUES ('secure-delete', 1);
-- Merge the index's segments 16 at a time instead of 4 (and force a merge
-- at 64 instead of 16): an import commits a segment per batch, and the
-- default merged the same terms over again; 71 s instead of 76.6 s for a
-- million people. A search reads a few more segments.
INSERT INTO people_fts (people_fts, rank) VALUES ('automerge', 16);
INSERT INTO people_fts (people_fts, rank) VALUES ('crisismerge', 64);

CREATE TRIGGER people_fts_insert AFTER INSERT ON people WHEN NEW.merged_into = 0
BEGIN
    INSERT INTO people_fts (rowid, names, emails)
    VALUES (NEW.nation_id * 1099511627776 + NEW.id,
            NEW.prefix || ' ' || NEW.first_name || ' ' || NEW.middle_name || ' ' || NEW.last_name,
            NEW.email_norm);
END;

CREATE TRIGGER people_fts_delete AFTER DELETE ON people WHEN OLD.merged_into = 0
BEGIN
    INSERT INTO people_fts (people_fts, rowid, names, emails)
    VALUES ('delete', OLD.nation_id * 1099511627776 + OLD.id,
            OLD.prefix || ' ' || OLD.first_name || ' ' || OLD.middle_name || ' ' || OLD.last_name,
            OLD.email_norm);
END;

CREATE TRIGGER people_fts_update AFTER UPDATE ON people
WHEN OLD.prefix IS NOT NEW.prefix OR OLD.first_name IS NOT NEW.first_name
  OR OLD.middle_name IS NOT NEW.middle_name OR OLD.last_name IS NOT NEW.last_name
  OR OLD.email_norm IS NOT NEW.email_norm
  OR OLD.merged_into IS NOT NEW.merged_into OR OLD.id IS NOT NEW.id OR OLD.nation_id IS NOT NEW.nation_id
BEGIN
    INSERT INTO people_fts (people_fts, rowid, names, emails)
    SELECT 'delete', OLD.nation_id * 1099511627776 + OLD.id,
           OLD.prefix || ' ' || OLD.first_name || ' ' || OLD.middle_name || ' ' || OLD.last_name,
           OLD.email_norm
    WHERE OLD.merged_into = 0;
    INSERT INTO people_fts (rowid, names, emails)
    SELECT NEW.nation_id * 1099511627776 + NEW.id,
           NEW.prefix || ' ' || NEW.first_name || ' ' || NEW.middle_name || ' ' || NEW.last_name,
           NEW.email_norm
    WHERE NEW.merged_into = 0;
END;

INSERT INTO people_fts (rowid, names, emails)
SELECT nation_id * 1099511627776 + id,
       prefix || ' ' || first_name || ' ' || middle_name || ' ' || last_name,
       email_norm
FROM people WHERE merged_into = 0;
