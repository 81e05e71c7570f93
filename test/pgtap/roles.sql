-- Roles, scopes, four eyes by person, rows that are never lost or forged,
-- and hostile objects on a caller's search_path: every allowed and every
-- refused operation, as login users that are members of miaopi's roles,
-- each refusal with its SQLSTATE and nothing changed.
\set ON_ERROR_ROLLBACK 1
\set ON_ERROR_STOP true
BEGIN;
CREATE EXTENSION miaopi;
SELECT plan(95);

SET miaopi.clock_now = '2026-03-02 10:00+08';

-- ===== create_roles =====
SELECT lives_ok($$SELECT miaopi.create_roles()$$, 'create_roles() as a superuser');
SELECT lives_ok($$SELECT miaopi.create_roles()$$, 'create_roles() again changes nothing');
SELECT is((SELECT count(*) FROM pg_roles WHERE rolname IN ('miaopi_admin', 'miaopi_agency',
		'miaopi_reviewer', 'miaopi_analyst') AND NOT rolcanlogin), 4::bigint,
	'four NOLOGIN roles');
SELECT results_eq($$SELECT role::text COLLATE "default", action FROM miaopi.scope ORDER BY 1, 2$$,
	$$VALUES ('miaopi_admin', 'load'), ('miaopi_agency', 'submit'), ('miaopi_reviewer', 'act')$$,
	'the widest scopes, once each');
SELECT is((SELECT count(*) FROM miaopi.event WHERE coalesce(application_id, 0) = 0 AND action = 'scope_grant'
		AND detail->>'role' IN ('miaopi_admin', 'miaopi_agency', 'miaopi_reviewer')), 3::bigint,
	'each scope added is an event of the system chain');

-- People: login users who are members of the roles
CREATE ROLE tap_admin LOGIN IN ROLE miaopi_admin;
CREATE ROLE tap_agency LOGIN IN ROLE miaopi_agency;
CREATE ROLE tap_alice LOGIN IN ROLE miaopi_reviewer;
CREATE ROLE tap_bob LOGIN IN ROLE miaopi_reviewer;
CREATE ROLE tap_analyst LOGIN IN ROLE miaopi_analyst;
CREATE ROLE tap_nobody LOGIN;

-- Run q as login user u (and SET ROLE r), optionally with a hostile
-- search_path; the switch ends with the subtransaction on error.
CREATE FUNCTION pg_temp.run_as(u text, r text, q text, hostile boolean DEFAULT false)
RETURNS text LANGUAGE plpgsql AS $$
DECLARE
	result text;
BEGIN
	EXECUTE format('SET LOCAL SESSION AUTHORIZATION %I', u);
	IF r IS NOT NULL THEN
		EXECUTE format('SET LOCAL ROLE %I', r);
	END IF;
	IF hostile THEN
		SET LOCAL search_path = public, pg_catalog;
	END IF;
	EXECUTE q INTO result;
	RESET search_path;
	RESET ROLE;
	RESET SESSION AUTHORIZATION;
	RETURN result;
END
$$;
CREATE FUNCTION pg_temp.exec_as(u text, q text) RETURNS void LANGUAGE plpgsql AS $$
BEGIN
	EXECUTE format('SET LOCAL SESSION AUTHORIZATION %I', u);
	EXECUTE q;
	RESET SESSION AUTHORIZATION;
END
$$;
-- Everything miaopi keeps, to prove a refusal changed nothing
CREATE FUNCTION pg_temp.state() RETURNS text LANGUAGE sql AS $$
	SELECT concat_ws(' ',
		(SELECT md5(coalesce(string_agg(a::text, ',' ORDER BY a.id), '')) FROM miaopi.application a),
		(SELECT md5(coalesce(string_agg(e::text, ',' ORDER BY e.id), '')) FROM miaopi.event e),
		(SELECT md5(coalesce(string_agg(r::text, ',' ORDER BY r.id), '')) FROM miaopi.ruleset r),
		(SELECT md5(coalesce(string_agg(s::text, ',' ORDER BY s.code), '')) FROM miaopi.service s),
		(SELECT md5(coalesce(string_agg(s::text, ',' ORDER BY s::text), '')) FROM miaopi.scope s))
