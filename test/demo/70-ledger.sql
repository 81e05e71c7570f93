-- 70-ledger: the audit ledger over what the sections before recorded.
\echo
\echo '== 审计账本 The audit ledger: every decision and action hash-chained, sealed, proven by a digest'

\echo '-- Each application carries the hash of its decision; each event links to the one before'
SELECT e.chain, e.id AS event, e.action, e.actor,
	left(encode(e.prev_hash, 'hex'), 12) || '…' AS prev_hash,
	left(encode(e.hash, 'hex'), 12) || '…' AS hash
FROM miaopi.event e
ORDER BY e.id DESC
LIMIT 6;

\echo '-- seal() closes a block over everything new; digest() is what to keep outside the database'
SELECT miaopi.seal() AS "entries sealed";
SELECT b.id AS block, b.entries, left(encode(b.root, 'hex'), 16) || '…' AS merkle_root,
	left(encode(b.hash, 'hex'), 16) || '…' AS block_hash
FROM miaopi.ledger_block b ORDER BY b.id;
SELECT miaopi.digest() AS digest \gset
SELECT :'digest'::jsonb - 'database' AS "digest (store it off the host)";

\echo '-- verify: no row means intact'
SELECT count(*) AS "verify_events problems" FROM miaopi.verify_events();
SELECT count(*) AS "verify_ledger problems" FROM miaopi.verify_ledger(jsonb_build_array(:'digest'::jsonb));

\echo '-- A superuser edits an event and an application behind the triggers (in a transaction we roll back)'
BEGIN;
ALTER TABLE miaopi.event DISABLE TRIGGER USER;
ALTER TABLE miaopi.application DISABLE TRIGGER USER;
UPDATE miaopi.event SET comment = '事后改写' WHERE id = (SELECT max(id) FROM miaopi.event);
UPDATE miaopi.application SET applicant_name = '另一家公司' WHERE id = (SELECT min(id) FROM miaopi.application);
SELECT chain, row_id, problem FROM miaopi.verify_events();
SELECT block, problem FROM miaopi.verify_ledger(jsonb_build_array(:'digest'::jsonb));
ROLLBACK;

\echo '-- Sealing every minute with pg_cron (the demo cluster preloads it)'
CREATE EXTENSION IF NOT EXISTS pg_cron;
SELECT cron.schedule('miaopi-seal', '* * * * *', 'SELECT miaopi.seal()') > 0 AS "seal scheduled";
SELECT jobname, schedule, command FROM cron.job WHERE jobname = 'miaopi-seal';
SELECT cron.unschedule('miaopi-seal') AS unscheduled;
