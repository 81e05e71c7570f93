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

-- ====================================================================
-- Calendar days, the shipped calendar "cn", working-day functions
-- ====================================================================

CREATE TABLE miaopi.calendar_day (
	calendar	text NOT NULL
		REFERENCES miaopi.calendar (name) ON UPDATE CASCADE ON DELETE CASCADE,
	day			date NOT NULL,
	kind		text NOT NULL,
	name		text,
	PRIMARY KEY (calendar, day),
	CONSTRAINT calendar_day_kind_valid
		CHECK (kind IN ('holiday', 'workday'))
);
COMMENT ON TABLE miaopi.calendar_day IS
	'Days that differ from a calendar''s plain week: holiday = day off, workday = adjusted working weekend day (调休); rows after published_through are not in force yet';

/*
 * Calendar cn: the State Council holiday notices (国务院办公厅关于部分节假日安排的通知)
 * for 2024, 2025 and 2026, from shared/data/cn_holidays.csv.  Add a year with
 * INSERTs into miaopi.calendar_day, then move published_through.
 */
INSERT INTO miaopi.calendar (name, timezone, weekend, published_through)
VALUES ('cn', 'Asia/Shanghai', '{6,7}', '2026-12-31');

INSERT INTO miaopi.calendar_day (calendar, day, kind, name) VALUES
	('cn', '2024-01-01', 'holiday', '元旦'),
	('cn', '2024-02-04', 'workday', '春节'),
	('cn', '2024-02-10', 'holiday', '春节'),
	('cn', '2024-02-11', 'holiday', '春节'),
	('cn', '2024-02-12', 'holiday', '春节'),
	('cn', '2024-02-13', 'holiday', '春节'),
	('cn', '2024-02-14', 'holiday', '春节'),
	('cn', '2024-02-15', 'holiday', '春节'),
	('cn', '2024-02-16', 'holiday', '春节'),
	('cn', '2024-02-17', 'holiday', '春节'),
	('cn', '2024-02-18', 'workday', '春节'),
	('cn', '2024-04-04', 'holiday', '清明节'),
	('cn', '2024-04-05', 'holiday', '清明节'),
	('cn', '2024-04-06', 'holiday', '清明节'),
	('cn', '2024-04-07', 'workday', '清明节'),
	('cn', '2024-04-28', 'workday', '劳动节'),
	('cn', '2024-05-01', 'holiday', '劳动节'),
	('cn', '2024-05-02', 'holiday', '劳动节'),
	('cn', '2024-05-03', 'holiday', '劳动节'),
	('cn', '2024-05-04', 'holiday', '劳动节'),
	('cn', '2024-05-05', 'holiday', '劳动节'),
	('cn', '2024-05-11', 'workday', '劳动节'),
	('cn', '2024-06-10', 'holiday', '端午节'),
	('cn', '2024-09-14', 'workday', '中秋节'),
	('cn', '2024-09-15', 'holiday', '中秋节'),
	('cn', '2024-09-16', 'holiday', '中秋节'),
	('cn', '2024-09-17', 'holiday', '中秋节'),
	('cn', '2024-09-29', 'workday', '国庆节'),
	('cn', '2024-10-01', 'holiday', '国庆节'),
	('cn', '2024-10-02', 'holiday', '国庆节'),
	('cn', '2024-10-03', 'holiday', '国庆节'),
	('cn', '2024-10-04', 'holiday', '国庆节'),
	('cn', '2024-10-05', 'holiday', '国庆节'),
	('cn', '2024-10-06', 'holiday', '国庆节'),
	('cn', '2024-10-07', 'holiday', '国庆节'),
	('cn', '2024-10-12', 'workday', '国庆节'),
	('cn', '2025-01-01', 'holiday', '元旦'),
	('cn', '2025-01-26', 'workday', '春节'),
	('cn', '2025-01-28', 'holiday', '春节'),
	('cn', '2025-01-29', 'holiday', '春节'),
	('cn', '2025-01-30', 'holiday', '春节'),
	('cn', '2025-01-31', 'holiday', '春节'),
	('cn', '2025-02-01', 'holiday', '春节'),
	('cn', '2025-02-02', 'holiday', '春节'),
	('cn', '2025-02-03', 'holiday', '春节'),
	('cn', '2025-02-04', 'holiday', '春节'),
	('cn', '2025-02-08', 'workday', '春节'),
	('cn', '2025-04-04', 'holiday', '清明节'),
	('cn', '2025-04-05', 'holiday', '清明节'),
	('cn', '2025-04-06', 'holiday', '清明节'),
	('cn', '2025-04-27', 'workday', '劳动节'),
	('cn', '2025-05-01', 'holiday', '劳动节'),
	('cn', '2025-05-02', 'holiday', '劳动节'),
	('cn', '2025-05-03', 'holiday', '劳动节'),
	('cn', '2025-05-04', 'holiday', '劳动节'),
	('cn', '2025-05-05', 'holiday', '劳动节'),
	('cn', '2025-05-31', 'holiday', '端午节'),
	('cn', '2025-06-01', 'holiday', '端午节'),
	('cn', '2025-06-02', 'holiday', '端午节'),
	('cn', '2025-09-28', 'workday', '国庆节、中秋节'),
	('cn', '2025-10-01', 'holiday', '国庆节、中秋节'),
	('cn', '2025-10-02', 'holiday', '国庆节、中秋节'),
	('cn', '2025-10-03', 'holiday', '国庆节、中秋节'),
	('cn', '2025-10-04', 'holiday', '国庆节、中秋节'),
	('cn', '2025-10-05', 'holiday', '国庆节、中秋节'),
	('cn', '2025-10-06', 'holiday', '国庆节、中秋节'),
	('cn', '2025-10-07', 'holiday', '国庆节、中秋节'),
	('cn', '2025-10-08', 'holiday', '国庆节、中秋节'),
	('cn', '2025-10-11', 'workday', '国庆节、中秋节'),
	('cn', '2026-01-01', 'holiday', '元旦'),
	('cn', '2026-01-02', 'holiday', '元旦'),
	('cn', '2026-01-03', 'holiday', '元旦'),
	('cn', '2026-01-04', 'workday', '元旦'),
	('cn', '2026-02-14', 'workday', '春节'),
	('cn', '2026-02-15', 'holiday', '春节'),
	('cn', '2026-02-16', 'holiday', '春节'),
	('cn', '2026-02-17', 'holiday', '春节'),
	('cn', '2026-02-18', 'holiday', '春节'),
	('cn', '2026-02-19', 'holiday', '春节'),
	('cn', '2026-02-20', 'holiday', '春节'),
	('cn', '2026-02-21', 'holiday', '春节'),
	('cn', '2026-02-22', 'holiday', '春节'),
	('cn', '2026-02-23', 'holiday', '春节'),
	('cn', '2026-02-28', 'workday', '春节'),
	('cn', '2026-04-04', 'holiday', '清明节'),
	('cn', '2026-04-05', 'holiday', '清明节'),
	('cn', '2026-04-06', 'holiday', '清明节'),
	('cn', '2026-05-01', 'holiday', '劳动节'),
	('cn', '2026-05-02', 'holiday', '劳动节'),
	('cn', '2026-05-03', 'holiday', '劳动节'),
	('cn', '2026-05-04', 'holiday', '劳动节'),
	('cn', '2026-05-05', 'holiday', '劳动节'),
	('cn', '2026-05-09', 'workday', '劳动节'),
	('cn', '2026-06-19', 'holiday', '端午节'),
	('cn', '2026-06-20', 'holiday', '端午节'),
	('cn', '2026-06-21', 'holiday', '端午节'),
	('cn', '2026-09-20', 'workday', '国庆节'),
	('cn', '2026-09-25', 'holiday', '中秋节'),
	('cn', '2026-09-26', 'holiday', '中秋节'),
	('cn', '2026-09-27', 'holiday', '中秋节'),
	('cn', '2026-10-01', 'holiday', '国庆节'),
	('cn', '2026-10-02', 'holiday', '国庆节'),
	('cn', '2026-10-03', 'holiday', '国庆节'),
	('cn', '2026-10-04', 'holiday', '国庆节'),
	('cn', '2026-10-05', 'holiday', '国庆节'),
	('cn', '2026-10-06', 'holiday', '国庆节'),
	('cn', '2026-10-07', 'holiday', '国庆节'),
	('cn', '2026-10-10', 'workday', '国庆节');

