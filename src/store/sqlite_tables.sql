-- Migration 2: the directory's objects that its rules tie together get tables of their
-- own, whose constraints back those rules. Foreign keys are deferred to the commit, so the
-- order of writes inside one change does not matter.
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
    FOREIGN KEY (agent_id, org_id) REFERENCES agents (id, org_id) DEFERRABLE INITIALLY DEFERRED
);
CREATE INDEX agent_versions_by_agent ON agent_versions (agent_id, org_id);
CREATE TABLE numbers (
    id TEXT PRIMARY KEY,
    org_id TEXT NOT NULL,
    number TEXT NOT NULL UNIQUE,
    trunk_id TEXT NOT NULL,
    inbound_agent_version_id TEXT,
    outbound_agent_version_id TEXT,
    body TEXT NOT NULL,
    FOREIGN KEY (trunk_id, org_id) REFERENCES trunks (id, org_id) DEFERRABLE INITIALLY DEFERRED,
    FOREIGN KEY (inbound_agent_version_id, org_id) REFERENCES agent_versions (id, org_id)
        DEFERRABLE INITIALLY DEFERRED,
    FOREIGN KEY (outbound_agent_version_id, org_id) REFERENCES agent_versions (id, org_id)
        DEFERRABLE INITIALLY DEFERRED
);
CREATE INDEX numbers_by_trunk ON numbers (trunk_id, org_id);
CREATE INDEX numbers_by_inbound ON numbers (inbound_agent_version_id, org_id);
CREATE INDEX numbers_by_outbound ON numbers (outbound_agent_version_id, org_id);
CREATE TABLE routing_configs (
    org_id TEXT PRIMARY KEY,
    fallback_agent_id TEXT,
    body TEXT NOT NULL,
    FOREIGN KEY (fallback_agent_id, org_id) REFERENCES agents (id, org_id) DEFERRABLE INITIALLY DEFERRED
);
CREATE INDEX routing_configs_by_fallback ON routing_configs (fallback_agent_id, org_id);
-- Rows the move below could not keep, with the reason: nothing is dropped silently.
CREATE TABLE quarantine (
    kind TEXT NOT NULL,
    id TEXT NOT NULL,
    org_id TEXT NOT NULL,
    body TEXT NOT NULL,
    reason TEXT NOT NULL
);
-- Secrets every instance on this database shares (the digest nonce key).
CREATE TABLE secrets (
    name TEXT PRIMARY KEY,
    value BLOB NOT NULL
);

INSERT INTO trunks (id, org_id, body)
    SELECT id, org_id, body FROM objects WHERE kind = 'trunk';
INSERT INTO agents (id, org_id, body)
    SELECT id, org_id, body FROM objects WHERE kind = 'agent';
INSERT INTO agent_versions (id, org_id, agent_id, body)
    SELECT o.id, o.org_id, json_extract(o.body, '$.agent_id'), o.body FROM objects o
    WHERE o.kind = 'agent_version' AND EXISTS (
        SELECT 1 FROM agents a WHERE a.id = json_extract(o.body, '$.agent_id') AND a.org_id = o.org_id);
INSERT INTO quarantine (kind, id, org_id, body, reason)
    SELECT kind, id, org_id, body, 'its agent does not exist in its org' FROM objects
    WHERE kind = 'agent_version' AND id NOT IN (SELECT id FROM agent_versions);

-- A number registered more than once keeps its first registration (the first write that
-- was acknowledged); a slot naming a version that is gone is cleared.
INSERT OR IGNORE INTO numbers
        (id, org_id, number, trunk_id, inbound_agent_version_id, outbound_agent_version_id, body)
    SELECT id, org_id, number, trunk_id, inbound, outbound,
        json_set(body, '$.inbound_agent_version_id', inbound, '$.outbound_agent_version_id', outbound)
    FROM (
        SELECT o.rowid AS written, o.id, o.org_id, o.body,
            json_extract(o.body, '$.phone_number') AS number,
            json_extract(o.body, '$.trunk_id') AS trunk_id,
            (SELECT v.id FROM agent_versions v WHERE v.org_id = o.org_id
                AND v.id = json_extract(o.body, '$.inbound_agent_version_id')) AS inbound,
            (SELECT v.id FROM agent_versions v WHERE v.org_id = o.org_id
                AND v.id = json_extract(o.body, '$.outbound_agent_version_id')) AS outbound
        FROM objects o
        WHERE o.kind = 'phone_number' AND EXISTS (
            SELECT 1 FROM trunks t WHERE t.id = json_extract(o.body, '$.trunk_id') AND t.org_id = o.org_id)
    )
    ORDER BY written;
INSERT INTO quarantine (kind, id, org_id, body, reason)
    SELECT kind, id, org_id, body, 'its trunk does not exist in its org' FROM objects o
    WHERE kind = 'phone_number' AND NOT EXISTS (
        SELECT 1 FROM trunks t WHERE t.id = json_extract(o.body, '$.trunk_id') AND t.org_id = o.org_id);
INSERT INTO quarantine (kind, id, org_id, body, reason)
    SELECT kind, id, org_id, body, 'its number was registered earlier by another row' FROM objects o
    WHERE kind = 'phone_number' AND id NOT IN (SELECT id FROM numbers) AND EXISTS (
        SELECT 1 FROM trunks t WHERE t.id = json_extract(o.body, '$.trunk_id') AND t.org_id = o.org_id);

-- A fallback naming an agent that is gone is cleared.
INSERT INTO routing_configs (org_id, fallback_agent_id, body)
    SELECT id, fallback,
        CASE WHEN fallback IS NULL
            THEN json_remove(body, '$.fallback_agent_id', '$.fallback_agent_version')
            ELSE body END
    FROM (
        SELECT o.id, o.body,
            (SELECT a.id FROM agents a WHERE a.org_id = o.id
                AND a.id = json_extract(o.body, '$.fallback_agent_id')) AS fallback
        FROM objects o WHERE o.kind = 'routing_config'
    );

DELETE FROM objects WHERE kind IN ('trunk', 'agent', 'agent_version', 'phone_number', 'routing_config');
