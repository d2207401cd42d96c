-- Migration 1 of the PostgreSQL store: the same tables and constraints as the SQLite store's
-- (sqlite_tables.sql), plus the change feed every instance follows. Foreign keys are deferred
-- to the commit, so the order of writes inside one change does not matter.
CREATE TABLE objects (
    kind TEXT NOT NULL,
    id TEXT NOT NULL,
    org_id TEXT NOT NULL,
    body TEXT NOT NULL,
    PRIMARY KEY (kind, id)
);
CREATE TABLE trunks (
    id TEXT PRIMARY KEY,
    org_id TEXT NOT NULL,
    body TEXT NOT NULL,
    UNIQUE (id, org_id)
);
CREATE TABLE agents (
    id TEXT PRIMARY KEY,
    org_id TEXT NOT NULL,
    body TEXT NOT NULL,
    UNIQUE (id, org_id)
);
CREATE TABLE agent_versions (
    id TEXT PRIMARY KEY,
    org_id TEXT NOT NULL,
    agent_id TEXT NOT NULL,
    body TEXT NOT NULL,
    UNIQUE (id, org_id),
    CONSTRAINT version_of_agent FOREIGN KEY (agent_id, org_id) REFERENCES agents (id, org_id)
        DEFERRABLE INITIALLY DEFERRED
);
CREATE INDEX agent_versions_by_agent ON agent_versions (agent_id, org_id);
CREATE TABLE numbers (
    id TEXT PRIMARY KEY,
    org_id TEXT NOT NULL,
    number TEXT NOT NULL CONSTRAINT number_held_once UNIQUE,
    trunk_id TEXT NOT NULL,
    inbound_agent_version_id TEXT,
    outbound_agent_version_id TEXT,
    body TEXT NOT NULL,
    CONSTRAINT number_on_trunk FOREIGN KEY (trunk_id, org_id) REFERENCES trunks (id, org_id)
        DEFERRABLE INITIALLY DEFERRED,
    CONSTRAINT number_inbound_version FOREIGN KEY (inbound_agent_version_id, org_id)
        REFERENCES agent_versions (id, org_id) DEFERRABLE INITIALLY DEFERRED,
    CONSTRAINT number_outbound_version FOREIGN KEY (outbound_agent_version_id, org_id)
        REFERENCES agent_versions (id, org_id) DEFERRABLE INITIALLY DEFERRED
);
CREATE INDEX numbers_by_trunk ON numbers (trunk_id, org_id);
CREATE INDEX numbers_by_inbound ON numbers (inbound_agent_version_id, org_id);
CREATE INDEX numbers_by_outbound ON numbers (outbound_agent_version_id, org_id);
CREATE TABLE routing_configs (
    org_id TEXT PRIMARY KEY,
    fallback_agent_id TEXT,
    body TEXT NOT NULL,
    CONSTRAINT fallback_agent FOREIGN KEY (fallback_agent_id, org_id) REFERENCES agents (id, org_id)
        DEFERRABLE INITIALLY DEFERRED
);
CREATE INDEX routing_configs_by_fallback ON routing_configs (fallback_agent_id, org_id);
-- Secrets every instance on this database shares (the digest nonce key).
CREATE TABLE secrets (
    name TEXT PRIMARY KEY,
    value BYTEA NOT NULL
);
-- Work done once per database, whichever instance comes first (the demo seed).
CREATE TABLE claims (
    name TEXT PRIMARY KEY,
    instance TEXT NOT NULL,
    claimed_at TIMESTAMPTZ NOT NULL DEFAULT now()
);
-- The change feed: one row per object written, in commit order (writers hold one advisory
-- lock from before their first change row to their commit, so `seq` order is commit order).
-- `body` NULL is a deletion. Every instance applies the rows past the last it applied.
CREATE TABLE changes (
    seq BIGSERIAL PRIMARY KEY,
    instance TEXT NOT NULL,
    kind TEXT NOT NULL,
    id TEXT NOT NULL,
    org_id TEXT NOT NULL,
    body TEXT,
    committed_at TIMESTAMPTZ NOT NULL DEFAULT now()
);