-- Shipped rows are not dumped; rows and calendars an admin adds are.
SELECT pg_catalog.pg_extension_config_dump('miaopi.calendar',
	'WHERE name OPERATOR(pg_catalog.<>) ''cn''');
SELECT pg_catalog.pg_extension_config_dump('miaopi.calendar_day',
	'WHERE NOT (calendar OPERATOR(pg_catalog.=) ''cn'' AND day OPERATOR(pg_catalog.<=) ''2026-12-31'')');

-- Calendars are public facts: anyone may read them.
GRANT SELECT ON miaopi.calendar, miaopi.calendar_day TO PUBLIC;

CREATE FUNCTION miaopi.is_working_day(day date, calendar text DEFAULT 'cn')
RETURNS boolean
AS 'MODULE_PATHNAME', 'miaopi_is_working_day_sql'
LANGUAGE C STABLE STRICT PARALLEL SAFE;
COMMENT ON FUNCTION miaopi.is_working_day(date, text) IS
	'Whether day is a working day in the calendar (plain week past published_through)';

CREATE FUNCTION miaopi.add_working_days(start timestamptz, n int, calendar text DEFAULT 'cn')
RETURNS timestamptz
AS 'MODULE_PATHNAME', 'miaopi_add_working_days_sql'
LANGUAGE C STABLE STRICT PARALLEL SAFE;
COMMENT ON FUNCTION miaopi.add_working_days(timestamptz, int, text) IS
	'End (23:59:59.999999 in the calendar''s time zone) of the n-th working day after start''s local day; the start day is not counted; n = 0 gives the end of the start day';

