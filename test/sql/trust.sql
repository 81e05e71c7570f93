-- Trust: nothing on a caller's search_path runs inside miaopi, as the owner
-- or not; no session setting changes a decision; re-entrant evaluation.
SET datestyle = 'ISO, YMD';
SET timezone = 'Asia/Shanghai';
SET miaopi.clock_now = '2026-12-01 10:00:00+08';

-- A hostile schema: operators and functions with the names miaopi uses,
-- each recording that it ran (as whom) and answering wrongly.
CREATE ROLE regress_trust_attacker;
CREATE SCHEMA evil AUTHORIZATION regress_trust_attacker;
CREATE TABLE evil.ran (what text, who name DEFAULT current_user);
GRANT ALL ON evil.ran TO PUBLIC;
SET ROLE regress_trust_attacker;
CREATE FUNCTION evil.text_eq(text, text) RETURNS boolean LANGUAGE plpgsql AS
$$BEGIN INSERT INTO evil.ran (what) VALUES ('text ='); RETURN true; END$$;
CREATE OPERATOR evil.= (LEFTARG = text, RIGHTARG = text, FUNCTION = evil.text_eq);
CREATE FUNCTION evil.int_pl(int, int) RETURNS int LANGUAGE plpgsql AS
$$BEGIN INSERT INTO evil.ran (what) VALUES ('int +'); RETURN 1; END$$;
CREATE OPERATOR evil.+ (LEFTARG = int, RIGHTARG = int, FUNCTION = evil.int_pl);
CREATE FUNCTION evil.int8_eq(bigint, bigint) RETURNS boolean LANGUAGE plpgsql AS
$$BEGIN INSERT INTO evil.ran (what) VALUES ('bigint ='); RETURN true; END$$;
CREATE OPERATOR evil.= (LEFTARG = bigint, RIGHTARG = bigint, FUNCTION = evil.int8_eq);
CREATE FUNCTION evil.date_ge(date, date) RETURNS boolean LANGUAGE plpgsql AS
$$BEGIN INSERT INTO evil.ran (what) VALUES ('date >='); RETURN true; END$$;
CREATE OPERATOR evil.>= (LEFTARG = date, RIGHTARG = date, FUNCTION = evil.date_ge);
CREATE OPERATOR evil.<= (LEFTARG = date, RIGHTARG = date, FUNCTION = evil.date_ge);
CREATE FUNCTION evil.max(int) RETURNS int LANGUAGE plpgsql AS
$$BEGIN INSERT INTO evil.ran (what) VALUES ('max'); RETURN 1; END$$;
CREATE FUNCTION evil.now() RETURNS timestamptz LANGUAGE plpgsql AS
$$BEGIN INSERT INTO evil.ran (what) VALUES ('now'); RETURN '2000-01-01'; END$$;
RESET ROLE;

-- The lookup table and a service that reads it.
CREATE SCHEMA registry_t;
CREATE TABLE registry_t.vehicle (plate text PRIMARY KEY, owner text NOT NULL, insured_until date);
INSERT INTO registry_t.vehicle VALUES ('闽A00001', 'owner-1', '2027-06-30'), ('闽A00002', 'owner-2', '2026-01-01');
CREATE TABLE registry_t.unindexed (plate text, insured_until date);
INSERT INTO registry_t.unindexed VALUES ('闽A00001', '2027-06-30');
CREATE VIEW registry_t.vehicle_view AS SELECT * FROM registry_t.vehicle;
GRANT USAGE ON SCHEMA registry_t TO PUBLIC;
GRANT SELECT ON ALL TABLES IN SCHEMA registry_t TO PUBLIC;

SELECT service, version, checks FROM miaopi.load_rules($y$
service: trust-lab
name: 信任
kind: licence
time_limit: {statutory: 20, promised: 5}
auto_approve: true
fields:
  plate: {type: text, required: true}
  at: timestamp
checks:
  - {id: insured, rule: "exists(registry_t.vehicle, plate == payload.plate and insured_until >= today())", on_fail: reject}
  - {id: owner, rule: "lookup(registry_t.vehicle, plate == payload.plate).owner == applicant.id", on_fail: reject}
  - {id: unindexed, rule: "exists(registry_t.unindexed, plate == payload.plate and insured_until >= today())", on_fail: manual}
  - {id: same-day, rule: "not has(payload.at) or date(payload.at) == date('2026-12-01')", on_fail: manual}
  - {id: known-plate, rule: "payload.plate in ['闽A00001', '闽A00002']", on_fail: manual}
---
service: trust-inner
name: 内层
kind: filing
time_limit: {statutory: 20, promised: 1}
auto_approve: true
checks:
  - {id: has-vehicle, rule: "exists(registry_t.vehicle, owner == applicant.id)", on_fail: manual}
$y$, false);