$$;

-- Two departments' services
SELECT lives_ok($$SELECT miaopi.load_rules($y$
service: roles-a
name: 甲局许可
department: 甲局
kind: licence
time_limit: {statutory: 20, promised: 5}
auto_approve: false
fields:
  n: {type: int, required: true}
checks:
  - {id: positive, rule: payload.n > 0, on_fail: reject}
---
service: roles-b
name: 乙局服务
department: 乙局
kind: public_service
time_limit: {statutory: 10, promised: 2}
auto_approve: true
fields:
  n: {type: int, required: true}
checks:
  - {id: small, rule: payload.n < 10, on_fail: manual}
$y$)$$, 'two services of two departments');

-- ===== PUBLIC =====
SELECT is(pg_temp.run_as('tap_nobody', NULL, $$SELECT miaopi.uscc_valid('91350100M000100Y43')::text$$),
	'true', 'anyone may use the pure code checks');
SELECT is(pg_temp.run_as('tap_nobody', NULL, $$SELECT miaopi.add_working_days('2026-03-02'::date, 1)::text$$),
	'2026-03-03', 'and the working-day functions with the calendars they read');
SELECT throws_ok($$SELECT pg_temp.run_as('tap_nobody', NULL, 'SELECT count(*) FROM miaopi.application')$$,
	'42501', NULL, 'PUBLIC reads no application');
SELECT throws_ok($$SELECT pg_temp.run_as('tap_nobody', NULL, $q$SELECT miaopi.evaluate('roles-b', 'x', '{"n": 1}')::text$q$)$$,
	'42501', NULL, 'PUBLIC may not evaluate');
SELECT throws_ok($$SELECT pg_temp.run_as('tap_nobody', NULL, 'SELECT miaopi.sweep()::text')$$,
	'42501', NULL, 'PUBLIC may not sweep');
SELECT throws_ok($$SELECT pg_temp.run_as('tap_admin', NULL, 'SELECT miaopi.create_roles()::text')$$,
	'42501', NULL, 'create_roles() is for superusers only');

-- ===== The agency =====
SELECT is(pg_temp.run_as('tap_agency', NULL, $$INSERT INTO miaopi.application (service_code, applicant_id, payload)
	VALUES ('roles-b', '91350100M000100Y43', '{"n": 1}') RETURNING status$$), 'approved',
	'an agency submits and reads the decision');
SELECT is(pg_temp.run_as('tap_agency', NULL, $$SELECT miaopi.evaluate('roles-b', 'x', '{"n": 12}')->>'decision'$$),
	'manual', 'an agency pre-checks with evaluate');
SELECT is(pg_temp.run_as('tap_agency', NULL, $$INSERT INTO miaopi.application (service_code, applicant_id, payload,
	status, decision, decided_by, submitted_at, ruleset_id, reasons)
	VALUES ('roles-a', '91350100M000100Y43', '{"n": 1}', 'approved', 'approve', 'miaopi', now(), 1, '[]')
	RETURNING status || ' ' || decision || ' ' || coalesce(decided_by, '-')$$), 'pending manual -',
	'an agency sending a row already "decided" gets it decided anew: only a restore by the owner is kept');
SELECT id AS pending_a FROM miaopi.application WHERE service_code = 'roles-a' ORDER BY id DESC LIMIT 1 \gset

SELECT pg_temp.state() AS before \gset
SELECT throws_ok($$SELECT pg_temp.run_as('tap_agency', NULL, $q$UPDATE miaopi.application SET status = 'approved' RETURNING id$q$)$$,
	'42501', 'permission denied for table application', 'an agency may not set its own status');
GRANT UPDATE ON miaopi.application TO miaopi_agency;
SELECT throws_ok($$SELECT pg_temp.run_as('tap_agency', NULL, $q$UPDATE miaopi.application SET status = 'approved' RETURNING id$q$)$$,
	'42501', 'column "status" of an application can only be changed by miaopi',
	'nor with UPDATE granted by mistake: the guard refuses');
