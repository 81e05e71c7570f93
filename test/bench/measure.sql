/*
 * test/bench/measure.sql: sections (c) and (d) of `make bench`, in one
 * backend.  psql -v reps=N: evaluate() runs N passes over the 10,000 pooled
 * filings.  Each timing is taken three times; report.sql prints the median.
 */
\set ON_ERROR_STOP 1
SET client_min_messages = warning;

-- (c) load_rules of a generated source: 200 services x 20 checks, with two
-- lookups and one test per service (the tests run at load)
CREATE TEMP TABLE big AS SELECT bench.big_source(200, 20) AS src;
INSERT INTO bench.result (section, metric, value, unit)
SELECT 'c', 'source size', octet_length(src) / 1024, 'KiB' FROM big;
INSERT INTO bench.result (section, metric, value, unit)
SELECT 'c', 'load_rules 200x20', bench.elapsed_ms('SELECT count(*) FROM miaopi.load_rules($1)', src), 'ms' FROM big;
INSERT INTO bench.result (section, metric, value, unit)
SELECT 'c', 'load_rules 200x20', bench.elapsed_ms('SELECT count(*) FROM miaopi.load_rules($1)', src), 'ms' FROM big;
INSERT INTO bench.result (section, metric, value, unit)
SELECT 'c', 'load_rules 200x20', bench.elapsed_ms('SELECT count(*) FROM miaopi.load_rules($1)', src), 'ms' FROM big;
INSERT INTO bench.result (section, metric, value, unit)
SELECT 'c', 'load_rules 200x20, run_tests false',
	   bench.elapsed_ms('SELECT count(*) FROM miaopi.load_rules($1, false)', src), 'ms' FROM big;

-- (d) evaluate() calls per second, the muck rules without and with lookups
SELECT count(miaopi.evaluate('muck-transport-filing-nolookup', applicant_id, payload, materials, applicant_name)),
	   count(miaopi.evaluate('muck-transport-filing', applicant_id, payload, materials, applicant_name))
FROM bench.pool WHERE i <= 100 \gset warm_

SELECT format($q$SELECT count(miaopi.evaluate(%L, p.applicant_id, p.payload, p.materials, p.applicant_name))
				 FROM generate_series(1, %s) AS r, bench.pool AS p$q$,
			  'muck-transport-filing-nolookup', :reps) AS q_nolookup,
	   format($q$SELECT count(miaopi.evaluate(%L, p.applicant_id, p.payload, p.materials, p.applicant_name))
				 FROM generate_series(1, %s) AS r, bench.pool AS p$q$,
			  'muck-transport-filing', :reps) AS q_lookup,
	   format($q$SELECT count(p.payload) FROM generate_series(1, %s) AS r, bench.pool AS p$q$,
			  :reps) AS q_scan,
	   :reps * 10000 AS calls \gset

INSERT INTO bench.result (section, metric, value, unit) VALUES
	('d', 'evaluate without lookups', bench.elapsed_ms(:'q_nolookup'), 'ms'),
	('d', 'evaluate with lookups', bench.elapsed_ms(:'q_lookup'), 'ms'),
	('d', 'scan feeding the calls', bench.elapsed_ms(:'q_scan'), 'ms');
INSERT INTO bench.result (section, metric, value, unit) VALUES
	('d', 'evaluate without lookups', bench.elapsed_ms(:'q_nolookup'), 'ms'),
	('d', 'evaluate with lookups', bench.elapsed_ms(:'q_lookup'), 'ms'),
	('d', 'scan feeding the calls', bench.elapsed_ms(:'q_scan'), 'ms');
INSERT INTO bench.result (section, metric, value, unit) VALUES
	('d', 'evaluate without lookups', bench.elapsed_ms(:'q_nolookup'), 'ms'),
	('d', 'evaluate with lookups', bench.elapsed_ms(:'q_lookup'), 'ms'),
	('d', 'scan feeding the calls', bench.elapsed_ms(:'q_scan'), 'ms');
INSERT INTO bench.result (section, metric, value, unit) VALUES ('d', 'calls per run', :calls, 'calls');
