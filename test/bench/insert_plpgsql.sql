-- pgbench: the same row INSERTed into a twin decided by a hand-written PL/pgSQL trigger
\set i random(1, 10000)
INSERT INTO bench.plpgsql_application (service_code, applicant_id, applicant_name, payload, materials, channel)
SELECT 'muck-transport-filing', applicant_id, applicant_name, payload, materials, 'online'
FROM bench.pool WHERE i = :i;
