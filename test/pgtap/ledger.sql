-- The audit ledger: its objects, privileges, guards, and every error path
-- with its SQLSTATE and message.
\set ON_ERROR_ROLLBACK 1
\set ON_ERROR_STOP true
\pset format unaligned
\pset tuples_only true
\pset pager off

BEGIN;
CREATE EXTENSION miaopi;
SELECT plan(34);
SET LOCAL timezone = 'Asia/Shanghai';
SET LOCAL miaopi.clock_now = '2026-12-01 10:00+08';

SELECT has_function('miaopi', 'seal', ARRAY[]::text[], 'seal()');
SELECT has_function('miaopi', 'digest', ARRAY[]::text[], 'digest()');
SELECT has_function('miaopi', 'verify_events', ARRAY['bigint'], 'verify_events(bigint)');
SELECT has_function('miaopi', 'verify_ledger', ARRAY['jsonb'], 'verify_ledger(jsonb)');
SELECT has_table('miaopi', 'ledger_block', 'table ledger_block');
SELECT has_table('miaopi', 'ledger_entry', 'table ledger_entry');
SELECT has_column('miaopi', 'application', 'hash', 'application.hash');
SELECT columns_are('miaopi', 'ledger_block', ARRAY['id', 'sealed_at', 'entries', 'root', 'prev_hash', 'hash'],
	'ledger_block has the contract''s columns');
SELECT ok(NOT has_function_privilege('public', 'miaopi.seal()', 'EXECUTE')
	AND NOT has_function_privilege('public', 'miaopi.digest()', 'EXECUTE')
	AND NOT has_function_privilege('public', 'miaopi.verify_events(bigint)', 'EXECUTE')
	AND NOT has_function_privilege('public', 'miaopi.verify_ledger(jsonb)', 'EXECUTE'),
	'the ledger''s functions are revoked from PUBLIC');
SELECT ok(NOT has_table_privilege('public', 'miaopi.ledger_block', 'SELECT')
	AND NOT has_table_privilege('public', 'miaopi.ledger_entry', 'SELECT'),
	'the ledger''s tables are revoked from PUBLIC');
SELECT is((SELECT count(*)::int FROM pg_trigger t JOIN pg_class c ON c.oid = t.tgrelid
	WHERE c.relname IN ('event', 'ledger_block', 'ledger_entry') AND c.relnamespace = 'miaopi'::regnamespace
	AND (t.tgname LIKE '%append_only' OR t.tgname LIKE '%no_truncate') AND t.tgenabled = 'A'), 6,
	'the append-only guards fire ALWAYS');
SELECT is((SELECT count(*)::int FROM pg_extension e, unnest(e.extconfig) r
	WHERE e.extname = 'miaopi' AND r IN ('miaopi.ledger_block'::regclass, 'miaopi.ledger_entry'::regclass,
		'miaopi.ledger_mark'::regclass)), 3, 'pg_dump keeps the ledger''s tables');

SELECT is(miaopi.digest(), NULL, 'no digest before the first seal');
SELECT is(miaopi.seal(), 0::bigint, 'nothing to seal in an empty database');
SELECT lives_ok($$SELECT miaopi.load_rules($y$
service: tap-ledger
name: 账本
kind: filing
time_limit: {statutory: 5, promised: 1}
auto_approve: true
fields:
  n: {type: int, required: true}
checks:
  - {id: positive, rule: payload.n > 0, on_fail: reject}
$y$)$$, 'rules load');
SELECT is((SELECT count(*)::int FROM miaopi.event WHERE chain = 'system' AND action = 'load_rules'), 1,
	'the rules load is an event of the system chain');
INSERT INTO miaopi.application (service_code, applicant_id, payload)
SELECT 'tap-ledger', 'a' || g, jsonb_build_object('n', g - 1) FROM generate_series(1, 3) g;
SELECT is((SELECT count(*)::int FROM miaopi.application WHERE length(hash) = 32), 3, 'every application is hashed');
SELECT is(miaopi.seal(), 4::bigint, 'seal() seals three applications and one event');
SELECT is(miaopi.seal(), 0::bigint, 'and then nothing');
SELECT is((miaopi.digest() ->> 'block')::int, 1, 'digest() names block 1');
SELECT is(jsonb_typeof(miaopi.digest() -> 'hash'), 'string', 'with its hash');
SELECT is_empty('SELECT * FROM miaopi.verify_events()', 'verify_events(): intact');
SELECT is_empty($$SELECT * FROM miaopi.verify_ledger(jsonb_build_array(miaopi.digest()))$$,
	'verify_ledger(digests): intact');

-- Error paths
SELECT throws_ok($$SELECT * FROM miaopi.verify_ledger('{"block": 1}')$$, '22023',
	'digests must be a JSON array of digest() objects', 'a single object is not an array of digests');
SELECT throws_ok($$SELECT * FROM miaopi.verify_ledger('[{"block": 1}]')$$, '22023',
	'digests must be a JSON array of digest() objects', 'a digest without its hash');
SELECT throws_ok($$SELECT * FROM miaopi.verify_ledger('[{"block": "one", "hash": "00"}]')$$, '22023',
	'digests must be a JSON array of digest() objects', 'a digest whose block is not a number');
SELECT throws_ok($$SELECT * FROM miaopi.verify_events(-1)$$, '22023',
	'application id must be positive', 'a negative application id');
SELECT throws_ok($$UPDATE miaopi.ledger_block SET entries = 0$$, '42501',
	'miaopi.ledger_block is append-only', 'blocks are never changed');
SELECT throws_ok($$DELETE FROM miaopi.ledger_entry$$, '42501',
	'miaopi.ledger_entry is append-only', 'entries are never removed');
SELECT throws_ok($$TRUNCATE miaopi.ledger_block$$, '42501',
	'miaopi.ledger_block is append-only', 'blocks are never truncated');
SELECT throws_ok($$INSERT INTO miaopi.event (application_id, at, action, actor, prev_hash, hash)
	SELECT application_id, at, 'forged', actor, prev_hash, sha256('x') FROM miaopi.event WHERE chain = 'system'$$,
	'23505', NULL, 'a chain never forks');
SELECT set_eq($$SELECT problem FROM miaopi.verify_ledger(jsonb_build_array(
		jsonb_build_object('block', 7, 'hash', repeat('0', 64)),
		jsonb_build_object('block', 1, 'hash', repeat('0', 64))))$$,
	ARRAY['the digest names a block that does not exist', 'the block''s hash differs from the digest'],
	'a digest naming a missing block or carrying a wrong hash is a problem, not an error');
SELECT is((SELECT count(*)::int FROM miaopi.ledger_block), 1, 'no error changed the ledger');
SELECT is_empty('SELECT * FROM miaopi.verify_events()', 'nor the chains');

SELECT * FROM finish();
ROLLBACK;
