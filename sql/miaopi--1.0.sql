/* miaopi--1.0.sql: machine approval of government service applications */

\echo Use "CREATE EXTENSION miaopi" to load this file. \quit

-- ====================================================================
-- Clock: the one time source
-- ====================================================================

CREATE FUNCTION miaopi.now()
RETURNS timestamptz
AS 'MODULE_PATHNAME', 'miaopi_now_sql'
LANGUAGE C STABLE PARALLEL SAFE;
COMMENT ON FUNCTION miaopi.now() IS
	'The time miaopi writes and compares: now(), or the setting miaopi.clock_now when a superuser set it';

-- ====================================================================
-- Calendars (tables first: services refer to them)
-- ====================================================================

CREATE TABLE miaopi.calendar (
	name				text PRIMARY KEY,
	timezone			text NOT NULL DEFAULT 'Asia/Shanghai',
	weekend				int[] NOT NULL DEFAULT '{6,7}',
	published_through	date,
	CONSTRAINT calendar_weekend_isodow
		CHECK (weekend <@ '{1,2,3,4,5,6,7}'::int[])
);
COMMENT ON TABLE miaopi.calendar IS
	'Working-day calendars; weekend holds ISO day numbers (1 = Monday ... 7 = Sunday)';

INSERT INTO miaopi.calendar (name) VALUES ('cn');

-- @@CALENDAR@@ (calendar_day, shipped data, calendar functions)

-- ====================================================================
-- Services and rulesets
-- ====================================================================

CREATE TABLE miaopi.service (
	code			text PRIMARY KEY
		CONSTRAINT service_code_valid CHECK (code ~ '^[a-z0-9][a-z0-9-]{0,62}$'),
	name			text NOT NULL,
	department		text,
	kind			text NOT NULL,
	calendar		text NOT NULL DEFAULT 'cn' REFERENCES miaopi.calendar (name),
	statutory_days	int NOT NULL,
	promised_days	int NOT NULL,
	auto_approve	boolean NOT NULL DEFAULT false,
	current_ruleset bigint,
	steps			jsonb NOT NULL DEFAULT '[]',
	warn_ratio		numeric NOT NULL DEFAULT 0.9,
	extension_days	int NOT NULL DEFAULT 0,
	CONSTRAINT service_kind_valid
		CHECK (kind IN ('licence', 'public_service', 'filing')),
	CONSTRAINT service_days_valid
		CHECK (promised_days >= 0 AND promised_days <= statutory_days),
	CONSTRAINT service_warn_ratio_valid
		CHECK (warn_ratio > 0 AND warn_ratio <= 1),
	CONSTRAINT service_extension_valid
		CHECK (extension_days >= 0)
);
COMMENT ON TABLE miaopi.service IS
	'Government service items; one row per service code, pointing at its current ruleset';

CREATE TABLE miaopi.ruleset (
	id				bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
	service_code	text NOT NULL REFERENCES miaopi.service (code),
	version			int NOT NULL,
	source			text NOT NULL,
	sha256			text NOT NULL,
	loaded_at		timestamptz NOT NULL,
	loaded_by		text NOT NULL DEFAULT current_user,
	UNIQUE (service_code, version)
);
COMMENT ON TABLE miaopi.ruleset IS
	'Every version of every service''s rules, as loaded; immutable';

ALTER TABLE miaopi.service
	ADD CONSTRAINT service_current_ruleset_fkey
	FOREIGN KEY (current_ruleset) REFERENCES miaopi.ruleset (id);

-- ====================================================================
-- Applications
-- ====================================================================

/*
 * No foreign keys here on purpose: the decision trigger verifies the service
 * and sets ruleset_id itself, and RI triggers would double the cost of the
 * INSERT that is the product's hot path.
 */
CREATE TABLE miaopi.application (
	id				bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
	service_code	text NOT NULL,
	applicant_id	text NOT NULL,
	applicant_name	text,
	payload			jsonb NOT NULL DEFAULT '{}',
	materials		text[] NOT NULL DEFAULT '{}',
	channel			text NOT NULL DEFAULT 'online',
	submitted_at	timestamptz,
	status			text,
	decision		text,
	decided_at		timestamptz,
	decided_by		text,
	ruleset_id		bigint,
	reasons			jsonb,
	decision_us		int,
	accepted_at		timestamptz,
	promised_due	timestamptz,
	statutory_due	timestamptz,
	closed_at		timestamptz,
	CONSTRAINT application_status_valid
		CHECK (status IN ('pending', 'supplement', 'accepted', 'reviewed',
						  'approved', 'rejected', 'refused', 'withdrawn'))
);
COMMENT ON TABLE miaopi.application IS
	'Applications; INSERT decides them (status, decision, reasons), only miaopi functions move them';


-- ====================================================================
-- Caches, guards and the decision trigger
-- ====================================================================

CREATE FUNCTION miaopi.invalidate_cache()
RETURNS trigger
AS 'MODULE_PATHNAME', 'miaopi_invalidate'
LANGUAGE C;
COMMENT ON FUNCTION miaopi.invalidate_cache() IS
	'Tells every backend to drop what it cached from the table the trigger is on';

CREATE TRIGGER service_invalidate_cache
	AFTER INSERT OR UPDATE OR DELETE OR TRUNCATE ON miaopi.service
	FOR EACH STATEMENT EXECUTE FUNCTION miaopi.invalidate_cache();

