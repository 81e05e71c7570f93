-- The audit ledger: chains, seals, digests and what verify catches.
-- Runs in a database of its own, so that other tests' rows (and their
-- superuser edits) do not show up in verify_events().
CREATE DATABASE miaopi_ledger_regress;
\c miaopi_ledger_regress
SET client_min_messages = warning;
CREATE EXTENSION miaopi;
SET miaopi.clock_now = '2026-12-01T10:00:00+08:00';
SET timezone = 'Asia/Shanghai';

-- The canonical forms, written again in SQL (README "Audit ledger")
CREATE FUNCTION pg_temp.f(b bytea) RETURNS bytea LANGUAGE sql AS
	$$ SELECT CASE WHEN b IS NULL THEN '\xffffffff'::bytea ELSE int4send(length(b)) || b END $$;
CREATE FUNCTION pg_temp.t(s text) RETURNS bytea LANGUAGE sql AS
	$$ SELECT pg_temp.f(convert_to(s, 'UTF8')) $$;
CREATE FUNCTION pg_temp.ts(x timestamptz) RETURNS bytea LANGUAGE sql AS
	$$ SELECT pg_temp.t(((extract(epoch FROM x) * 1000000)::bigint)::text) $$;
CREATE FUNCTION pg_temp.event_hash(e miaopi.event) RETURNS bytea LANGUAGE sql AS $$
	SELECT sha256(coalesce(e.prev_hash, '') || pg_temp.t('miaopi.event.v1') || pg_temp.t(e.application_id::text)
		|| pg_temp.ts(e.at) || pg_temp.t(e.action) || pg_temp.t(e.actor) || pg_temp.t(e.session_actor)
		|| pg_temp.t(e.from_status) || pg_temp.t(e.to_status) || pg_temp.t(e.comment)
		|| pg_temp.t(e.detail::text) || pg_temp.f(e.state))
$$;

SELECT service, version FROM miaopi.load_rules($y$
service: ledger-lab
name: 账本
kind: licence
time_limit: {statutory: 20, promised: 5}
auto_approve: true
fields:
  n: {type: int, required: true}
checks:
  - {id: small, rule: payload.n < 10, on_fail: manual}
  - {id: positive, rule: payload.n > 0, on_fail: reject}
$y$);
INSERT INTO miaopi.application (service_code, applicant_id, payload, materials)
SELECT 'ledger-lab', 'a' || g, jsonb_build_object('n', g * 3 - 2), ARRAY['m' || g]
FROM generate_series(1, 6) g;
SELECT miaopi.act(id, 'accept') FROM miaopi.application WHERE status = 'pending' ORDER BY id;
SELECT miaopi.act(4, 'review');

-- Every application has its hash; every event is chained
SELECT count(*) AS applications, count(hash) AS hashed, min(length(hash)) AS bytes FROM miaopi.application;
SELECT id, chain, action, prev_hash IS NOT NULL AS linked, length(hash) AS bytes,
	state IS NOT NULL AS has_state, session_actor = session_user AS by_session
FROM miaopi.event ORDER BY id;
-- the first link of a chain is the application's hash; the next, the event before
SELECT e.id, e.prev_hash = a.hash AS first_link
FROM miaopi.event e JOIN miaopi.application a ON a.id = e.application_id
WHERE e.id = (SELECT min(id) FROM miaopi.event WHERE application_id = a.id) ORDER BY e.id;
SELECT e.id, e.prev_hash = p.hash AS links FROM miaopi.event e
JOIN LATERAL (SELECT hash FROM miaopi.event p WHERE p.application_id = e.application_id AND p.id < e.id
	ORDER BY p.id DESC LIMIT 1) p ON true ORDER BY e.id;
-- the SQL rewrite of the canonical form gives the same hashes
SELECT count(*) AS events, count(*) FILTER (WHERE pg_temp.event_hash(e) = e.hash) AS recomputed
FROM miaopi.event e;
-- the state of an application's newest event is the row as it stands
SELECT count(*) FILTER (WHERE e.state IS NOT NULL) AS with_state FROM miaopi.event e;
CREATE FUNCTION pg_temp.ta(m text[]) RETURNS bytea LANGUAGE sql IMMUTABLE AS $$
	SELECT CASE WHEN m IS NULL THEN '\xffffffff'::bytea
		ELSE pg_temp.f(int4send(coalesce(cardinality(m), 0)) || coalesce((SELECT string_agg(pg_temp.t(e), ''::bytea ORDER BY o)
			FROM unnest(m) WITH ORDINALITY AS u(e, o)), ''::bytea)) END