REVOKE UPDATE ON miaopi.application FROM miaopi_agency;
SELECT throws_ok(format($$SELECT pg_temp.run_as('tap_agency', NULL, $q$INSERT INTO miaopi.application
	(id, service_code, applicant_id, payload) OVERRIDING SYSTEM VALUE
	VALUES (%s, 'roles-b', 'x', '{"n": 1}') RETURNING id$q$)$$, :pending_a + 1000),
	'42501', 'an application''s id is chosen by miaopi', 'an agency may not choose an id');
SELECT throws_ok($$SELECT pg_temp.run_as('tap_agency', NULL, 'SELECT miaopi.act(1, ''accept'')')$$,
	'42501', NULL, 'an agency may not act');
SELECT throws_ok($$SELECT pg_temp.run_as('tap_agency', NULL, 'SELECT count(*) FROM miaopi.event')$$,
	'42501', NULL, 'an agency does not read the event log');
SELECT throws_ok($$SELECT pg_temp.run_as('tap_agency', NULL, $q$INSERT INTO miaopi.scope (role, action) VALUES ('tap_agency', 'act') RETURNING role$q$)$$,
	'42501', NULL, 'an agency may not widen its scopes');
SELECT is(pg_temp.state(), :'before', 'the agency''s refused attempts changed nothing');

-- narrow the agency to department 乙局
DELETE FROM miaopi.scope WHERE role = 'miaopi_agency';
INSERT INTO miaopi.scope (role, action, department) VALUES ('miaopi_agency', 'submit', '乙局');
SELECT pg_temp.state() AS before \gset
SELECT throws_ok($$SELECT pg_temp.run_as('tap_agency', NULL, $q$INSERT INTO miaopi.application (service_code, applicant_id, payload)
	VALUES ('roles-a', 'x', '{"n": 1}') RETURNING id$q$)$$,
	'42501', 'role "tap_agency" may not submit applications to service "roles-a"',
	'an agency may not submit to a service outside its scope');
SELECT is(pg_temp.state(), :'before', 'and nothing was stored');
SELECT is(pg_temp.run_as('tap_agency', NULL, $$INSERT INTO miaopi.application (service_code, applicant_id, payload)
	VALUES ('roles-b', 'x', '{"n": 2}') RETURNING status$$), 'approved', 'inside its scope it submits');
SELECT results_eq($$SELECT action, detail->>'role', detail->>'action', detail->>'department', actor, session_actor
	FROM miaopi.event WHERE coalesce(application_id, 0) = 0 AND detail->>'role' = 'miaopi_agency' ORDER BY id$$,
	$$VALUES ('scope_grant', 'miaopi_agency', 'submit', NULL, 'postgres', 'postgres'),
			 ('scope_revoke', 'miaopi_agency', 'submit', NULL, 'postgres', 'postgres'),
			 ('scope_grant', 'miaopi_agency', 'submit', '乙局', 'postgres', 'postgres')$$,
	'every scope change is an event naming who made it');
-- a membership taken away counts from the next statement
REVOKE miaopi_agency FROM tap_agency;
SELECT throws_ok($$SELECT pg_temp.run_as('tap_agency', NULL, $q$INSERT INTO miaopi.application (service_code, applicant_id, payload)
	VALUES ('roles-b', 'x', '{"n": 2}') RETURNING status$q$)$$,
	'42501', NULL, 'a user who left the agency role submits nothing');
GRANT miaopi_agency TO tap_agency;
-- the agency's own scope row, without the role's
INSERT INTO miaopi.scope (role, action, service_code) VALUES ('tap_agency', 'submit', 'roles-a');
SELECT is(pg_temp.run_as('tap_agency', NULL, $$INSERT INTO miaopi.application (service_code, applicant_id, payload)
	VALUES ('roles-a', 'x', '{"n": 3}') RETURNING status$$), 'pending', 'a scope for one service of the user''s own');
SELECT id AS app_a FROM miaopi.application WHERE service_code = 'roles-a' ORDER BY id DESC LIMIT 1 \gset

-- ===== The reviewer =====
SELECT throws_ok($$SELECT pg_temp.run_as('tap_alice', NULL, $q$SELECT miaopi.load_rules('service: x')::text$q$)$$,
	'42501', NULL, 'a reviewer may not load rules');
