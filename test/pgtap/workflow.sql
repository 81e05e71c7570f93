-- The manual workflow and the clock: every bad input with its SQLSTATE and
-- message, and that the application and its events did not change.
\set ON_ERROR_ROLLBACK 1
\set ON_ERROR_STOP true
\pset format unaligned
\pset tuples_only true
\pset pager off

BEGIN;
CREATE EXTENSION miaopi;
SELECT plan(84);
SET LOCAL timezone = 'Asia/Shanghai';
SET LOCAL miaopi.clock_now = '2026-03-02 09:00+08';

-- The objects and their privileges
SELECT has_function('miaopi', 'act', ARRAY['bigint', 'text', 'text'], 'act(bigint, text, text)');
SELECT has_function('miaopi', 'pause', ARRAY['bigint', 'text'], 'pause(bigint, text)');
SELECT has_function('miaopi', 'resume', ARRAY['bigint'], 'resume(bigint)');
SELECT has_function('miaopi', 'extend', ARRAY['bigint', 'integer', 'text'], 'extend(bigint, int, text)');
SELECT has_function('miaopi', 'sweep', ARRAY[]::text[], 'sweep()');
SELECT has_view('miaopi', 'clock', 'view clock');
SELECT has_table('miaopi', 'event', 'table event');
SELECT columns_are('miaopi', 'clock', ARRAY['application', 'service', 'status', 'step', 'accepted_at',
	'promised_due', 'statutory_due', 'step_due', 'paused', 'paused_days', 'used_working_days',
	'remaining_working_days', 'provisional', 'light', 'paused_since', 'closed_at',
	'within_promised', 'within_statutory', 'verify_due', 'verify_light'], 'clock has the contract''s columns (and a few more)');
SELECT ok(NOT has_function_privilege('public', 'miaopi.act(bigint, text, text)', 'EXECUTE')
	AND NOT has_function_privilege('public', 'miaopi.pause(bigint, text)', 'EXECUTE')
	AND NOT has_function_privilege('public', 'miaopi.resume(bigint)', 'EXECUTE')
	AND NOT has_function_privilege('public', 'miaopi.extend(bigint, int, text)', 'EXECUTE')
	AND NOT has_function_privilege('public', 'miaopi.sweep()', 'EXECUTE'),
	'act, pause, resume, extend and sweep are not executable by PUBLIC');
SELECT ok(has_function_privilege('public', 'miaopi.add_working_days(timestamptz, int, text)', 'EXECUTE'),
	'the calendar functions are');

SELECT lives_ok($y$SELECT miaopi.load_rules($$
service: tap-licence
name: 许可
kind: licence
time_limit: {statutory: 20, promised: 5}
auto_approve: false
steps: {accept: 1, review: 2, decide: 3, deliver: 1}
fields: {}
checks: []
---
service: tap-public
name: 公共服务
kind: public_service
time_limit: {statutory: 10, promised: 3}
auto_approve: false
fields: {}
checks: []
$$)$y$, 'services load');

CREATE ROLE tap_reviewer;
CREATE ROLE tap_decider;
GRANT USAGE ON SCHEMA miaopi TO tap_reviewer, tap_decider;
GRANT EXECUTE ON FUNCTION miaopi.act(bigint, text, text) TO tap_reviewer, tap_decider;
INSERT INTO miaopi.scope (role, action) VALUES ('tap_reviewer', 'act'), ('tap_decider', 'act');

CREATE FUNCTION pg_temp.submit(service text) RETURNS bigint LANGUAGE sql AS $$
	INSERT INTO miaopi.application (service_code, applicant_id, payload)
	VALUES (service, '91350100M000100Y43', '{}') RETURNING id
$$;
-- act as another person (the switch is undone with the subtransaction on error)
CREATE FUNCTION pg_temp.act_as(r text, app bigint, action text, cmt text DEFAULT NULL)
RETURNS text LANGUAGE plpgsql AS $$
DECLARE
	s text;
BEGIN
	EXECUTE format('SET LOCAL SESSION AUTHORIZATION %I', r);
	s := miaopi.act(app, action, cmt);
	RESET SESSION AUTHORIZATION;
	RETURN s;
END
$$;
-- everything about an application that an action could change
CREATE FUNCTION pg_temp.state(app bigint) RETURNS text LANGUAGE sql AS $$
	SELECT format('%s|%s|%s|%s|%s|%s|%s|%s|%s|%s|%s|%s|%s|events=%s', a.status, a.decision,
		a.decided_at, a.decided_by, a.accepted_at, a.promised_due, a.statutory_due, a.closed_at,
		a.step_due, a.paused_at, a.paused_days, a.clock_flags, a.submitted_at,
		(SELECT count(*) FROM miaopi.event e WHERE e.application_id = app))
	FROM miaopi.application a WHERE a.id = app
$$;
-- an error path: SQLSTATE and message, then that nothing changed
CREATE FUNCTION pg_temp.refused(app bigint, sql text, code text, msg text, what text)
RETURNS SETOF text LANGUAGE plpgsql AS $$
DECLARE
	before text := pg_temp.state(app);
