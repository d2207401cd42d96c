-- Migration 2 of the PostgreSQL store: what the instances sharing the database write beside
-- the directory. Call records (every instance's, listed by any), compiled workflow artifacts
-- (compiled once, loaded by every instance of the same engine), and how far `changes` was
-- pruned.
-- Instances by name (`[store] instance`), numbered at their first start: the number is in
-- the low bits of each call-record key an instance mints, so that two never mint one key.
CREATE TABLE instances (
    name TEXT PRIMARY KEY,
    number SERIAL NOT NULL UNIQUE,
    first_seen TIMESTAMPTZ NOT NULL DEFAULT now()
);
-- One row a call; `key` is the INVITE's arrival in ms << 20 plus the sequence (see
-- store::call_store). Times in Unix milliseconds.
CREATE TABLE call_records (
    key BIGINT PRIMARY KEY,
    instance TEXT NOT NULL,
    org_id TEXT,
    trunk_id TEXT,
    direction TEXT NOT NULL,
    call_id TEXT NOT NULL,
    livekit_call_id TEXT,
    called_number TEXT,
    calling_number TEXT,
    route_kind TEXT NOT NULL,
    agent_id TEXT,
    agent_version_id TEXT,
    status INT NOT NULL,
    reason TEXT NOT NULL,
    outcome TEXT NOT NULL,
    ended_by TEXT NOT NULL,
    ringing_ms BIGINT,
    answered_ms BIGINT,
    ended_ms BIGINT NOT NULL
);
CREATE INDEX call_records_by_org ON call_records (org_id, key);
-- Native code: keyed by the module source and the fingerprint of the engine that compiled
-- it (target, CPU features, compiler settings, release).
CREATE TABLE workflow_artifacts (
    source_sha256 BYTEA NOT NULL,
    engine BYTEA NOT NULL,
    artifact_sha256 BYTEA NOT NULL,
    artifact BYTEA NOT NULL,
    compiled_by TEXT NOT NULL,
    compiled_at TIMESTAMPTZ NOT NULL DEFAULT now(),
    PRIMARY KEY (source_sha256, engine)
);
-- The newest `changes` row pruned (0: none). An instance whose last applied change is
-- older than this missed some and loads the directory whole.
CREATE TABLE changes_pruned (
    one BOOLEAN PRIMARY KEY DEFAULT true CHECK (one),
    through BIGINT NOT NULL
);
INSERT INTO changes_pruned (through) VALUES (0);
CREATE INDEX changes_by_time ON changes (committed_at);
