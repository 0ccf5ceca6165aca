-- Full-text people search (people.MatchCondition). people.search_tsv holds
-- the names, the primary e-mail and the phone digits as a 'simple' tsvector,
-- searched by prefix (to_tsquery('simple', 'ana:*')).
--
-- unaccent is an extension that may not be installed, and is not immutable
-- anyway; the column folds the usual Latin accents with translate() (the
-- same table as people.foldAccents, which folds the query) and turns the
-- e-mail punctuation into spaces, so that "lopez" finds "ana.lopez@ex.org"
-- as it does on SQLite. Being a generated column, it is right after every
-- write path (import, edit, merge and undo, erasure) with no trigger.
-- Merged-away people are filtered by merged_into as in every read.

ALTER TABLE people ADD COLUMN search_tsv tsvector GENERATED ALWAYS AS (
    to_tsvector('simple',
        translate(lower(prefix || ' ' || first_name || ' ' || middle_name || ' ' || last_name || ' ' || email_norm),
            'àáâãäåāăąçćčďèéêëēėęěìíîïīįłñńňòóôõöøōőřśšşťùúûüūůűýÿźżžÀÁÂÃÄÅĀĂĄÇĆČĎÈÉÊËĒĖĘĚÌÍÎÏĪĮŁÑŃŇÒÓÔÕÖØŌŐŘŚŠŞŤÙÚÛÜŪŮŰÝŸŹŻŽ.@-_+''',
            'aaaaaaaaacccdeeeeeeeeiiiiiilnnnoooooooorssstuuuuuuuyyzzzaaaaaaaaacccdeeeeeeeeiiiiiilnnnoooooooorssstuuuuuuuyyzzz      ')
        || ' ' || ltrim(mobile_e164, '+') || ' ' || ltrim(phone_e164, '+') || ' ' || ltrim(work_phone_e164, '+'))
) STORED;
CREATE INDEX people_search ON people USING GIN (search_tsv);