BEGIN
	RETURN NEXT throws_ok(sql, code, msg, what);
	RETURN NEXT is(pg_temp.state(app), before, what || ': nothing changed');
END
$$;

-- ===== A licence through every step, by two roles =====
SELECT pg_temp.submit('tap-licence') AS lic \gset
SELECT is(pg_temp.state(:lic) LIKE 'pending|manual|%', true, 'the trigger queues it as pending');
SELECT * FROM pg_temp.refused(:lic, format($$SELECT miaopi.act(%s, 'approve')$$, :lic), '55000',
	format('action "approve" is not allowed while application %s is "pending"', :lic),
	'an action not allowed now is object_not_in_prerequisite_state');
SELECT * FROM pg_temp.refused(:lic, format($$SELECT miaopi.act(%s, 'approved')$$, :lic), '22023',
	'unknown action "approved"', 'an unknown action is invalid_parameter_value');
SELECT * FROM pg_temp.refused(:lic, format($$SELECT miaopi.act(%s, NULL)$$, :lic), '22004',
	'action must not be null', 'a NULL action is null_value_not_allowed');
SELECT * FROM pg_temp.refused(:lic, format($$SELECT miaopi.act(%s, 'refuse')$$, :lic), '22004',
	'action "refuse" requires a comment', 'refuse without a comment is null_value_not_allowed');
SELECT * FROM pg_temp.refused(:lic, format($$SELECT miaopi.act(%s, 'request_supplement', '')$$, :lic), '22004',
	'action "request_supplement" requires a comment', 'request_supplement with an empty comment is refused');
SELECT * FROM pg_temp.refused(:lic, format($$SELECT miaopi.pause(%s, 'hearing')$$, :lic), '55000',
	format('application %s cannot be paused while it is "pending"', :lic),
	'pause before acceptance is refused');
SELECT throws_ok($$SELECT miaopi.act(-1, 'accept')$$, 'P0002', 'application -1 does not exist',
	'an unknown application is no_data_found');

SET LOCAL miaopi.clock_now = '2026-03-02 10:00+08';
SELECT is(miaopi.act(:lic, 'accept'), 'accepted', 'accept');
SELECT results_eq(format($$SELECT promised_due, statutory_due FROM miaopi.application WHERE id = %s$$, :lic),
	$$VALUES ('2026-03-09 23:59:59.999999+08'::timestamptz, '2026-03-30 23:59:59.999999+08'::timestamptz)$$,
	'acceptance sets both dues from the service''s working days');
SELECT * FROM pg_temp.refused(:lic, format($$SELECT miaopi.resume(%s)$$, :lic), '55000',
	format('application %s is not paused', :lic), 'resume when not paused is refused');
SELECT * FROM pg_temp.refused(:lic, format($$SELECT miaopi.pause(%s, 'nap')$$, :lic), '22023',
	'unknown pause reason "nap"', 'an unknown pause reason is invalid_parameter_value');
SELECT * FROM pg_temp.refused(:lic, format($$SELECT miaopi.extend(%s, 11, '复杂')$$, :lic), '22023',
	'extension of 11 working days is out of range', 'a too-long extension is invalid_parameter_value');
SELECT * FROM pg_temp.refused(:lic, format($$SELECT miaopi.extend(%s, -1, '复杂')$$, :lic), '22023',
	'extension of -1 working days is out of range', 'a negative extension is invalid_parameter_value');
SELECT * FROM pg_temp.refused(:lic, format($$SELECT miaopi.extend(%s, 5, NULL)$$, :lic), '22004',
	'an extension requires a reason', 'an extension without a reason is null_value_not_allowed');
SELECT is(miaopi.extend(:lic, 10, '需要专家评审'), '2026-04-14 23:59:59.999999+08'::timestamptz,
	'one extension of 10 working days, past Qingming (04-04..04-06 off)');
SELECT * FROM pg_temp.refused(:lic, format($$SELECT miaopi.extend(%s, 1, '再延')$$, :lic), '55000',
	format('application %s was already extended', :lic), 'a second extension is refused');

-- supplement after acceptance: once
SELECT is(miaopi.act(:lic, 'request_supplement', '补充检测报告'), 'supplement', 'supplement requested');
SELECT * FROM pg_temp.refused(:lic, format($$SELECT miaopi.resume(%s)$$, :lic), '55000',
	format('application %s is waiting for a supplement', :lic),
	'resume of a supplement pause is refused (supplement_received ends it)');
SELECT * FROM pg_temp.refused(:lic, format($$SELECT miaopi.pause(%s, 'hearing')$$, :lic), '55000',
	format('application %s is already paused', :lic), 'pause while paused is refused');
SET LOCAL miaopi.clock_now = '2026-03-04 10:00+08';
SELECT is(miaopi.act(:lic, 'supplement_received'), 'accepted', 'supplement received');
SELECT is((SELECT paused_days FROM miaopi.application WHERE id = :lic), 2, 'the dues moved by 2 working days');
SELECT * FROM pg_temp.refused(:lic, format($$SELECT miaopi.act(%s, 'request_supplement', '又缺')$$, :lic), '55000',
	format('a supplement was already requested for application %s after acceptance', :lic),
	'a second request_supplement is refused');