CREATE FUNCTION miaopi.add_working_days(start date, n int, calendar text DEFAULT 'cn')
RETURNS date
AS 'MODULE_PATHNAME', 'miaopi_add_working_days_date_sql'
LANGUAGE C STABLE STRICT PARALLEL SAFE;
COMMENT ON FUNCTION miaopi.add_working_days(date, int, text) IS
	'The n-th working day after start (the start day is not counted)';

CREATE FUNCTION miaopi.working_days_between(a timestamptz, b timestamptz, calendar text DEFAULT 'cn')
RETURNS int
AS 'MODULE_PATHNAME', 'miaopi_working_days_between_sql'
LANGUAGE C STABLE STRICT PARALLEL SAFE;
COMMENT ON FUNCTION miaopi.working_days_between(timestamptz, timestamptz, text) IS
	'Working days after a''s local day up to and including b''s local day, in the calendar''s time zone; negative when b is on an earlier day';

CREATE FUNCTION miaopi.working_days_between(a date, b date, calendar text DEFAULT 'cn')
RETURNS int
AS 'MODULE_PATHNAME', 'miaopi_working_days_between_date_sql'
LANGUAGE C STABLE STRICT PARALLEL SAFE;
COMMENT ON FUNCTION miaopi.working_days_between(date, date, text) IS
	'Working days after a up to and including b; negative when b is earlier';

CREATE FUNCTION miaopi.is_provisional(day date, calendar text DEFAULT 'cn')
RETURNS boolean
AS 'MODULE_PATHNAME', 'miaopi_is_provisional_sql'
LANGUAGE C STABLE STRICT PARALLEL SAFE;
COMMENT ON FUNCTION miaopi.is_provisional(date, text) IS
	'Whether day lies past the calendar''s published_through, where only the plain week is known';

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
LANGUAGE C VOLATILE PARALLEL UNSAFE;
COMMENT ON FUNCTION miaopi.invalidate_cache() IS
	'Tells every backend to drop what it cached from the table the trigger is on';

CREATE TRIGGER service_invalidate_cache
	AFTER INSERT OR UPDATE OR DELETE OR TRUNCATE ON miaopi.service
	FOR EACH STATEMENT EXECUTE FUNCTION miaopi.invalidate_cache();

CREATE FUNCTION miaopi.ruleset_immutable()
RETURNS trigger
AS 'MODULE_PATHNAME', 'miaopi_ruleset_immutable'
LANGUAGE C VOLATILE PARALLEL UNSAFE;
COMMENT ON FUNCTION miaopi.ruleset_immutable() IS
	'Refuses UPDATE and DELETE of stored rulesets';

CREATE TRIGGER ruleset_immutable
	BEFORE UPDATE OR DELETE ON miaopi.ruleset
	FOR EACH ROW EXECUTE FUNCTION miaopi.ruleset_immutable();

CREATE FUNCTION miaopi.decide()
RETURNS trigger
AS 'MODULE_PATHNAME', 'miaopi_decide'
LANGUAGE C VOLATILE PARALLEL UNSAFE;
COMMENT ON FUNCTION miaopi.decide() IS
	'BEFORE INSERT trigger on miaopi.application: evaluates the service''s rules and decides the row';

