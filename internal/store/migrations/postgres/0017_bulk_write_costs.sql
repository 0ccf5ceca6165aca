-- Cheaper bulk writes on PostgreSQL (issue 3: import speed), measured with
-- `muster bench import --rows 100000` on a fresh cluster:
--
--   * The tables that take a row per person (or per person and message)
--     lose their foreign key to nations. PostgreSQL checks such a key with
--     a trigger per inserted row that locks the nation's row: per 100,000
--     imported people that was 2.2 s of taggings, 1.2 s of timeline, 1.2 s
--     of e-mails, 0.8 s of consents and 1.3 s of the change log, about half
--     the batch's writes. The key never caught anything: every write is
--     scoped by a nation the caller has just read, and a nation is only
--     ever deleted while it is empty (nation.Store.DeleteEmpty, which also
--     clears these tables itself now). Tables of few rows keep their key.
--     SQLite keeps its keys: its checks cost about 5 % there, and dropping
--     one would mean rebuilding the table.
--
--   * people_last_name is dropped: no query uses it (the lists sort by
--     LOWER(last_name), which it cannot serve).
--
--   * people.search_tsv folded accents with one translate() over a
--     150-character table for every row, 25 µs a person (more than the
--     row's nine indexes). Names and e-mails that are plain ASCII, nearly
--     all of them, now only have their punctuation turned into spaces; the
--     accent table is used for the others. The phone digits leave the
--     column: a search word of four digits or more matches phone numbers
--     anywhere with LIKE (people.MatchCondition), and the digits were
--     three unique terms per person in the GIN index, the costliest kind.

ALTER TABLE people DROP CONSTRAINT IF EXISTS people_nation_id_fkey;
ALTER TABLE person_emails DROP CONSTRAINT IF EXISTS person_emails_nation_id_fkey;
ALTER TABLE person_phones DROP CONSTRAINT IF EXISTS person_phones_nation_id_fkey;
ALTER TABLE person_addresses DROP CONSTRAINT IF EXISTS person_addresses_nation_id_fkey;
ALTER TABLE taggings DROP CONSTRAINT IF EXISTS taggings_nation_id_fkey;
ALTER TABLE custom_values DROP CONSTRAINT IF EXISTS custom_values_nation_id_fkey;
ALTER TABLE activities DROP CONSTRAINT IF EXISTS activities_nation_id_fkey;
ALTER TABLE consents DROP CONSTRAINT IF EXISTS consents_nation_id_fkey;
ALTER TABLE people_changes DROP CONSTRAINT IF EXISTS people_changes_nation_id_fkey;
ALTER TABLE signatures DROP CONSTRAINT IF EXISTS signatures_nation_id_fkey;
ALTER TABLE deliveries DROP CONSTRAINT IF EXISTS deliveries_nation_id_fkey;
ALTER TABLE person_rungs DROP CONSTRAINT IF EXISTS person_rungs_nation_id_fkey;

DROP INDEX IF EXISTS people_last_name;
DROP INDEX IF EXISTS people_search;
ALTER TABLE people DROP COLUMN search_tsv;
ALTER TABLE people ADD COLUMN search_tsv tsvector GENERATED ALWAYS AS (
    to_tsvector('simple',
        CASE WHEN octet_length(prefix || first_name || middle_name || last_name || email_norm)
                = length(prefix || first_name || middle_name || last_name || email_norm)
        THEN translate(lower(prefix || ' ' || first_name || ' ' || middle_name || ' ' || last_name || ' ' || email_norm),
            '.@-_+''', '      ')
        ELSE translate(lower(prefix || ' ' || first_name || ' ' || middle_name || ' ' || last_name || ' ' || email_norm),
            'àáâãäåāăąçćčďèéêëēėęěìíîïīįłñńňòóôõöøōőřśšşťùúûüūůűýÿźżžÀÁÂÃÄÅĀĂĄÇĆČĎÈÉÊËĒĖĘĚÌÍÎÏĪĮŁÑŃŇÒÓÔÕÖØŌŐŘŚŠŞŤÙÚÛÜŪŮŰÝŸŹŻŽ.@-_+''',
            'aaaaaaaaacccdeeeeeeeeiiiiiilnnnoooooooorssstuuuuuuuyyzzzaaaaaaaaacccdeeeeeeeeiiiiiilnnnoooooooorssstuuuuuuuyyzzz      ')
        END)
) STORED;
CREATE INDEX people_search ON people USING GIN (search_tsv);
