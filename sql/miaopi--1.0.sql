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

CREATE FUNCTION miaopi.invalidate_cache()
RETURNS trigger
AS 'MODULE_PATHNAME', 'miaopi_invalidate_cache'
LANGUAGE C VOLATILE PARALLEL UNSAFE;
COMMENT ON FUNCTION miaopi.invalidate_cache() IS
	'Statement trigger: tells every backend to rebuild its miaopi caches of the table that changed';
REVOKE ALL ON FUNCTION miaopi.invalidate_cache() FROM PUBLIC;

CREATE TRIGGER calendar_invalidate
	AFTER INSERT OR UPDATE OR DELETE OR TRUNCATE ON miaopi.calendar
	FOR EACH STATEMENT EXECUTE FUNCTION miaopi.invalidate_cache();
COMMENT ON TRIGGER calendar_invalidate ON miaopi.calendar IS
	'Rebuilds the per-backend calendar cache after any change';
CREATE TRIGGER calendar_day_invalidate
	AFTER INSERT OR UPDATE OR DELETE OR TRUNCATE ON miaopi.calendar_day
	FOR EACH STATEMENT EXECUTE FUNCTION miaopi.invalidate_cache();
COMMENT ON TRIGGER calendar_day_invalidate ON miaopi.calendar_day IS
	'Rebuilds the per-backend calendar cache after any change';

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
	code			text PRIMARY KEY,
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

-- @@WORKFLOW@@ (application workflow columns, events, act, clock)
