-- pgbench: the same row INSERTed into a plain twin together with the decision
-- columns miaopi would set (precomputed), to separate storing from deciding
\set i random(1, 10000)
INSERT INTO bench.stored_application (service_code, applicant_id, applicant_name, payload, materials,
	channel, submitted_at, status, decision, decided_at, decided_by, ruleset_id, reasons,
	decision_us, accepted_at, promised_due, statutory_due, closed_at)
SELECT 'muck-transport-filing', applicant_id, applicant_name, payload, materials,
	'online', now(), 'approved', 'approve', now(), 'miaopi', 1, reasons,
	30, now(), now() + interval '1 day', now() + interval '28 days', now()
FROM bench.pool WHERE i = :i;