$$;
CREATE FUNCTION pg_temp.app_hash(a miaopi.application) RETURNS bytea LANGUAGE sql AS $$
	SELECT sha256(pg_temp.t('miaopi.application.v1') || pg_temp.t(a.id::text) || pg_temp.t(a.service_code)
		|| pg_temp.t(a.applicant_id) || pg_temp.t(a.applicant_name) || pg_temp.t(a.payload::text)
		|| pg_temp.ta(a.materials) || pg_temp.t(a.channel) || pg_temp.ts(a.submitted_at) || pg_temp.t(a.status)
		|| pg_temp.t(a.decision) || pg_temp.ts(a.decided_at) || pg_temp.t(a.decided_by)
		|| pg_temp.t(a.ruleset_id::text) || pg_temp.t(a.reasons::text) || pg_temp.ts(a.accepted_at)
		|| pg_temp.ts(a.promised_due) || pg_temp.ts(a.statutory_due) || pg_temp.ts(a.closed_at)
		|| pg_temp.ts(a.step_due) || pg_temp.ts(a.paused_at) || pg_temp.t(a.paused_days::text)
		|| pg_temp.t(a.clock_flags::text))
$$;
-- applications without events: the row hashes to application.hash; with: to its newest event's state
SELECT a.id, pg_temp.app_hash(a) = coalesce((SELECT e.state FROM miaopi.event e WHERE e.application_id = a.id
	ORDER BY e.id DESC LIMIT 1), a.hash) AS recomputed
FROM miaopi.application a ORDER BY a.id;

-- Intact
SELECT * FROM miaopi.verify_events();
SELECT * FROM miaopi.verify_events(4);
SELECT miaopi.seal() AS sealed;
SELECT miaopi.seal() AS sealed_again;
SELECT id, entries, prev_hash IS NULL AS first FROM miaopi.ledger_block;
SELECT kind, count(*), min(leaf), max(leaf) FROM miaopi.ledger_entry GROUP BY kind ORDER BY kind;
SELECT jsonb_build_array(miaopi.digest()) AS d1 \gset
SELECT (:'d1'::jsonb -> 0) - 'database' - 'hash' - 'sealed_at' AS digest;
SELECT * FROM miaopi.verify_ledger();
SELECT * FROM miaopi.verify_ledger(:'d1');

-- The clock's sweep records crossings, chained and sealed like the rest
SET miaopi.clock_now = '2027-01-20T10:00:00+08:00';
SELECT miaopi.sweep() AS crossings;
SELECT count(*) FILTER (WHERE pg_temp.event_hash(e) = e.hash) = count(*) AS recomputed
FROM miaopi.event e;
SELECT * FROM miaopi.verify_events();
SELECT miaopi.seal() AS sealed;
SELECT jsonb_build_array(miaopi.digest()) AS d2 \gset
SELECT * FROM miaopi.verify_ledger(:'d1'::jsonb || :'d2'::jsonb);

-- The guards hold, also for a superuser in replica mode
UPDATE miaopi.ledger_block SET entries = 0;
DELETE FROM miaopi.ledger_entry;
TRUNCATE miaopi.ledger_entry;
SET session_replication_role = replica;
UPDATE miaopi.event SET comment = 'x' WHERE id = 2;
DELETE FROM miaopi.ledger_block;
RESET session_replication_role;

-- A superuser editing an event behind the triggers
BEGIN;
ALTER TABLE miaopi.event DISABLE TRIGGER USER;
UPDATE miaopi.event SET comment = '改过' WHERE id = 3;
SELECT * FROM miaopi.verify_events();
ROLLBACK;

-- ... an application (a hashed column of a row without events, then of one with)
BEGIN;
ALTER TABLE miaopi.application DISABLE TRIGGER USER;
UPDATE miaopi.application SET payload = '{"n": 1}' WHERE id = 1;
UPDATE miaopi.application SET status = 'approved' WHERE id = 4;
SELECT * FROM miaopi.verify_events();
SELECT * FROM miaopi.verify_events(4);
SELECT * FROM miaopi.verify_ledger();
ROLLBACK;

-- ... an application's hash together with its row
BEGIN;
ALTER TABLE miaopi.application DISABLE TRIGGER USER;
UPDATE miaopi.application SET applicant_name = '某人', hash = sha256('forged') WHERE id = 5;
SELECT * FROM miaopi.verify_events();
ROLLBACK;

-- ... a ruleset: its source, then its source and sha256 together
BEGIN;
ALTER TABLE miaopi.ruleset DISABLE TRIGGER USER;
UPDATE miaopi.ruleset SET source = replace(source, 'payload.n < 10', 'payload.n < 99');
SELECT * FROM miaopi.verify_events();
UPDATE miaopi.ruleset SET sha256 = encode(sha256(convert_to(source, 'UTF8')), 'hex');
SELECT * FROM miaopi.verify_events();
ROLLBACK;