CREATE TRIGGER application_decide
	BEFORE INSERT ON miaopi.application
	FOR EACH ROW EXECUTE FUNCTION miaopi.decide();

CREATE FUNCTION miaopi.guard()
RETURNS trigger
AS 'MODULE_PATHNAME', 'miaopi_guard'
LANGUAGE C VOLATILE PARALLEL UNSAFE;
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

-- ====================================================================
-- The human path: workflow state, events, act, the clock and sweep
-- ====================================================================

ALTER TABLE miaopi.application
	ADD COLUMN step_due		timestamptz,
	ADD COLUMN paused_at	timestamptz,
	ADD COLUMN paused_days	int NOT NULL DEFAULT 0,
	ADD COLUMN clock_flags	int NOT NULL DEFAULT 0;
COMMENT ON COLUMN miaopi.application.step_due IS
	'Due of the current workflow step (NULL: no step limit; a pending application''s is computed from submitted_at)';
COMMENT ON COLUMN miaopi.application.paused_at IS
	'Set while the clock is paused (pause(), or a supplement requested after acceptance)';
COMMENT ON COLUMN miaopi.application.paused_days IS
	'Working days of finished pauses; the dues have moved by this much';
COMMENT ON COLUMN miaopi.application.clock_flags IS
	'Internal bits: deadline crossings already recorded, supplement requests used, provisional dues';

-- The open applications: what sweep() and the clock look at most.
CREATE INDEX application_open ON miaopi.application (id) WHERE closed_at IS NULL;

CREATE TABLE miaopi.event (
	id				bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
	application_id	bigint NOT NULL,
	at				timestamptz NOT NULL,
	action			text NOT NULL,
	actor			text NOT NULL,
	from_status		text,
	to_status		text,
	comment			text,
	detail			jsonb NOT NULL DEFAULT '{}'
);
COMMENT ON TABLE miaopi.event IS
	'Append-only record of every workflow action, pause, resume, extension, deemed acceptance and deadline crossing';
COMMENT ON COLUMN miaopi.event.action IS
	'An act() action, or pause, resume, extend, deemed_acceptance, deadline';
COMMENT ON COLUMN miaopi.event.actor IS
	'The role that acted (current_user), or miaopi for the machine';
COMMENT ON COLUMN miaopi.event.detail IS
	'Dues after the event, the step, a crossing''s light, cause and due';
CREATE INDEX event_application ON miaopi.event (application_id, id);
SELECT pg_catalog.pg_extension_config_dump('miaopi.event', '');

CREATE FUNCTION miaopi.event_append_only()
RETURNS trigger
AS 'MODULE_PATHNAME', 'miaopi_event_append_only'
LANGUAGE C VOLATILE PARALLEL UNSAFE;
COMMENT ON FUNCTION miaopi.event_append_only() IS
	'Trigger: refuses UPDATE, DELETE and TRUNCATE of miaopi.event';
REVOKE ALL ON FUNCTION miaopi.event_append_only() FROM PUBLIC;

CREATE TRIGGER event_append_only
	BEFORE UPDATE OR DELETE ON miaopi.event
	FOR EACH ROW EXECUTE FUNCTION miaopi.event_append_only();
COMMENT ON TRIGGER event_append_only ON miaopi.event IS
	'Events are never changed or removed';
CREATE TRIGGER event_no_truncate
	BEFORE TRUNCATE ON miaopi.event
	FOR EACH STATEMENT EXECUTE FUNCTION miaopi.event_append_only();
COMMENT ON TRIGGER event_no_truncate ON miaopi.event IS
	'Events are never removed';

-- Calendars are cached per backend too (miaopi.service has its trigger above).
CREATE TRIGGER calendar_invalidate_cache
	AFTER INSERT OR UPDATE OR DELETE OR TRUNCATE ON miaopi.calendar
	FOR EACH STATEMENT EXECUTE FUNCTION miaopi.invalidate_cache();
COMMENT ON TRIGGER calendar_invalidate_cache ON miaopi.calendar IS
	'Rebuilds the per-backend calendar cache after any change';
CREATE TRIGGER calendar_day_invalidate_cache
	AFTER INSERT OR UPDATE OR DELETE OR TRUNCATE ON miaopi.calendar_day
	FOR EACH STATEMENT EXECUTE FUNCTION miaopi.invalidate_cache();
COMMENT ON TRIGGER calendar_day_invalidate_cache ON miaopi.calendar_day IS
	'Rebuilds the per-backend calendar cache after any change';

