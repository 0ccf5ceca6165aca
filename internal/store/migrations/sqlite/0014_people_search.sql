-- Full-text people search (people.MatchCondition). people_fts holds one row
-- per live person (merged-away people are left out): the names, the
-- primary e-mail and the phone digits. The unicode61 tokenizer folds case
-- and accents and splits e-mails at their punctuation, so "jose" finds
-- "José" and "lopez@ex" finds "lopez@example.org" by prefix.
--
-- The rowid is nation_id * 2^40 + person id (person ids are per nation), so
-- that the triggers reach a person's row by rowid instead of scanning the
-- UNINDEXED columns. Triggers keep the index in step with every write path
-- (import, edit, merge and undo, erasure); the UPDATE trigger fires only
-- when an indexed value changes, so a re-import that changes nothing costs
-- no index write. secure-delete makes a deleted row's tokens leave the index
-- at once (an erased person must not linger in old segments).

CREATE VIRTUAL TABLE people_fts USING fts5(
    nation_id UNINDEXED, person_id UNINDEXED, names, emails, phones,
    tokenize = 'unicode61 remove_diacritics 2'
);
INSERT INTO people_fts (people_fts, rank) VALUES ('secure-delete', 1);

CREATE TRIGGER people_fts_insert AFTER INSERT ON people WHEN NEW.merged_into = 0
BEGIN
    INSERT INTO people_fts (rowid, nation_id, person_id, names, emails, phones)
    VALUES (NEW.nation_id * 1099511627776 + NEW.id, NEW.nation_id, NEW.id,
            NEW.prefix || ' ' || NEW.first_name || ' ' || NEW.middle_name || ' ' || NEW.last_name,
            NEW.email_norm,
            ltrim(NEW.mobile_e164, '+') || ' ' || ltrim(NEW.phone_e164, '+') || ' ' || ltrim(NEW.work_phone_e164, '+'));
END;

CREATE TRIGGER people_fts_delete AFTER DELETE ON people
BEGIN
    DELETE FROM people_fts WHERE rowid = OLD.nation_id * 1099511627776 + OLD.id;
END;

CREATE TRIGGER people_fts_update AFTER UPDATE ON people
WHEN OLD.prefix IS NOT NEW.prefix OR OLD.first_name IS NOT NEW.first_name
  OR OLD.middle_name IS NOT NEW.middle_name OR OLD.last_name IS NOT NEW.last_name
  OR OLD.email_norm IS NOT NEW.email_norm OR OLD.mobile_e164 IS NOT NEW.mobile_e164
  OR OLD.phone_e164 IS NOT NEW.phone_e164 OR OLD.work_phone_e164 IS NOT NEW.work_phone_e164
  OR OLD.merged_into IS NOT NEW.merged_into OR OLD.id IS NOT NEW.id OR OLD.nation_id IS NOT NEW.nation_id
BEGIN
    DELETE FROM people_fts WHERE rowid = OLD.nation_id * 1099511627776 + OLD.id;
    INSERT INTO people_fts (rowid, nation_id, person_id, names, emails, phones)
    SELECT NEW.nation_id * 1099511627776 + NEW.id, NEW.nation_id, NEW.id,
           NEW.prefix || ' ' || NEW.first_name || ' ' || NEW.middle_name || ' ' || NEW.last_name,
           NEW.email_norm,
           ltrim(NEW.mobile_e164, '+') || ' ' || ltrim(NEW.phone_e164, '+') || ' ' || ltrim(NEW.work_phone_e164, '+')
    WHERE NEW.merged_into = 0;
END;

INSERT INTO people_fts (rowid, nation_id, person_id, names, emails, phones)
SELECT nation_id * 1099511627776 + id, nation_id, id,
       prefix || ' ' || first_name || ' ' || middle_name || ' ' || last_name,
       email_norm,
       ltrim(mobile_e164, '+') || ' ' || ltrim(phone_e164, '+') || ' ' || ltrim(work_phone_e164, '+')
FROM people WHERE merged_into = 0;