SELECT is(pg_temp.run_as('tap_alice', NULL, format('SELECT miaopi.act(%s, ''accept'')', :app_a)), 'accepted',
	'a reviewer accepts');
-- narrow the reviewers to department 乙局
DELETE FROM miaopi.scope WHERE role = 'miaopi_reviewer';
INSERT INTO miaopi.scope (role, action, department) VALUES ('miaopi_reviewer', 'act', '乙局');
SELECT pg_temp.state() AS before \gset
SELECT throws_ok(format($$SELECT pg_temp.run_as('tap_alice', NULL, 'SELECT miaopi.act(%s, ''review'')')$$, :app_a),
	'42501', 'role "tap_alice" may not act on applications of service "roles-a"',
	'a reviewer may not act outside its department');
SELECT throws_ok(format($$SELECT pg_temp.run_as('tap_alice', NULL, 'SELECT miaopi.pause(%s, ''inspection'')::text')$$, :app_a),
	'42501', 'role "tap_alice" may not act on applications of service "roles-a"', 'nor pause');
SELECT throws_ok(format($$SELECT pg_temp.run_as('tap_alice', NULL, 'SELECT miaopi.resume(%s)::text')$$, :app_a),
	'42501', 'role "tap_alice" may not act on applications of service "roles-a"', 'nor resume');
SELECT throws_ok(format($$SELECT pg_temp.run_as('tap_alice', NULL, 'SELECT miaopi.extend(%s, 5, ''专家评审'')::text')$$, :app_a),
	'42501', 'role "tap_alice" may not act on applications of service "roles-a"', 'nor extend');
SELECT throws_ok(format($$SELECT pg_temp.run_as('tap_alice', 'miaopi_reviewer', 'SELECT miaopi.act(%s, ''review'')')$$, :app_a),
	'42501', 'role "miaopi_reviewer" may not act on applications of service "roles-a"', 'nor as the role itself');
SELECT throws_ok($$SELECT pg_temp.run_as('tap_alice', NULL, $q$UPDATE miaopi.event SET comment = 'x' RETURNING id$q$)$$,
	'42501', NULL, 'a reviewer may not change an event');
SELECT throws_ok($$SELECT pg_temp.run_as('tap_alice', NULL, $q$INSERT INTO miaopi.event (application_id, at, action, actor)
	VALUES (1, now(), 'approve', 'tap_bob') RETURNING id$q$)$$,
	'42501', NULL, 'nor forge one');
SELECT throws_ok($$SELECT pg_temp.run_as('tap_alice', NULL, 'SELECT count(*) FROM miaopi.scope')$$,
	'42501', NULL, 'nor read the scopes');
SELECT is(pg_temp.state(), :'before', 'the reviewer''s refused attempts changed nothing');
-- a scope for the one service brings it back
INSERT INTO miaopi.scope (role, action, service_code) VALUES ('miaopi_reviewer', 'act', 'roles-a');

-- ===== Four eyes by person =====
SELECT is(pg_temp.run_as('tap_alice', 'miaopi_reviewer', format('SELECT miaopi.act(%s, ''review'')', :app_a)),
	'reviewed', 'alice reviews, as role miaopi_reviewer');
SELECT pg_temp.state() AS before \gset
SELECT throws_ok(format($$SELECT pg_temp.run_as('tap_alice', 'miaopi_reviewer', 'SELECT miaopi.act(%s, ''approve'')')$$, :app_a),
	'42501', format('login role "tap_alice" reviewed application %s and may not also decide it', :app_a),
	'alice may not also approve, as the same role');
SELECT throws_ok(format($$SELECT pg_temp.run_as('tap_alice', NULL, 'SELECT miaopi.act(%s, ''approve'')')$$, :app_a),
	'42501', format('login role "tap_alice" reviewed application %s and may not also decide it', :app_a),
	'nor as herself');
SELECT throws_ok(format($$SELECT pg_temp.run_as('tap_alice', 'tap_bob', 'SELECT miaopi.act(%s, ''reject'', ''不行'')')$$, :app_a),
	'42501', NULL, 'nor by SET ROLE to a colleague she is not a member of');