-- --------------------------------------------------------------------
-- Workflow
-- --------------------------------------------------------------------

CREATE FUNCTION miaopi.act(application_id bigint, action text, comment text DEFAULT NULL)
RETURNS text
AS 'MODULE_PATHNAME', 'miaopi_act'
LANGUAGE C VOLATILE CALLED ON NULL INPUT PARALLEL UNSAFE;
COMMENT ON FUNCTION miaopi.act(bigint, text, text) IS
	'Moves an application one workflow step (accept, refuse, request_supplement, supplement_received, review, approve, reject, deliver, withdraw) and returns its new status';

CREATE FUNCTION miaopi.pause(application_id bigint, reason text)
RETURNS void
AS 'MODULE_PATHNAME', 'miaopi_pause'
LANGUAGE C VOLATILE CALLED ON NULL INPUT PARALLEL UNSAFE;
COMMENT ON FUNCTION miaopi.pause(bigint, text) IS
	'Pauses an accepted application''s clock for a period the law does not count (supplement, hearing, inspection, expert_review, public_notice, other)';

CREATE FUNCTION miaopi.resume(application_id bigint)
RETURNS int
AS 'MODULE_PATHNAME', 'miaopi_resume'
LANGUAGE C VOLATILE CALLED ON NULL INPUT PARALLEL UNSAFE;
COMMENT ON FUNCTION miaopi.resume(bigint) IS
	'Resumes a paused clock; moves both dues and the step due by the working days paused, and returns them';

CREATE FUNCTION miaopi.extend(application_id bigint, days int, reason text)
RETURNS timestamptz
AS 'MODULE_PATHNAME', 'miaopi_extend'
LANGUAGE C VOLATILE CALLED ON NULL INPUT PARALLEL UNSAFE;
COMMENT ON FUNCTION miaopi.extend(bigint, int, text) IS
	'Extends a licence''s statutory time limit once, by at most its service''s extension_days (art. 42: 10 working days); returns the new statutory_due';

CREATE FUNCTION miaopi.sweep()
RETURNS bigint
AS 'MODULE_PATHNAME', 'miaopi_sweep'
LANGUAGE C VOLATILE PARALLEL UNSAFE;
COMMENT ON FUNCTION miaopi.sweep() IS
	'Applies deemed acceptance (art. 32), records each new yellow, red and overdue crossing once with NOTIFY miaopi_deadline, and returns how many events it recorded';

REVOKE ALL ON FUNCTION miaopi.act(bigint, text, text) FROM PUBLIC;
REVOKE ALL ON FUNCTION miaopi.pause(bigint, text) FROM PUBLIC;
REVOKE ALL ON FUNCTION miaopi.resume(bigint) FROM PUBLIC;
REVOKE ALL ON FUNCTION miaopi.extend(bigint, int, text) FROM PUBLIC;
REVOKE ALL ON FUNCTION miaopi.sweep() FROM PUBLIC;

-- --------------------------------------------------------------------
-- The clock view.  One function per computed column, all with the same
-- arguments, so a query computes only the columns it uses.
-- --------------------------------------------------------------------

CREATE TYPE miaopi.light AS ENUM ('green', 'yellow', 'red', 'overdue');
COMMENT ON TYPE miaopi.light IS
	'Deadline light of an application, in order of severity';

CREATE FUNCTION miaopi.clock_step(service_code text, status text, submitted_at timestamptz, accepted_at timestamptz, decided_at timestamptz, closed_at timestamptz, promised_due timestamptz, statutory_due timestamptz, step_due timestamptz, paused_at timestamptz, paused_days int, clock_flags int)
RETURNS text
AS 'MODULE_PATHNAME', 'miaopi_clock_step'
LANGUAGE C STABLE CALLED ON NULL INPUT PARALLEL SAFE;
COMMENT ON FUNCTION miaopi.clock_step(text, text, timestamptz, timestamptz, timestamptz, timestamptz, timestamptz, timestamptz, timestamptz, timestamptz, int, int) IS
	'Internal, for view miaopi.clock: the current step at miaopi.now()';