CREATE FUNCTION miaopi.ruleset_immutable()
RETURNS trigger
AS 'MODULE_PATHNAME', 'miaopi_ruleset_immutable'
LANGUAGE C;
COMMENT ON FUNCTION miaopi.ruleset_immutable() IS
	'Refuses UPDATE and DELETE of stored rulesets';

CREATE TRIGGER ruleset_immutable
	BEFORE UPDATE OR DELETE ON miaopi.ruleset
	FOR EACH ROW EXECUTE FUNCTION miaopi.ruleset_immutable();

CREATE FUNCTION miaopi.decide()
RETURNS trigger
AS 'MODULE_PATHNAME', 'miaopi_decide'
LANGUAGE C;
COMMENT ON FUNCTION miaopi.decide() IS
	'BEFORE INSERT trigger on miaopi.application: evaluates the service''s rules and decides the row';

CREATE TRIGGER application_decide
	BEFORE INSERT ON miaopi.application
	FOR EACH ROW EXECUTE FUNCTION miaopi.decide();

CREATE FUNCTION miaopi.guard()
RETURNS trigger
AS 'MODULE_PATHNAME', 'miaopi_guard'
LANGUAGE C;
COMMENT ON FUNCTION miaopi.guard() IS
	'BEFORE UPDATE trigger on miaopi.application: only miaopi''s functions may change an application';

CREATE TRIGGER application_guard
	BEFORE UPDATE ON miaopi.application
	FOR EACH ROW EXECUTE FUNCTION miaopi.guard();

-- ====================================================================
-- Rules: load, evaluate, explain
-- ====================================================================

CREATE FUNCTION miaopi.load_rules(source text, run_tests boolean DEFAULT true)
RETURNS TABLE (service text, version int, checks int, tests_passed int)
AS 'MODULE_PATHNAME', 'miaopi_load_rules'
LANGUAGE C VOLATILE PARALLEL UNSAFE;
COMMENT ON FUNCTION miaopi.load_rules(text, boolean) IS
	'Compiles, tests and stores every service document of a YAML rules source, all or nothing';

CREATE FUNCTION miaopi.evaluate(service text, applicant_id text, payload jsonb,
								materials text[] DEFAULT '{}', applicant_name text DEFAULT NULL)
RETURNS jsonb
AS 'MODULE_PATHNAME', 'miaopi_evaluate_sql'
LANGUAGE C STABLE PARALLEL RESTRICTED;
COMMENT ON FUNCTION miaopi.evaluate(text, text, jsonb, text[], text) IS
	'Decides an application without storing it (online pre-check): decision, ruleset and reasons';

CREATE FUNCTION miaopi.explain(application_id bigint)
RETURNS TABLE (check_id text, result text, on_fail text, message text, detail text)
LANGUAGE plpgsql STABLE PARALLEL SAFE
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
	r jsonb;
BEGIN
	SELECT a.reasons INTO r FROM miaopi.application a WHERE a.id OPERATOR(pg_catalog.=) application_id;
	IF NOT FOUND THEN
		RAISE EXCEPTION USING
			ERRCODE = 'no_data_found',
			MESSAGE = format('application %s does not exist', application_id),
			HINT = 'Use the id that INSERT ... RETURNING id gave.';
	END IF;
	RETURN QUERY
		SELECT e->>'check', e->>'result', e->>'on_fail', e->>'message', e->>'detail'
		FROM jsonb_array_elements(r) e;
END
$$;
COMMENT ON FUNCTION miaopi.explain(bigint) IS
	'The reasons of an application''s decision, one row per check, in file order';

-- ====================================================================
-- Code checks (also available inside rules)
-- ====================================================================

CREATE FUNCTION miaopi.uscc_valid(code text)
RETURNS boolean
AS 'MODULE_PATHNAME', 'miaopi_uscc_valid'
LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
COMMENT ON FUNCTION miaopi.uscc_valid(text) IS
	'Is this a well-formed unified social credit code (GB 32100-2015, check character included)?';

CREATE FUNCTION miaopi.idcard_valid(number text)
RETURNS boolean
AS 'MODULE_PATHNAME', 'miaopi_idcard_valid'
LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
COMMENT ON FUNCTION miaopi.idcard_valid(text) IS
	'Is this a well-formed resident ID number (GB 11643-1999: 18 digits with check, or 15 digits; a real birth date)?';

CREATE FUNCTION miaopi.idcard_birth_date(number text)
RETURNS date
AS 'MODULE_PATHNAME', 'miaopi_idcard_birth_date'
LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
COMMENT ON FUNCTION miaopi.idcard_birth_date(text) IS
	'Birth date of a valid resident ID number, or null';

-- @@WORKFLOW@@ (application workflow columns, events, act, clock)

-- ====================================================================
-- Privileges and dumps
-- ====================================================================

-- Loading rules changes what the machine approves: owner only, unless granted.
REVOKE ALL ON FUNCTION miaopi.load_rules(text, boolean) FROM PUBLIC;
REVOKE ALL ON FUNCTION miaopi.invalidate_cache() FROM PUBLIC;
REVOKE ALL ON FUNCTION miaopi.ruleset_immutable() FROM PUBLIC;
REVOKE ALL ON FUNCTION miaopi.decide() FROM PUBLIC;
REVOKE ALL ON FUNCTION miaopi.guard() FROM PUBLIC;

-- pg_dump keeps services, rulesets and applications.
SELECT pg_catalog.pg_extension_config_dump('miaopi.service', '');
SELECT pg_catalog.pg_extension_config_dump('miaopi.ruleset', '');
SELECT pg_catalog.pg_extension_config_dump('miaopi.application', '');