GRANT tap_bob TO tap_alice;
SELECT throws_ok(format($$SELECT pg_temp.run_as('tap_alice', 'tap_bob', 'SELECT miaopi.act(%s, ''reject'', ''不行'')')$$, :app_a),
	'42501', format('login role "tap_alice" reviewed application %s and may not also decide it', :app_a),
	'nor as a colleague whose role she may SET');
REVOKE tap_bob FROM tap_alice;
SELECT is(pg_temp.state(), :'before', 'the refused decisions changed nothing');
SELECT is(pg_temp.run_as('tap_bob', 'miaopi_reviewer', format('SELECT miaopi.act(%s, ''approve'')', :app_a)),
	'approved', 'bob approves as the same role name alice reviewed as: another person');
SELECT results_eq(format($$SELECT action, actor, session_actor FROM miaopi.event
	WHERE application_id = %s AND action IN ('review', 'approve') ORDER BY id$$, :app_a),
	$$VALUES ('review', 'miaopi_reviewer', 'tap_alice'), ('approve', 'miaopi_reviewer', 'tap_bob')$$,
	'events name the role and the person');

-- ===== The admin =====
SELECT is(pg_temp.run_as('tap_admin', NULL, $$SELECT string_agg(service || ' ' || version, ',') FROM miaopi.load_rules((SELECT source FROM miaopi.ruleset WHERE service_code = 'roles-b' ORDER BY version DESC LIMIT 1))$$),
	'roles-b 2', 'an admin loads rules');
DELETE FROM miaopi.scope WHERE role = 'miaopi_admin';
INSERT INTO miaopi.scope (role, action, department) VALUES ('miaopi_admin', 'load', '乙局');
SELECT pg_temp.state() AS before \gset
SELECT throws_ok($$SELECT pg_temp.run_as('tap_admin', NULL, $q$SELECT count(*) FROM miaopi.load_rules((SELECT source FROM miaopi.ruleset WHERE service_code = 'roles-a' ORDER BY version DESC LIMIT 1))$q$)$$,
	'42501', 'role "tap_admin" may not load rules for service "roles-a"',
	'an admin may not load rules outside its department');
SELECT throws_ok($$SELECT pg_temp.run_as('tap_admin', NULL, $q$SELECT count(*) FROM miaopi.load_rules(replace((SELECT source FROM miaopi.ruleset WHERE service_code = 'roles-a' ORDER BY version DESC LIMIT 1), '甲局', '乙局'))$q$)$$,
	'42501', 'role "tap_admin" may not load rules for service "roles-a"',
	'nor move another department''s service into its own');
SELECT throws_ok($$SELECT pg_temp.run_as('tap_admin', NULL, $q$SELECT count(*) FROM miaopi.load_rules(replace((SELECT source FROM miaopi.ruleset WHERE service_code = 'roles-b' ORDER BY version DESC LIMIT 1), '乙局', '甲局'))$q$)$$,
	'42501', 'role "tap_admin" may not load rules for service "roles-b"',
	'nor move its own service to another department');
SELECT throws_ok($$SELECT pg_temp.run_as('tap_admin', NULL, 'SELECT count(*) FROM miaopi.application')$$,
	'42501', NULL, 'an admin reads no application');
SELECT throws_ok($$SELECT pg_temp.exec_as('tap_admin', 'TRUNCATE miaopi.scope')$$,
	'42501', NULL, 'scopes are not truncated');
SELECT throws_ok($$SELECT pg_temp.run_as('tap_admin', NULL, $q$INSERT INTO miaopi.scope (role, action) VALUES ('no_such_role', 'act') RETURNING role$q$)$$,
	'42704', 'role "no_such_role" does not exist', 'a scope names an existing role');
SELECT throws_ok($$SELECT pg_temp.run_as('tap_admin', NULL, $q$INSERT INTO miaopi.scope (role, action) VALUES ('tap_bob', 'approve') RETURNING role$q$)$$,
	'23514', NULL, 'a scope''s action is load, act or submit');
