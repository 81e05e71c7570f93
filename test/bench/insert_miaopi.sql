-- pgbench: one muck filing INSERTed into miaopi.application (decided by the C trigger)
\set i random(1, 10000)
INSERT INTO miaopi.application (service_code, applicant_id, applicant_name, payload, materials, channel)
SELECT 'muck-transport-filing', applicant_id, applicant_name, payload, materials, 'online'
FROM bench.pool WHERE i = :i;
