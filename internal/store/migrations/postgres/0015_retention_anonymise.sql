-- A retention rule may anonymise instead of erase (internal/privacy,
-- retention.go): the person row stays with its country and creation year
-- only, so that counts (petition signatures) hold.
ALTER TABLE retention_rules DROP CONSTRAINT retention_rules_action_check;
ALTER TABLE retention_rules ADD CONSTRAINT retention_rules_action_check CHECK (action IN ('erase', 'anonymise'));
