-- PostgreSQL only (see postgres/0017_bulk_write_costs.sql): its per-row
-- foreign-key checks and the accent folding of its search column were the
-- costs. SQLite's foreign-key checks cost about 5 % of an import and cannot
-- be dropped without rebuilding each table; its search index (FTS5, 0014)
-- folds accents in the tokenizer. Nothing to change here.
SELECT 1;