CREATE FUNCTION miaopi.clock_accepted_at(service_code text, status text, submitted_at timestamptz, accepted_at timestamptz, decided_at timestamptz, closed_at timestamptz, promised_due timestamptz, statutory_due timestamptz, step_due timestamptz, paused_at timestamptz, paused_days int, clock_flags int)
RETURNS timestamptz
AS 'MODULE_PATHNAME', 'miaopi_clock_accepted_at'
LANGUAGE C STABLE CALLED ON NULL INPUT PARALLEL SAFE;
COMMENT ON FUNCTION miaopi.clock_accepted_at(text, text, timestamptz, timestamptz, timestamptz, timestamptz, timestamptz, timestamptz, timestamptz, timestamptz, int, int) IS
	'Internal, for view miaopi.clock: when the clock started at miaopi.now()';

CREATE FUNCTION miaopi.clock_promised_due(service_code text, status text, submitted_at timestamptz, accepted_at timestamptz, decided_at timestamptz, closed_at timestamptz, promised_due timestamptz, statutory_due timestamptz, step_due timestamptz, paused_at timestamptz, paused_days int, clock_flags int)
RETURNS timestamptz
AS 'MODULE_PATHNAME', 'miaopi_clock_promised_due'
LANGUAGE C STABLE CALLED ON NULL INPUT PARALLEL SAFE;
COMMENT ON FUNCTION miaopi.clock_promised_due(text, text, timestamptz, timestamptz, timestamptz, timestamptz, timestamptz, timestamptz, timestamptz, timestamptz, int, int) IS
	'Internal, for view miaopi.clock: the promised due at miaopi.now()';

CREATE FUNCTION miaopi.clock_statutory_due(service_code text, status text, submitted_at timestamptz, accepted_at timestamptz, decided_at timestamptz, closed_at timestamptz, promised_due timestamptz, statutory_due timestamptz, step_due timestamptz, paused_at timestamptz, paused_days int, clock_flags int)
RETURNS timestamptz
AS 'MODULE_PATHNAME', 'miaopi_clock_statutory_due'
LANGUAGE C STABLE CALLED ON NULL INPUT PARALLEL SAFE;
COMMENT ON FUNCTION miaopi.clock_statutory_due(text, text, timestamptz, timestamptz, timestamptz, timestamptz, timestamptz, timestamptz, timestamptz, timestamptz, int, int) IS
	'Internal, for view miaopi.clock: the statutory due at miaopi.now()';

CREATE FUNCTION miaopi.clock_step_due(service_code text, status text, submitted_at timestamptz, accepted_at timestamptz, decided_at timestamptz, closed_at timestamptz, promised_due timestamptz, statutory_due timestamptz, step_due timestamptz, paused_at timestamptz, paused_days int, clock_flags int)
RETURNS timestamptz
AS 'MODULE_PATHNAME', 'miaopi_clock_step_due'
LANGUAGE C STABLE CALLED ON NULL INPUT PARALLEL SAFE;
COMMENT ON FUNCTION miaopi.clock_step_due(text, text, timestamptz, timestamptz, timestamptz, timestamptz, timestamptz, timestamptz, timestamptz, timestamptz, int, int) IS
	'Internal, for view miaopi.clock: the current step''s due at miaopi.now()';

CREATE FUNCTION miaopi.clock_used(service_code text, status text, submitted_at timestamptz, accepted_at timestamptz, decided_at timestamptz, closed_at timestamptz, promised_due timestamptz, statutory_due timestamptz, step_due timestamptz, paused_at timestamptz, paused_days int, clock_flags int)
RETURNS int
AS 'MODULE_PATHNAME', 'miaopi_clock_used'
LANGUAGE C STABLE CALLED ON NULL INPUT PARALLEL SAFE;
COMMENT ON FUNCTION miaopi.clock_used(text, text, timestamptz, timestamptz, timestamptz, timestamptz, timestamptz, timestamptz, timestamptz, timestamptz, int, int) IS
	'Internal, for view miaopi.clock: working days used at miaopi.now()';

CREATE FUNCTION miaopi.clock_remaining(service_code text, status text, submitted_at timestamptz, accepted_at timestamptz, decided_at timestamptz, closed_at timestamptz, promised_due timestamptz, statutory_due timestamptz, step_due timestamptz, paused_at timestamptz, paused_days int, clock_flags int)
RETURNS int
AS 'MODULE_PATHNAME', 'miaopi_clock_remaining'
LANGUAGE C STABLE CALLED ON NULL INPUT PARALLEL SAFE;
COMMENT ON FUNCTION miaopi.clock_remaining(text, text, timestamptz, timestamptz, timestamptz, timestamptz, timestamptz, timestamptz, timestamptz, timestamptz, int, int) IS
	'Internal, for view miaopi.clock: working days remaining at miaopi.now()';

