-- ====================================================================
-- The audit ledger: hash chains, blocks, digests (README "Audit ledger")
-- ====================================================================
-- roles: miaopi_admin EXECUTE miaopi.verify_events(bigint)
-- roles: miaopi_admin EXECUTE miaopi.verify_ledger(jsonb)
-- roles: miaopi_admin EXECUTE miaopi.seal()
-- roles: miaopi_admin EXECUTE miaopi.digest()
-- roles: miaopi_analyst EXECUTE miaopi.verify_events(bigint)
-- roles: miaopi_analyst EXECUTE miaopi.verify_ledger(jsonb)

ALTER TABLE miaopi.application ADD COLUMN hash bytea;
COMMENT ON COLUMN miaopi.application.hash IS
	'SHA-256 of the application as its INSERT decided it (canonical form in README "Audit ledger"); the first link of its chain';

-- Events of no application (application_id 0 in 1.0) form the system chain.
ALTER TABLE miaopi.event ALTER COLUMN application_id DROP NOT NULL;
-- session_actor (session_user) comes with 15-roles.
ALTER TABLE miaopi.event
	ADD COLUMN IF NOT EXISTS session_actor text,
	ADD COLUMN chain text GENERATED ALWAYS AS (
		CASE WHEN application_id IS NULL THEN 'system'::text
		ELSE 'application/'::text OPERATOR(pg_catalog.||) (application_id)::text END) STORED,
	ADD COLUMN state bytea,
	ADD COLUMN prev_hash bytea,
	ADD COLUMN hash bytea;
COMMENT ON COLUMN miaopi.event.chain IS
	'The hash chain the event belongs to: application/<id>, or system for events of no application';
COMMENT ON COLUMN miaopi.event.state IS
	'SHA-256 of the application''s row as it stood when the event was recorded (NULL in the system chain and for events recorded before 1.1)';
COMMENT ON COLUMN miaopi.event.prev_hash IS
	'Hash of the chain''s previous event, or for an application''s first event the application''s hash (NULL: the first system event)';
COMMENT ON COLUMN miaopi.event.hash IS
	'SHA-256(prev_hash || canonical event)';
CREATE INDEX event_system ON miaopi.event (id) WHERE application_id IS NULL;

-- The ledger's tables
CREATE TABLE miaopi.ledger_block (
	id			bigint PRIMARY KEY,
	sealed_at	timestamptz NOT NULL,
	entries		bigint NOT NULL,
	root		bytea NOT NULL,
	prev_hash	bytea,
	hash		bytea NOT NULL
);
COMMENT ON TABLE miaopi.ledger_block IS
	'Sealed blocks: a Merkle root (RFC 9162) over their entries, chained by hash; append-only';
COMMENT ON COLUMN miaopi.ledger_block.id IS 'Block number: 1, 2, 3 ... without gaps';
COMMENT ON COLUMN miaopi.ledger_block.prev_hash IS 'Hash of the previous block (NULL for block 1)';
COMMENT ON COLUMN miaopi.ledger_block.hash IS 'SHA-256 of the block''s canonical form (id, sealed_at, entries, root, prev_hash)';

CREATE TABLE miaopi.ledger_entry (
	block_id	bigint NOT NULL,
	leaf		int NOT NULL,
	kind		text NOT NULL,
	row_id		bigint NOT NULL,
	hash		bytea,
	PRIMARY KEY (kind, row_id),
	UNIQUE (block_id, leaf)
);
COMMENT ON TABLE miaopi.ledger_entry IS
	'One row per sealed application (its hash) or event (its chained hash), in the block''s leaf order; append-only';

CREATE TABLE miaopi.ledger_mark (
	kind			text PRIMARY KEY,
	sealed_through	bigint NOT NULL DEFAULT 0,
	candidate		bigint,
	pending			text[]
);
COMMENT ON TABLE miaopi.ledger_mark IS
	'seal() bookkeeping: every row of the kind up to sealed_through is sealed; candidate becomes it once the transactions pending then have ended';

-- Ledger tables only grow, also under session_replication_role = replica.
CREATE FUNCTION miaopi.ledger_append_only()
RETURNS trigger
AS 'MODULE_PATHNAME', 'miaopi_ledger_append_only'
LANGUAGE C VOLATILE PARALLEL UNSAFE;
COMMENT ON FUNCTION miaopi.ledger_append_only() IS
	'Trigger: refuses UPDATE, DELETE and TRUNCATE of the ledger''s blocks and entries';
REVOKE ALL ON FUNCTION miaopi.ledger_append_only() FROM PUBLIC;

CREATE TRIGGER ledger_block_append_only
	BEFORE UPDATE OR DELETE ON miaopi.ledger_block
	FOR EACH ROW EXECUTE FUNCTION miaopi.ledger_append_only();
CREATE TRIGGER ledger_block_no_truncate
	BEFORE TRUNCATE ON miaopi.ledger_block
	FOR EACH STATEMENT EXECUTE FUNCTION miaopi.ledger_append_only();
CREATE TRIGGER ledger_entry_append_only
	BEFORE UPDATE OR DELETE ON miaopi.ledger_entry
	FOR EACH ROW EXECUTE FUNCTION miaopi.ledger_append_only();