GRANT USAGE ON SCHEMA miaopi TO regress_trust_attacker;
GRANT INSERT, SELECT ON miaopi.application TO regress_trust_attacker;
GRANT EXECUTE ON FUNCTION miaopi.act(bigint, text, text), miaopi.pause(bigint, text),
	miaopi.resume(bigint), miaopi.extend(bigint, int, text), miaopi.sweep(),
	miaopi.load_rules(text, boolean) TO regress_trust_attacker;
GRANT EXECUTE ON FUNCTION miaopi.evaluate(text, text, jsonb, text[], text) TO regress_trust_attacker;
-- scopes to load, act and submit for every service
INSERT INTO miaopi.scope (role, action)
VALUES ('regress_trust_attacker', 'load'), ('regress_trust_attacker', 'act'),
	('regress_trust_attacker', 'submit');

-- The attacker's own application, for a vehicle that is not insured and not
-- theirs: with their operators answering "true" it would be approved.
SET ROLE regress_trust_attacker;
SET search_path = evil, pg_catalog, public;
INSERT INTO miaopi.application (service_code, applicant_id, payload)
VALUES ('trust-lab', 'attacker', '{"plate": "闽A00002"}')
RETURNING status, reasons->0->>'result' AS insured, reasons->1->>'result' AS owner,
	reasons->2->>'result' AS unindexed;
SELECT miaopi.evaluate('trust-lab', 'attacker', '{"plate": "闽A00002"}')->>'decision' AS pre_check;
RESET ROLE;
RESET search_path;

-- The SQL path (no direct probes: a superuser-only setting) is just as deaf.
SET miaopi.lookup_direct = off;
SET ROLE regress_trust_attacker;
SET search_path = evil, pg_catalog, public;
SELECT miaopi.evaluate('trust-lab', 'attacker', '{"plate": "闽A00002"}')->>'decision' AS sql_path;
SELECT miaopi.evaluate('trust-lab', 'owner-1', '{"plate": "闽A00001"}')->>'decision' AS sql_path_clean;
SET miaopi.lookup_direct = on;
RESET ROLE;
RESET search_path;
RESET miaopi.lookup_direct;

-- Owner-switched functions with the hostile path: act, pause, resume,
-- extend, sweep, load_rules (a new version), and the calendar cache they
-- fill, invalidated first so the attacker's session builds it.
UPDATE miaopi.calendar SET published_through = published_through WHERE name = 'cn';
SELECT miaopi.load_rules($y$
service: trust-manual
name: 人工
kind: licence
time_limit: {statutory: 20, promised: 5}
auto_approve: false
checks: []
$y$, false) IS NOT NULL AS loaded;
INSERT INTO miaopi.application (service_code, applicant_id, payload)
VALUES ('trust-manual', 'a1', '{}'), ('trust-manual', 'a2', '{}');
SELECT min(id) AS first, max(id) AS second FROM miaopi.application
WHERE service_code = 'trust-manual' \gset
SET ROLE regress_trust_attacker;
SET search_path = evil, pg_catalog, public;
SELECT miaopi.is_working_day('2026-10-01') AS national_day_is_working;
SELECT miaopi.act(:first, 'accept') AS first, miaopi.act(:second, 'accept') AS second;
SELECT miaopi.pause(:second, 'hearing');
SELECT miaopi.resume(:second) AS resumed_days;
SELECT miaopi.extend(:second, 5, 'complex case') IS NOT NULL AS extended;
SELECT miaopi.act(:first, 'review') AS reviewed;
SELECT miaopi.sweep() >= 0 AS swept;
SELECT service, version FROM miaopi.load_rules($y$
service: trust-manual
name: 人工
kind: licence
time_limit: {statutory: 20, promised: 5}
auto_approve: false
checks: []
$y$, false);
RESET ROLE;
RESET search_path;
-- none of the attacker's objects ran, as anyone
SELECT what, who FROM evil.ran;
SELECT rolsuper AS attacker_is_superuser FROM pg_roles WHERE rolname = 'regress_trust_attacker';

-- A client cannot switch lookups to the SQL path
SET ROLE regress_trust_attacker;
SET miaopi.lookup_direct = off;
RESET ROLE;