CREATE FUNCTION miaopi.clock_provisional(service_code text, status text, submitted_at timestamptz, accepted_at timestamptz, decided_at timestamptz, closed_at timestamptz, promised_due timestamptz, statutory_due timestamptz, step_due timestamptz, paused_at timestamptz, paused_days int, clock_flags int)
RETURNS boolean
AS 'MODULE_PATHNAME', 'miaopi_clock_provisional'
LANGUAGE C STABLE CALLED ON NULL INPUT PARALLEL SAFE;
COMMENT ON FUNCTION miaopi.clock_provisional(text, text, timestamptz, timestamptz, timestamptz, timestamptz, timestamptz, timestamptz, timestamptz, timestamptz, int, int) IS
	'Internal, for view miaopi.clock: whether anything counted lies past published_through at miaopi.now()';

CREATE FUNCTION miaopi.clock_light(service_code text, status text, submitted_at timestamptz, accepted_at timestamptz, decided_at timestamptz, closed_at timestamptz, promised_due timestamptz, statutory_due timestamptz, step_due timestamptz, paused_at timestamptz, paused_days int, clock_flags int)
RETURNS miaopi.light
AS 'MODULE_PATHNAME', 'miaopi_clock_light'
LANGUAGE C STABLE CALLED ON NULL INPUT PARALLEL SAFE;
COMMENT ON FUNCTION miaopi.clock_light(text, text, timestamptz, timestamptz, timestamptz, timestamptz, timestamptz, timestamptz, timestamptz, timestamptz, int, int) IS
	'Internal, for view miaopi.clock: the light at miaopi.now()';

CREATE FUNCTION miaopi.clock_within_promised(service_code text, status text, submitted_at timestamptz, accepted_at timestamptz, decided_at timestamptz, closed_at timestamptz, promised_due timestamptz, statutory_due timestamptz, step_due timestamptz, paused_at timestamptz, paused_days int, clock_flags int)
RETURNS boolean
AS 'MODULE_PATHNAME', 'miaopi_clock_within_promised'
LANGUAGE C STABLE CALLED ON NULL INPUT PARALLEL SAFE;
COMMENT ON FUNCTION miaopi.clock_within_promised(text, text, timestamptz, timestamptz, timestamptz, timestamptz, timestamptz, timestamptz, timestamptz, timestamptz, int, int) IS
	'Internal, for view miaopi.clock: whether the decision came within promised_due at miaopi.now()';

CREATE FUNCTION miaopi.clock_within_statutory(service_code text, status text, submitted_at timestamptz, accepted_at timestamptz, decided_at timestamptz, closed_at timestamptz, promised_due timestamptz, statutory_due timestamptz, step_due timestamptz, paused_at timestamptz, paused_days int, clock_flags int)
RETURNS boolean
AS 'MODULE_PATHNAME', 'miaopi_clock_within_statutory'
LANGUAGE C STABLE CALLED ON NULL INPUT PARALLEL SAFE;
COMMENT ON FUNCTION miaopi.clock_within_statutory(text, text, timestamptz, timestamptz, timestamptz, timestamptz, timestamptz, timestamptz, timestamptz, timestamptz, int, int) IS
	'Internal, for view miaopi.clock: whether the decision came within statutory_due at miaopi.now()';