-- four eyes
SELECT is(pg_temp.act_as('tap_reviewer', :lic, 'review'), 'reviewed', 'review by tap_reviewer');
SELECT * FROM pg_temp.refused(:lic, format($$SELECT pg_temp.act_as('tap_reviewer', %s, 'approve')$$, :lic), '42501',
	format('login role "tap_reviewer" reviewed application %s and may not also decide it', :lic),
	'the reviewer may not approve a licence (four eyes)');
SELECT * FROM pg_temp.refused(:lic, format($$SELECT pg_temp.act_as('tap_reviewer', %s, 'reject', '不行')$$, :lic), '42501',
	format('login role "tap_reviewer" reviewed application %s and may not also decide it', :lic),
	'nor reject it');
SELECT * FROM pg_temp.refused(:lic, format($$SELECT pg_temp.act_as('tap_decider', %s, 'reject')$$, :lic), '22004',
	'action "reject" requires a comment', 'reject without a comment is refused');
SELECT is(pg_temp.act_as('tap_decider', :lic, 'approve'), 'approved', 'approve by tap_decider');
SELECT is((SELECT decided_by FROM miaopi.application WHERE id = :lic), 'tap_decider',
	'decided_by is the role that approved');
SELECT * FROM pg_temp.refused(:lic, format($$SELECT miaopi.pause(%s, 'hearing')$$, :lic), '55000',
	format('application %s cannot be paused while it is "approved"', :lic),
	'pause after the decision is refused');
SELECT is(miaopi.act(:lic, 'deliver'), 'approved', 'deliver keeps the decision''s status');
SELECT * FROM pg_temp.refused(:lic, format($$SELECT miaopi.pause(%s, 'hearing')$$, :lic), '55000',
	format('application %s is closed', :lic), 'pause of a closed application is refused');
SELECT * FROM pg_temp.refused(:lic, format($$SELECT miaopi.extend(%s, 1, '晚了')$$, :lic), '55000',
	format('application %s is closed', :lic), 'extension of a closed application is refused');
SELECT * FROM pg_temp.refused(:lic, format($$SELECT miaopi.act(%s, 'withdraw')$$, :lic), '55000',
	format('action "withdraw" is not allowed while application %s is "approved"', :lic),
	'no action on a closed application');

-- ===== A public service: no extension; refusal =====
SELECT pg_temp.submit('tap-public') AS pub \gset
SELECT is(miaopi.act(:pub, 'accept'), 'accepted', 'public service accepted');
SELECT * FROM pg_temp.refused(:pub, format($$SELECT miaopi.extend(%s, 3, '复杂')$$, :pub), '55000',
	'service "tap-public" allows no extension', 'a kind without extension refuses it');
SELECT * FROM pg_temp.refused(:pub, format($$SELECT miaopi.act(%s, 'review')$$, :pub), '55000',
	format('action "review" is not allowed while application %s is "accepted"', :pub),
	'a public service has no review step');
SELECT pg_temp.submit('tap-public') AS pub2 \gset
SELECT * FROM pg_temp.refused(:pub2, format($$SELECT miaopi.act(%s, 'refuse', NULL)$$, :pub2), '22004',
	'action "refuse" requires a comment', 'refuse with a NULL comment is refused');
SELECT is(miaopi.act(:pub2, 'refuse', '不属于本机关职权范围'), 'refused', 'refuse with reasons');

-- ===== The statutory time limit passed: too late to extend =====
SELECT pg_temp.submit('tap-licence') AS late \gset
SELECT is(miaopi.act(:late, 'accept'), 'accepted', 'another licence accepted');
SET LOCAL miaopi.clock_now = '2026-05-04 10:00+08';
SELECT * FROM pg_temp.refused(:late, format($$SELECT miaopi.extend(%s, 5, '晚了')$$, :late), '55000',
	format('the statutory time limit of application %s has passed', :late),
	'an extension after the statutory due is refused');

-- ===== sweep: each crossing once =====
SELECT is(miaopi.sweep(), 5::bigint, 'sweep records red, overdue and the review step''s breach of the late licence, red and overdue of the public service');
SELECT is(miaopi.sweep(), 0::bigint, 'a second sweep records nothing new');
SELECT is((SELECT light FROM miaopi.clock WHERE application = :late), 'overdue', 'the late licence is overdue');

-- ===== The tables stay protected =====
SELECT throws_ok(format($$UPDATE miaopi.application SET status = 'approved' WHERE id = %s$$, :late),
	'42501', 'column "status" of an application can only be changed by miaopi',
	'status cannot be updated directly');
SELECT throws_ok($$UPDATE miaopi.event SET comment = 'x'$$, '42501', 'miaopi.event is append-only',
	'events cannot be updated');
SELECT throws_ok($$DELETE FROM miaopi.event$$, '42501', 'miaopi.event is append-only',
	'events cannot be deleted');

SELECT * FROM finish();
ROLLBACK;