SELECT is(pg_temp.state(), :'before', 'the admin''s refused attempts changed nothing');
SELECT is(pg_temp.run_as('tap_admin', NULL, $$INSERT INTO miaopi.scope (role, action, service_code, granted_by)
	VALUES ('tap_bob', 'act', 'roles-b', 'someone else') RETURNING granted_by$$),
	'tap_admin', 'an admin adds a scope; miaopi writes who did');
SELECT is((SELECT actor || ' ' || session_actor FROM miaopi.event WHERE coalesce(application_id, 0) = 0
	AND action = 'scope_grant' AND detail->>'role' = 'tap_bob'), 'tap_admin tap_admin',
	'and records it');

-- ===== The analyst =====
SELECT throws_ok($$SELECT pg_temp.run_as('tap_analyst', NULL, 'SELECT max(applicant_id) FROM miaopi.application')$$,
	'42501', NULL, 'an analyst reads no applicant id');
SELECT throws_ok($$SELECT pg_temp.run_as('tap_analyst', NULL, 'SELECT max(payload::text) FROM miaopi.application')$$,
	'42501', NULL, 'nor a payload');
SELECT throws_ok($$SELECT pg_temp.run_as('tap_analyst', NULL, 'SELECT max(comment) FROM miaopi.event')$$,
	'42501', NULL, 'nor the events');
SELECT throws_ok($$SELECT pg_temp.run_as('tap_analyst', NULL, 'SELECT max(application) FROM miaopi.clock')$$,
	'42501', NULL, 'nor the clock');
SELECT throws_ok($$SELECT pg_temp.run_as('tap_analyst', NULL, $q$SELECT miaopi.explain(1)::text$q$)$$,
	'42501', NULL, 'nor an application''s reasons');
SELECT is(pg_temp.run_as('tap_analyst', NULL, $$SELECT string_agg(service || ':' || submitted, ',' ORDER BY service) FROM miaopi.stats_service WHERE service LIKE 'roles-%'$$),
	(SELECT string_agg(service_code || ':' || n, ',' ORDER BY service_code)
	 FROM (SELECT service_code, count(*) AS n FROM miaopi.application WHERE service_code LIKE 'roles-%' GROUP BY 1) c),
	'an analyst reads the statistics');
SELECT lives_ok($$SELECT pg_temp.run_as('tap_analyst', NULL, $q$SELECT count(*)::text FROM miaopi.stats_daily, miaopi.stats_checks, miaopi.stats_time_limits, miaopi.stats_channels$q$)$$,
	'every statistics view');
SELECT is(pg_temp.run_as('tap_analyst', NULL, format('SELECT count(*)::text FROM miaopi.replay(%L)', (SELECT source FROM miaopi.ruleset WHERE service_code = 'roles-b' ORDER BY version DESC LIMIT 1))),
	'0', 'and replays rules');

-- ===== Rows that are never lost or forged, even by a superuser =====
SELECT pg_temp.state() AS before \gset
SELECT throws_ok($$DELETE FROM miaopi.application$$, '42501', 'rows of miaopi.application cannot be deleted',
	'applications are never deleted');
SELECT throws_ok($$TRUNCATE miaopi.application$$, '42501', 'rows of miaopi.application cannot be truncated',
	'nor truncated');
SELECT throws_ok($$UPDATE miaopi.ruleset SET source = ''$$, '42501', 'rulesets cannot be changed or deleted',
	'rulesets are never changed');
SELECT throws_ok($$DELETE FROM miaopi.ruleset$$, '42501', 'rulesets cannot be changed or deleted',
	'nor deleted');
SET LOCAL client_min_messages = warning;
SELECT throws_ok($$TRUNCATE miaopi.ruleset CASCADE$$, '42501', 'rulesets cannot be changed or deleted',
	'nor truncated, with their services');
SELECT throws_ok($$TRUNCATE miaopi.service CASCADE$$, '42501', 'rulesets cannot be changed or deleted',
	'truncating the services would take the rulesets: refused');
SELECT throws_ok($$UPDATE miaopi.event SET comment = 'edited'$$, '42501', 'miaopi.event is append-only',
	'events are never changed');
