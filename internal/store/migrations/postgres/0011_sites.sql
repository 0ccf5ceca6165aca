-- Custom domains and per-nation theme overrides (internal/clone, internal/theme).
--
-- nation_domains binds host names to a nation: the host is lower-cased and
-- unique across the installation (one host serves one nation).
-- theme_files holds a nation's overrides of the public templates and its
-- CSS, one row per file: draft is what staff last saved (validated) and see
-- in the preview, published what visitors get ('' = not overridden).

CREATE TABLE nation_domains (
    nation_id  BIGINT NOT NULL REFERENCES nations (id) ON DELETE CASCADE,
    host       TEXT   NOT NULL,
    created_at BIGINT NOT NULL,
    PRIMARY KEY (nation_id, host)
);
CREATE UNIQUE INDEX nation_domains_host ON nation_domains (host);

CREATE TABLE theme_files (
    nation_id  BIGINT NOT NULL REFERENCES nations (id) ON DELETE CASCADE,
    name       TEXT   NOT NULL, -- e.g. public/home.html, layouts/public.html, theme.css
    draft      TEXT   NOT NULL DEFAULT '',
    published  TEXT   NOT NULL DEFAULT '',
    updated_at BIGINT NOT NULL,
    PRIMARY KEY (nation_id, name)
);