-- Views are refused as lookup targets (they run their owner's code)
SELECT miaopi.load_rules($y$
service: trust-view
name: 视图
kind: filing
time_limit: {statutory: 20, promised: 1}
checks:
  - {id: v, rule: "exists(registry_t.vehicle_view, plate == applicant.id)", on_fail: reject}
$y$, false);

-- A payload timestamp without an offset is local time of the service's
-- calendar, whatever TimeZone and DateStyle say; other spellings are refused.
SET timezone = 'America/New_York';
SET datestyle = 'SQL, DMY';
SELECT miaopi.evaluate('trust-lab', 'owner-1', '{"plate": "闽A00001", "at": "2026-12-01 23:30"}')->'reasons'->3->>'result' AS late_evening;
SELECT miaopi.evaluate('trust-lab', 'owner-1', '{"plate": "闽A00001", "at": "2026-12-01T23:30:00+08:00"}')->'reasons'->3->>'result' AS with_offset;
SELECT miaopi.evaluate('trust-lab', 'owner-1', '{"plate": "闽A00001", "at": "2026-12-01T10:30:00-05:00"}')->'reasons'->3->>'result' AS new_york_morning;
SELECT r->>'check' AS check, r->>'detail' AS detail
FROM jsonb_array_elements(miaopi.evaluate('trust-lab', 'owner-1', '{"plate": "闽A00001", "at": "01/12/2026 10:00"}')->'reasons') r
WHERE r->>'result' <> 'pass';
SET timezone = 'Asia/Shanghai';
SET datestyle = 'ISO, YMD';

-- A check that reads a field of the wrong type is an error, even behind
-- has(); the decision is the invalid payload's reject.
SELECT miaopi.evaluate('trust-lab', 'owner-1', '{"plate": "闽A00001", "at": 20261201}') #>> '{decision}' AS decision,
	miaopi.evaluate('trust-lab', 'owner-1', '{"plate": "闽A00001", "at": 20261201}') #>> '{reasons,4,result}' AS same_day;

-- Payload text quoted in reasons is clipped
SELECT miaopi.evaluate('trust-lab', 'owner-1', jsonb_build_object('plate', repeat('闽', 100))) #>> '{reasons,4,detail}' AS clipped;

-- Kept SPI plans are freed with their program: rebuild the program ten
-- times on the SQL path and count the probe plans this backend holds.
SET miaopi.lookup_direct = off;
DO $$
BEGIN
	FOR i IN 1..10 LOOP
		PERFORM miaopi.evaluate('trust-lab', 'owner-1', '{"plate": "闽A00001"}');
		EXECUTE format('ALTER TABLE registry_t.vehicle ALTER COLUMN owner SET STATISTICS %s', i);
	END LOOP;
END $$;
SELECT miaopi.evaluate('trust-lab', 'owner-1', '{"plate": "闽A00001"}')->>'decision' AS decision;
SELECT count(*) AS vehicle_probe_plans FROM pg_backend_memory_contexts
WHERE name = 'CachedPlanSource' AND ident LIKE '%FROM registry_t.vehicle WHERE%';
RESET miaopi.lookup_direct;

-- A failed INSERT caught by an exception block leaves no pin: the program,
-- replaced after each failure, is freed, not kept for ever.
CREATE FUNCTION registry_t.boom(text) RETURNS boolean LANGUAGE plpgsql AS
$$BEGIN IF current_setting('trust.boom', true) = 'on' THEN RAISE EXCEPTION 'lookup policy failed'; END IF; RETURN true; END$$;
ALTER TABLE registry_t.unindexed ENABLE ROW LEVEL SECURITY;
CREATE POLICY boom ON registry_t.unindexed USING (registry_t.boom(plate));
SELECT count(*) AS programs_before FROM pg_backend_memory_contexts WHERE name = 'miaopi ruleset' \gset
DO $$
DECLARE
	failures int := 0;
BEGIN
	PERFORM set_config('trust.boom', 'on', true);
	FOR i IN 1..5 LOOP
		BEGIN
			SET LOCAL ROLE regress_trust_attacker;
			INSERT INTO miaopi.application (service_code, applicant_id, payload)
			VALUES ('trust-lab', 'owner-1', '{"plate": "闽A00001"}');
		EXCEPTION WHEN raise_exception THEN
			failures := failures + 1;
		END;
		RESET ROLE;
		EXECUTE format('ALTER TABLE registry_t.vehicle ALTER COLUMN owner SET STATISTICS %s', 20 + i);
	END LOOP;
	RAISE NOTICE 'caught % failed inserts', failures;
	PERFORM set_config('trust.boom', 'off', true);
END $$;
SELECT miaopi.evaluate('trust-lab', 'owner-1', '{"plate": "闽A00001"}')->>'decision' AS after_failures;
SELECT count(*) - :programs_before AS programs_added FROM pg_backend_memory_contexts WHERE name = 'miaopi ruleset';

-- Re-entrancy: a lookup whose row policy evaluates another application
-- (a nested evaluation, with probes of its own) works and leaks nothing.
DROP POLICY boom ON registry_t.unindexed;
CREATE FUNCTION registry_t.nested(text) RETURNS boolean LANGUAGE sql AS
$$SELECT miaopi.evaluate('trust-inner', 'owner-1', '{}') ->> 'decision' = 'approve'$$;
CREATE POLICY nested ON registry_t.unindexed USING (registry_t.nested(plate));
SET ROLE regress_trust_attacker;
INSERT INTO miaopi.application (service_code, applicant_id, payload)
VALUES ('trust-lab', 'owner-1', '{"plate": "闽A00001"}')
RETURNING status, reasons->2->>'result' AS unindexed;
INSERT INTO miaopi.application (service_code, applicant_id, payload)
SELECT 'trust-lab', 'owner-1', '{"plate": "闽A00001"}' FROM generate_series(1, 3)
RETURNING status, reasons->2->>'result' AS unindexed;
RESET ROLE;