SELECT throws_ok($$DELETE FROM miaopi.event$$, '42501', 'miaopi.event is append-only', 'nor deleted');
SELECT throws_ok($$TRUNCATE miaopi.event$$, '42501', 'miaopi.event is append-only', 'nor truncated');
SET session_replication_role = replica;
SELECT throws_ok($$DELETE FROM miaopi.application$$, '42501', NULL, 'the guards fire under replica too: DELETE');
SELECT throws_ok($$UPDATE miaopi.application SET status = 'approved'$$, '42501', NULL, 'UPDATE');
SELECT throws_ok($$TRUNCATE miaopi.event$$, '42501', NULL, 'TRUNCATE of events');
SELECT throws_ok($$UPDATE miaopi.event SET actor = 'x'$$, '42501', NULL, 'UPDATE of events');
SELECT throws_ok($$DELETE FROM miaopi.ruleset$$, '42501', NULL, 'DELETE of rulesets');
SELECT throws_ok($$INSERT INTO miaopi.application (id, service_code, applicant_id, payload) OVERRIDING SYSTEM VALUE
	VALUES (99999, 'roles-b', 'x', '{"n": 1}')$$, '42501', 'an application''s id is chosen by miaopi',
	'and no id is chosen under replica');
RESET session_replication_role;
SELECT throws_ok($$INSERT INTO miaopi.application (id, service_code, applicant_id, payload) OVERRIDING SYSTEM VALUE
	VALUES (99999, 'roles-b', 'x', '{"n": 1}')$$, '42501', 'an application''s id is chosen by miaopi',
	'not even by a superuser, for an application to decide');
SELECT is(pg_temp.state(), :'before', 'no row was lost, changed or forged');

-- ===== The UPDATE guard lets miaopi move one row, not whatever else runs meanwhile =====
-- (a trigger someone added that, while act() moves one application, moves another)
SELECT id AS other FROM miaopi.application WHERE service_code = 'roles-b' ORDER BY id LIMIT 1 \gset
SELECT id AS moved FROM miaopi.application WHERE service_code = 'roles-a' AND status = 'pending' ORDER BY id LIMIT 1 \gset
CREATE FUNCTION public.tap_piggyback() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
	UPDATE miaopi.application SET status = 'rejected'
	WHERE id OPERATOR(pg_catalog.=) current_setting('tap.other')::bigint;
	RETURN NEW;
END
$$;
CREATE TRIGGER a_piggyback BEFORE UPDATE ON miaopi.application
	FOR EACH ROW WHEN (pg_trigger_depth() OPERATOR(pg_catalog.<) 1) EXECUTE FUNCTION public.tap_piggyback();
SELECT set_config('tap.other', :'other', true) IS NOT NULL AS other_set \gset
SELECT pg_temp.state() AS before \gset
SELECT throws_ok(format('SELECT miaopi.act(%s, ''accept'')', :moved), '42501',
	'column "status" of an application can only be changed by miaopi',
	'an UPDATE of another row while miaopi moves one is refused');
SELECT is(pg_temp.state(), :'before', 'and neither row moved');
DROP TRIGGER a_piggyback ON miaopi.application;

