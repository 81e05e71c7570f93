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

-- @@CALENDAR@@ (calendar_day, shipped data, calendar functions)

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
