-- 1.1, the clock: one function computes every column of miaopi.clock.
--
-- 1.0's view called eleven functions (clock_step ... clock_within_statutory),
-- each taking the same twelve columns and each looking up the service and
-- working out the clock again.  clock_columns() takes those columns and
-- returns all of the computed ones, and the eleven functions are dropped.
-- (The C symbols behind them stay in the library for databases still on 1.0.)
--
-- The view names the call once, in a LATERAL subquery that the planner pulls
-- up: each column the query reads becomes (clock_columns(...)).col, so a
-- query reading only light computes nothing else and pays no subquery scan
-- per row (OFFSET 0 or a function in FROM, which would call it exactly once,
-- cost more than that: a rescan, or a tuplestore, per row).  The calls for
-- the other columns of the same row find the result the first one remembered
-- (clock.c, ClockMemo).
--
-- roles: miaopi_agency, miaopi_reviewer, miaopi_analyst EXECUTE
--        miaopi.clock_columns(...) (15-roles lists them)

-- light first and the text last: reading light out of the composite is then
-- quickest (the commonest query counts lights)
CREATE TYPE miaopi.clock_state AS (
	light			miaopi.light,
	provisional		boolean,
	used_working_days int,
	remaining_working_days int,
	within_promised	boolean,
	within_statutory boolean,
	accepted_at		timestamptz,
	promised_due	timestamptz,
	statutory_due	timestamptz,
	step_due		timestamptz,
	step			text
);
COMMENT ON TYPE miaopi.clock_state IS
	'The computed columns of view miaopi.clock, as clock_columns() returns them';

CREATE FUNCTION miaopi.clock_columns(service_code text, status text,
	submitted_at timestamptz, accepted_at timestamptz, decided_at timestamptz,
	closed_at timestamptz, promised_due timestamptz, statutory_due timestamptz,
	step_due timestamptz, paused_at timestamptz, paused_days int, clock_flags int)
RETURNS miaopi.clock_state
AS 'MODULE_PATHNAME', 'miaopi_clock_columns'
LANGUAGE C STABLE CALLED ON NULL INPUT PARALLEL SAFE;
COMMENT ON FUNCTION miaopi.clock_columns(text, text, timestamptz, timestamptz, timestamptz, timestamptz, timestamptz, timestamptz, timestamptz, timestamptz, int, int) IS
	'The clock of one application at miaopi.now(), from its columns: step, dues, working days used and remaining, provisional, light, within the limits; NULL for an unknown service or status';
REVOKE ALL ON FUNCTION miaopi.clock_columns(text, text, timestamptz, timestamptz, timestamptz, timestamptz, timestamptz, timestamptz, timestamptz, timestamptz, int, int) FROM PUBLIC;

-- The 1.0 view depends on the functions dropped below, so it is redefined
-- here first; 50-policy redefines it once more, the same way, with the
-- commitment columns that fragment adds (verify_due, verify_light).
CREATE OR REPLACE VIEW miaopi.clock AS
SELECT
	a.id AS application,
	a.service_code AS service,
	a.status,
	(c.k).step,
	(c.k).accepted_at,
	(c.k).promised_due,
	(c.k).statutory_due,
	(c.k).step_due,
	a.paused_at IS NOT NULL AS paused,
	a.paused_days,
	(c.k).used_working_days,
	(c.k).remaining_working_days,
	(c.k).provisional,
	(c.k).light,
	a.paused_at AS paused_since,
	a.closed_at,
	(c.k).within_promised,
	(c.k).within_statutory
FROM miaopi.application a
	CROSS JOIN LATERAL (SELECT miaopi.clock_columns(a.service_code, a.status, a.submitted_at,
		a.accepted_at, a.decided_at, a.closed_at, a.promised_due, a.statutory_due,
		a.step_due, a.paused_at, a.paused_days, a.clock_flags) AS k) c;

DROP FUNCTION miaopi.clock_step(text, text, timestamptz, timestamptz, timestamptz, timestamptz, timestamptz, timestamptz, timestamptz, timestamptz, int, int);
DROP FUNCTION miaopi.clock_accepted_at(text, text, timestamptz, timestamptz, timestamptz, timestamptz, timestamptz, timestamptz, timestamptz, timestamptz, int, int);
DROP FUNCTION miaopi.clock_promised_due(text, text, timestamptz, timestamptz, timestamptz, timestamptz, timestamptz, timestamptz, timestamptz, timestamptz, int, int);
DROP FUNCTION miaopi.clock_statutory_due(text, text, timestamptz, timestamptz, timestamptz, timestamptz, timestamptz, timestamptz, timestamptz, timestamptz, int, int);
DROP FUNCTION miaopi.clock_step_due(text, text, timestamptz, timestamptz, timestamptz, timestamptz, timestamptz, timestamptz, timestamptz, timestamptz, int, int);
DROP FUNCTION miaopi.clock_used(text, text, timestamptz, timestamptz, timestamptz, timestamptz, timestamptz, timestamptz, timestamptz, timestamptz, int, int);
DROP FUNCTION miaopi.clock_remaining(text, text, timestamptz, timestamptz, timestamptz, timestamptz, timestamptz, timestamptz, timestamptz, timestamptz, int, int);
DROP FUNCTION miaopi.clock_provisional(text, text, timestamptz, timestamptz, timestamptz, timestamptz, timestamptz, timestamptz, timestamptz, timestamptz, int, int);
DROP FUNCTION miaopi.clock_light(text, text, timestamptz, timestamptz, timestamptz, timestamptz, timestamptz, timestamptz, timestamptz, timestamptz, int, int);
DROP FUNCTION miaopi.clock_within_promised(text, text, timestamptz, timestamptz, timestamptz, timestamptz, timestamptz, timestamptz, timestamptz, timestamptz, int, int);
DROP FUNCTION miaopi.clock_within_statutory(text, text, timestamptz, timestamptz, timestamptz, timestamptz, timestamptz, timestamptz, timestamptz, timestamptz, int, int);
