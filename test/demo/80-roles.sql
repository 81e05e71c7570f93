-- make demo, section 80: roles, scopes and four eyes.  Self-contained: its own
-- two services, people who are members of miaopi's roles, and what each of
-- them may and may not do.
\echo
\echo '== Roles and scopes: who may do what'
SET client_min_messages = warning;
SELECT 'miaopi_admin, miaopi_agency, miaopi_reviewer, miaopi_analyst' AS "create_roles(): NOLOGIN roles" FROM miaopi.create_roles();

SELECT service, version FROM miaopi.load_rules($y$
service: demo-roles-permit
name: 示范许可
department: 示范局
kind: licence
time_limit: {statutory: 20, promised: 5}
auto_approve: false
fields:
  n: {type: int, required: true}
checks:
  - {id: positive, rule: payload.n > 0, on_fail: reject}
---
service: demo-roles-filing
name: 示范备案
department: 另一局
kind: filing
time_limit: {statutory: 5, promised: 1}
auto_approve: true
fields:
  n: {type: int, required: true}
checks:
  - {id: small, rule: payload.n < 10, on_fail: manual}
$y$);

DO $$BEGIN
	IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = 'demo_agency') THEN
		CREATE ROLE demo_agency LOGIN IN ROLE miaopi_agency;
		CREATE ROLE demo_alice LOGIN IN ROLE miaopi_reviewer;
		CREATE ROLE demo_bob LOGIN IN ROLE miaopi_reviewer;
		CREATE ROLE demo_carol LOGIN IN ROLE miaopi_reviewer;
		CREATE ROLE demo_analyst LOGIN IN ROLE miaopi_analyst;
	END IF;
END$$;
-- reviewers act on 示范局's services only
DELETE FROM miaopi.scope WHERE role = 'miaopi_reviewer';
INSERT INTO miaopi.scope (role, action, department) VALUES ('miaopi_reviewer', 'act', '示范局');
\echo 'scopes'
SELECT role, action, coalesce(department, '(all)') AS department, coalesce(service_code, '(all)') AS service,
	granted_by
FROM miaopi.scope ORDER BY role, action;

-- try(who, what, sql): what happened when a person ran sql
CREATE FUNCTION pg_temp.try(who text, what text, q text)
RETURNS TABLE (person text, attempt text, outcome text) LANGUAGE plpgsql AS $$
DECLARE
	r text;
BEGIN
	person := who;
	attempt := what;
	BEGIN
		EXECUTE format('SET LOCAL SESSION AUTHORIZATION %I', who);
		EXECUTE q INTO r;
		RESET SESSION AUTHORIZATION;
		outcome := 'done' || coalesce(': ' || r, '');
	EXCEPTION WHEN OTHERS THEN
		outcome := 'refused ' || SQLSTATE || ': ' || SQLERRM;
	END;
	RETURN NEXT;
END
$$;
INSERT INTO miaopi.application (service_code, applicant_id, payload)
VALUES ('demo-roles-permit', '91350100M000100Y43', '{"n": 1}') RETURNING id AS demo_permit \gset
SELECT miaopi.act(:demo_permit, 'accept') IS NOT NULL AS accepted \gset

\echo 'what each person may and may not do'
\pset format aligned
SELECT * FROM pg_temp.try('demo_agency', 'submit a filing',
	$$INSERT INTO miaopi.application (service_code, applicant_id, payload) VALUES ('demo-roles-filing', 'x', '{"n": 1}') RETURNING status$$)
UNION ALL SELECT * FROM pg_temp.try('demo_agency', 'approve it by UPDATE',
	$$UPDATE miaopi.application SET status = 'approved' WHERE service_code = 'demo-roles-permit' RETURNING status$$)
UNION ALL SELECT * FROM pg_temp.try('demo_agency', 'choose an application id',
	$$INSERT INTO miaopi.application (id, service_code, applicant_id, payload) OVERRIDING SYSTEM VALUE VALUES (999999, 'demo-roles-filing', 'x', '{"n": 1}') RETURNING id$$)
UNION ALL SELECT * FROM pg_temp.try('demo_alice', 'review the permit',
	format($$SELECT miaopi.act(%s, 'review')$$, :demo_permit))
UNION ALL SELECT * FROM pg_temp.try('demo_alice', 'approve what she reviewed',
	format($$SELECT miaopi.act(%s, 'approve')$$, :demo_permit))
UNION ALL SELECT * FROM pg_temp.try('demo_carol', 'act on the other department''s filing',
	$$SELECT miaopi.act((SELECT max(id) FROM miaopi.application WHERE service_code = 'demo-roles-filing'), 'deliver')$$)
UNION ALL SELECT * FROM pg_temp.try('demo_bob', 'approve the permit alice reviewed',
	format($$SELECT miaopi.act(%s, 'approve')$$, :demo_permit))
UNION ALL SELECT * FROM pg_temp.try('demo_bob', 'load rules',
	$$SELECT count(*) FROM miaopi.load_rules('service: x')$$)
UNION ALL SELECT * FROM pg_temp.try('demo_analyst', 'read applicant ids',
	$$SELECT count(applicant_id) FROM miaopi.application$$)
UNION ALL SELECT * FROM pg_temp.try('demo_bob', 'edit an event',
	$$UPDATE miaopi.event SET comment = 'x' RETURNING id$$)
UNION ALL SELECT * FROM pg_temp.try('postgres', 'delete applications (superuser)',
	$$DELETE FROM miaopi.application RETURNING id$$);

\echo 'the permit''s events name the role and the person'
SELECT action, actor, session_actor, from_status, to_status
FROM miaopi.event WHERE application_id = :demo_permit ORDER BY id;
RESET client_min_messages;