-- ===== Hostile objects first on the caller's search_path never run =====
CREATE TABLE public.tap_hostile_ran (what text, who name DEFAULT current_user);
GRANT INSERT, SELECT ON public.tap_hostile_ran TO PUBLIC;
CREATE FUNCTION public.tap_text_eq(text, text) RETURNS boolean LANGUAGE plpgsql AS
$$BEGIN INSERT INTO public.tap_hostile_ran (what) VALUES ('text ='); RETURN $1 OPERATOR(pg_catalog.=) $2; END$$;
CREATE OPERATOR public.= (LEFTARG = text, RIGHTARG = text, FUNCTION = public.tap_text_eq);
CREATE FUNCTION public.tap_int8_eq(bigint, bigint) RETURNS boolean LANGUAGE plpgsql AS
$$BEGIN INSERT INTO public.tap_hostile_ran (what) VALUES ('bigint ='); RETURN $1 OPERATOR(pg_catalog.=) $2; END$$;
CREATE OPERATOR public.= (LEFTARG = bigint, RIGHTARG = bigint, FUNCTION = public.tap_int8_eq);
CREATE FUNCTION public.tap_int_pl(int, int) RETURNS int LANGUAGE plpgsql AS
$$BEGIN INSERT INTO public.tap_hostile_ran (what) VALUES ('int +'); RETURN $1 OPERATOR(pg_catalog.+) $2; END$$;
CREATE OPERATOR public.+ (LEFTARG = int, RIGHTARG = int, FUNCTION = public.tap_int_pl);
CREATE FUNCTION public.tap_date_le(date, date) RETURNS boolean LANGUAGE plpgsql AS
$$BEGIN INSERT INTO public.tap_hostile_ran (what) VALUES ('date <='); RETURN $1 OPERATOR(pg_catalog.<=) $2; END$$;
CREATE OPERATOR public.<= (LEFTARG = date, RIGHTARG = date, FUNCTION = public.tap_date_le);
CREATE FUNCTION public.now() RETURNS timestamptz LANGUAGE plpgsql AS
$$BEGIN INSERT INTO public.tap_hostile_ran (what) VALUES ('now'); RETURN pg_catalog.now(); END$$;
CREATE FUNCTION public.max(int) RETURNS int LANGUAGE sql AS $$SELECT 1$$;
GRANT miaopi_reviewer TO tap_admin;
INSERT INTO miaopi.scope (role, action) VALUES ('miaopi_admin', 'load'), ('miaopi_reviewer', 'act');
-- the calendar cache is rebuilt inside the calls below
INSERT INTO miaopi.calendar_day VALUES ('cn', '2030-01-02', 'holiday', 'tap');

SELECT is(pg_temp.run_as('tap_agency', NULL, $$INSERT INTO miaopi.application (service_code, applicant_id, payload)
	VALUES ('roles-b', 'x', '{"n": 1}') RETURNING status$$, true), 'approved', 'hostile path: INSERT decided by the machine');
SELECT is(pg_temp.run_as('tap_agency', NULL, $$INSERT INTO miaopi.application (service_code, applicant_id, payload)
	VALUES ('roles-a', 'x', '{"n": 1}') RETURNING status$$, true), 'pending', 'hostile path: INSERT queued for people');
SELECT id AS app_h FROM miaopi.application WHERE service_code = 'roles-a' ORDER BY id DESC LIMIT 1 \gset
INSERT INTO miaopi.calendar_day VALUES ('cn', '2030-01-03', 'holiday', 'tap');
SELECT is(pg_temp.run_as('tap_alice', NULL, format('SELECT miaopi.act(%s, ''accept'')', :app_h), true),
	'accepted', 'hostile path: act');
SELECT is(pg_temp.run_as('tap_alice', NULL, format('SELECT miaopi.pause(%s, ''inspection'')::text', :app_h), true),
	'', 'hostile path: pause');
SET miaopi.clock_now = '2026-03-04 10:00+08';
SELECT is(pg_temp.run_as('tap_alice', NULL, format('SELECT miaopi.resume(%s)::text', :app_h), true),
	'2', 'hostile path: resume');
SELECT isnt(pg_temp.run_as('tap_alice', NULL, format('SELECT miaopi.extend(%s, 5, ''专家评审'')::text', :app_h), true),
	NULL, 'hostile path: extend');
SELECT isnt(pg_temp.run_as('tap_admin', NULL, 'SELECT miaopi.sweep()::text', true), NULL, 'hostile path: sweep');
SELECT source AS source_a FROM miaopi.ruleset WHERE service_code = 'roles-a' ORDER BY version DESC LIMIT 1 \gset
SELECT is(pg_temp.run_as('tap_admin', NULL, format('SELECT service FROM miaopi.load_rules(%L)', :'source_a'), true),
	'roles-a', 'hostile path: load_rules');
SELECT is(pg_temp.run_as('tap_agency', NULL, $$SELECT miaopi.evaluate('roles-b', 'x', '{"n": 1}')->>'decision'$$, true),
	'approve', 'hostile path: evaluate');
SELECT is((SELECT string_agg(DISTINCT what || ' by ' || who, ', ') FROM public.tap_hostile_ran), NULL,
	'no hostile function or operator ever ran');

SELECT * FROM finish();
ROLLBACK;
