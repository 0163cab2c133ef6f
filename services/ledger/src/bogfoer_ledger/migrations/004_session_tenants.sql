-- Web sessions are the kit's now (bogfoer_kit.web.sessions), which also keeps the tenants a
-- session may see; ops sessions see every tenant and keep the list empty.
ALTER TABLE ops_sessions ADD COLUMN tenants text[] NOT NULL DEFAULT '{}';