-- A forged event with a made-up prev_hash is caught; a fork is refused
BEGIN;
INSERT INTO miaopi.event (application_id, at, action, actor, prev_hash, hash)
VALUES (4, '2027-01-21', 'approve', 'someone', sha256('made up'), sha256('made up too'));
SELECT * FROM miaopi.verify_events(4);
ROLLBACK;
\set VERBOSITY terse
INSERT INTO miaopi.event (application_id, at, action, actor, prev_hash, hash)
SELECT application_id, at, 'approve', actor, prev_hash, sha256('fork') FROM miaopi.event WHERE id = 3;
\set VERBOSITY default

-- A whole chain rewritten consistently, the ledger resealed: only the digest tells
BEGIN;
ALTER TABLE miaopi.event DISABLE TRIGGER USER;
ALTER TABLE miaopi.ledger_entry DISABLE TRIGGER USER;
ALTER TABLE miaopi.ledger_block DISABLE TRIGGER USER;
UPDATE miaopi.event e SET comment = '改写' WHERE id = (SELECT max(id) FROM miaopi.event WHERE application_id = 4);
UPDATE miaopi.event e SET hash = pg_temp.event_hash(e) WHERE id = (SELECT max(id) FROM miaopi.event WHERE application_id = 4);
DELETE FROM miaopi.ledger_entry;
DELETE FROM miaopi.ledger_block;
DELETE FROM miaopi.ledger_mark;
SELECT miaopi.seal() > 0 AS resealed;
SELECT * FROM miaopi.verify_events();
SELECT * FROM miaopi.verify_ledger();
SELECT * FROM miaopi.verify_ledger(:'d1'::jsonb || :'d2'::jsonb);
ROLLBACK;

-- The newest rows deleted, with their block: the digest names a block that is gone
SET miaopi.clock_now = '2027-01-21T10:00:00+08:00';
INSERT INTO miaopi.application (service_code, applicant_id, payload) VALUES ('ledger-lab', 'z', '{"n": 2}');
SELECT miaopi.seal() AS sealed;
SELECT jsonb_build_array(miaopi.digest()) AS d3 \gset
BEGIN;
ALTER TABLE miaopi.application DISABLE TRIGGER USER;
ALTER TABLE miaopi.ledger_entry DISABLE TRIGGER USER;
ALTER TABLE miaopi.ledger_block DISABLE TRIGGER USER;
DELETE FROM miaopi.ledger_entry WHERE block_id = (SELECT max(id) FROM miaopi.ledger_block);
DELETE FROM miaopi.ledger_block WHERE id = (SELECT max(id) FROM miaopi.ledger_block);
DELETE FROM miaopi.application WHERE id = (SELECT max(id) FROM miaopi.application);
SELECT * FROM miaopi.verify_events();
SELECT * FROM miaopi.verify_ledger();
SELECT * FROM miaopi.verify_ledger(:'d3');
ROLLBACK;
-- ... or only the rows, the block left in place
BEGIN;
ALTER TABLE miaopi.application DISABLE TRIGGER USER;
DELETE FROM miaopi.application WHERE id = (SELECT max(id) FROM miaopi.application);
SELECT * FROM miaopi.verify_ledger();
ROLLBACK;

-- Digests: bad arguments are errors, a missing block or a wrong hash a problem
SELECT * FROM miaopi.verify_ledger('{"block": 1}');
SELECT * FROM miaopi.verify_ledger('"x"');
SELECT * FROM miaopi.verify_ledger('[1]');
SELECT * FROM miaopi.verify_ledger('[{"hash": "00"}]');
SELECT * FROM miaopi.verify_ledger('[{"block": 0, "hash": "00"}]');
SELECT * FROM miaopi.verify_ledger('[{"block": 1, "hash": "00"}]');
SELECT * FROM miaopi.verify_ledger(jsonb_build_array(jsonb_build_object('block', 99, 'hash', repeat('0', 64))));
SELECT * FROM miaopi.verify_ledger(jsonb_build_array(jsonb_build_object('block', 1, 'hash', repeat('ab', 32))));
SELECT * FROM miaopi.verify_ledger('[]');
SELECT * FROM miaopi.verify_events(0);

-- Seal refuses to run on a transaction snapshot
BEGIN ISOLATION LEVEL REPEATABLE READ;
SELECT miaopi.seal();
ROLLBACK;

\c contrib_regression
DROP DATABASE miaopi_ledger_regress;