CREATE TRIGGER ledger_entry_no_truncate
	BEFORE TRUNCATE ON miaopi.ledger_entry
	FOR EACH STATEMENT EXECUTE FUNCTION miaopi.ledger_append_only();
COMMENT ON TRIGGER ledger_block_append_only ON miaopi.ledger_block IS 'Blocks are never changed or removed';
COMMENT ON TRIGGER ledger_block_no_truncate ON miaopi.ledger_block IS 'Blocks are never removed';
COMMENT ON TRIGGER ledger_entry_append_only ON miaopi.ledger_entry IS 'Entries are never changed or removed';
COMMENT ON TRIGGER ledger_entry_no_truncate ON miaopi.ledger_entry IS 'Entries are never removed';

-- Hashes of what 1.0 stored, chained in id order (a no-op on a fresh install).
CREATE FUNCTION miaopi.ledger_backfill()
RETURNS void
AS 'MODULE_PATHNAME', 'miaopi_ledger_backfill'
LANGUAGE C VOLATILE PARALLEL UNSAFE;
ALTER TABLE miaopi.event DISABLE TRIGGER event_append_only;
UPDATE miaopi.event SET application_id = NULL
	WHERE application_id OPERATOR(pg_catalog.=) 0;
SELECT miaopi.ledger_backfill();
ALTER TABLE miaopi.event ENABLE ALWAYS TRIGGER event_append_only;
ALTER TABLE miaopi.event ENABLE ALWAYS TRIGGER event_no_truncate;
ALTER TABLE miaopi.ledger_block ENABLE ALWAYS TRIGGER ledger_block_append_only;
ALTER TABLE miaopi.ledger_block ENABLE ALWAYS TRIGGER ledger_block_no_truncate;
ALTER TABLE miaopi.ledger_entry ENABLE ALWAYS TRIGGER ledger_entry_append_only;
ALTER TABLE miaopi.ledger_entry ENABLE ALWAYS TRIGGER ledger_entry_no_truncate;
DROP FUNCTION miaopi.ledger_backfill();

-- A chain never forks.
ALTER TABLE miaopi.event
	ADD CONSTRAINT event_chain_link UNIQUE NULLS NOT DISTINCT (chain, prev_hash);

-- pg_dump keeps the ledger.
SELECT pg_catalog.pg_extension_config_dump('miaopi.ledger_block', '');
SELECT pg_catalog.pg_extension_config_dump('miaopi.ledger_entry', '');
SELECT pg_catalog.pg_extension_config_dump('miaopi.ledger_mark', '');

-- Functions
CREATE FUNCTION miaopi.seal()
RETURNS bigint
AS 'MODULE_PATHNAME', 'miaopi_seal'
LANGUAGE C VOLATILE PARALLEL UNSAFE;
COMMENT ON FUNCTION miaopi.seal() IS
	'Seals every application and event not yet in a block into a new block (Merkle root, chained to the previous block); returns the number of entries, 0 and no block when nothing is new';

CREATE FUNCTION miaopi.digest()
RETURNS jsonb
LANGUAGE sql STABLE PARALLEL SAFE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
	SELECT pg_catalog.jsonb_build_object(
		'database', pg_catalog.current_database(),
		'block', b.id,
		'hash', pg_catalog.encode(b.hash, 'hex'),
		'sealed_at', b.sealed_at,
		'entries', b.entries)
	FROM miaopi.ledger_block b
	ORDER BY b.id DESC
	LIMIT 1
$$;
COMMENT ON FUNCTION miaopi.digest() IS
	'The newest block: {"database", "block", "hash", "sealed_at", "entries"}, to keep outside the database (NULL before the first seal)';

CREATE FUNCTION miaopi.verify_events(application_id bigint DEFAULT NULL)
RETURNS TABLE (chain text, row_id bigint, problem text)
AS 'MODULE_PATHNAME', 'miaopi_verify_events'
LANGUAGE C STABLE CALLED ON NULL INPUT PARALLEL UNSAFE;
COMMENT ON FUNCTION miaopi.verify_events(bigint) IS
	'Recomputes the hash chains (one application''s, or all with the system chain and the rulesets); no row means intact, else where each chain first breaks';

CREATE FUNCTION miaopi.verify_ledger(digests jsonb DEFAULT NULL)
RETURNS TABLE (block bigint, problem text)
AS 'MODULE_PATHNAME', 'miaopi_verify_ledger'
LANGUAGE C STABLE CALLED ON NULL INPUT PARALLEL UNSAFE;
COMMENT ON FUNCTION miaopi.verify_ledger(jsonb) IS
	'Recomputes every chain, entry and block; with digests (an array of digest() outputs) also proves the blocks they name unchanged; no row means intact';

REVOKE ALL ON FUNCTION miaopi.seal() FROM PUBLIC;
REVOKE ALL ON FUNCTION miaopi.digest() FROM PUBLIC;
REVOKE ALL ON FUNCTION miaopi.verify_events(bigint) FROM PUBLIC;
REVOKE ALL ON FUNCTION miaopi.verify_ledger(jsonb) FROM PUBLIC;
REVOKE ALL ON TABLE miaopi.ledger_block, miaopi.ledger_entry, miaopi.ledger_mark FROM PUBLIC;