CREATE VIEW miaopi.clock AS
SELECT
	a.id AS application,
	a.service_code AS service,
	a.status,
	miaopi.clock_step(a.service_code, a.status, a.submitted_at, a.accepted_at, a.decided_at, a.closed_at, a.promised_due, a.statutory_due, a.step_due, a.paused_at, a.paused_days, a.clock_flags) AS step,
	miaopi.clock_accepted_at(a.service_code, a.status, a.submitted_at, a.accepted_at, a.decided_at, a.closed_at, a.promised_due, a.statutory_due, a.step_due, a.paused_at, a.paused_days, a.clock_flags) AS accepted_at,
	miaopi.clock_promised_due(a.service_code, a.status, a.submitted_at, a.accepted_at, a.decided_at, a.closed_at, a.promised_due, a.statutory_due, a.step_due, a.paused_at, a.paused_days, a.clock_flags) AS promised_due,
	miaopi.clock_statutory_due(a.service_code, a.status, a.submitted_at, a.accepted_at, a.decided_at, a.closed_at, a.promised_due, a.statutory_due, a.step_due, a.paused_at, a.paused_days, a.clock_flags) AS statutory_due,
	miaopi.clock_step_due(a.service_code, a.status, a.submitted_at, a.accepted_at, a.decided_at, a.closed_at, a.promised_due, a.statutory_due, a.step_due, a.paused_at, a.paused_days, a.clock_flags) AS step_due,
	a.paused_at IS NOT NULL AS paused,
	a.paused_days,
	miaopi.clock_used(a.service_code, a.status, a.submitted_at, a.accepted_at, a.decided_at, a.closed_at, a.promised_due, a.statutory_due, a.step_due, a.paused_at, a.paused_days, a.clock_flags) AS used_working_days,
	miaopi.clock_remaining(a.service_code, a.status, a.submitted_at, a.accepted_at, a.decided_at, a.closed_at, a.promised_due, a.statutory_due, a.step_due, a.paused_at, a.paused_days, a.clock_flags) AS remaining_working_days,
	miaopi.clock_provisional(a.service_code, a.status, a.submitted_at, a.accepted_at, a.decided_at, a.closed_at, a.promised_due, a.statutory_due, a.step_due, a.paused_at, a.paused_days, a.clock_flags) AS provisional,
	miaopi.clock_light(a.service_code, a.status, a.submitted_at, a.accepted_at, a.decided_at, a.closed_at, a.promised_due, a.statutory_due, a.step_due, a.paused_at, a.paused_days, a.clock_flags) AS light,
	a.paused_at AS paused_since,
	a.closed_at,
	miaopi.clock_within_promised(a.service_code, a.status, a.submitted_at, a.accepted_at, a.decided_at, a.closed_at, a.promised_due, a.statutory_due, a.step_due, a.paused_at, a.paused_days, a.clock_flags) AS within_promised,
	miaopi.clock_within_statutory(a.service_code, a.status, a.submitted_at, a.accepted_at, a.decided_at, a.closed_at, a.promised_due, a.statutory_due, a.step_due, a.paused_at, a.paused_days, a.clock_flags) AS within_statutory
FROM miaopi.application a;
COMMENT ON VIEW miaopi.clock IS
	'Time-limit clock of every application at miaopi.now(): current step, dues, working days used and remaining, and the light (green, yellow, red, overdue)';
COMMENT ON COLUMN miaopi.clock.step IS 'Current workflow step: accept, review, decide, deliver; NULL once closed';
COMMENT ON COLUMN miaopi.clock.accepted_at IS 'When the clock started (submission for services without an accept step)';
COMMENT ON COLUMN miaopi.clock.promised_due IS 'End of the last working day of the agency''s promised time limit (承诺时限)';
COMMENT ON COLUMN miaopi.clock.statutory_due IS 'End of the last working day of the statutory time limit (法定时限), after any extension';
COMMENT ON COLUMN miaopi.clock.step_due IS 'End of the last working day of the current step''s limit';
COMMENT ON COLUMN miaopi.clock.paused IS 'Whether the clock is paused now';
COMMENT ON COLUMN miaopi.clock.paused_days IS 'Working days of finished pauses, by which the dues have moved';
COMMENT ON COLUMN miaopi.clock.used_working_days IS 'Working days of the promised time used (up to today, or to the decision)';
COMMENT ON COLUMN miaopi.clock.remaining_working_days IS 'Working days after today up to promised_due; negative once past it';
COMMENT ON COLUMN miaopi.clock.provisional IS 'Whether a due or today lies past the calendar''s published_through (plain week assumed)';
COMMENT ON COLUMN miaopi.clock.light IS 'green; yellow near promised_due; red past promised_due or step_due; overdue past statutory_due';
COMMENT ON COLUMN miaopi.clock.paused_since IS 'When the current pause began';
COMMENT ON COLUMN miaopi.clock.closed_at IS 'When the application was closed (delivered, refused, withdrawn)';
COMMENT ON COLUMN miaopi.clock.within_promised IS 'Once decided: whether the decision came within promised_due';
COMMENT ON COLUMN miaopi.clock.within_statutory IS 'Once decided: whether the decision came within statutory_due';

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
-- and the identity sequences, or a restored database would reuse ids
SELECT pg_catalog.pg_extension_config_dump('miaopi.ruleset_id_seq', '');
SELECT pg_catalog.pg_extension_config_dump('miaopi.application_id_seq', '');
SELECT pg_catalog.pg_extension_config_dump('miaopi.event_id_seq', '');
