-- Per-page translations (internal/pages): a page is written in its own
-- language (lang) and may carry translations of its texts — title, body,
-- thank-you — in the nation's other languages. Translations are one JSON
-- text column, like the form settings beside them (whose consent questions
-- already hold their wording per language): they are read whole with the
-- page and never filtered on.
--
-- The former languages column listed the languages a single text was shown
-- in; its first entry (or the nation's default language when empty) is the
-- language that text was written in.
ALTER TABLE pages ADD COLUMN lang TEXT NOT NULL DEFAULT '';
ALTER TABLE pages ADD COLUMN translations TEXT NOT NULL DEFAULT '[]';
UPDATE pages SET lang = CASE
    WHEN languages = '' THEN (SELECT default_lang FROM nations WHERE nations.id = pages.nation_id)
    ELSE split_part(languages, ',', 1) END;
ALTER TABLE pages DROP COLUMN languages;
