-- 1.1: rows that are never lost or forged, restores that keep every decision,
-- roles, scopes and four eyes by person.
--
-- roles: every grant is a row of miaopi.role_grant below; create_roles() applies
-- the rows whose object exists, so fragments after this one only add rows (or
-- find theirs already listed: the "-- roles:" lines of 20-ledger, 30-licence,
-- 40-stats and 50-policy are all here).  create_roles() also takes EXECUTE
-- from PUBLIC on every miaopi function role_grant does not give PUBLIC.
--
-- Guards.  application refuses DELETE and TRUNCATE, ruleset UPDATE, DELETE and
-- TRUNCATE, event UPDATE, DELETE and TRUNCATE; every guard and the decision
-- trigger fire ALWAYS, so session_replication_role = replica skips none.

CREATE FUNCTION miaopi.keep_rows()
RETURNS trigger
AS 'MODULE_PATHNAME', 'miaopi_keep_rows'
LANGUAGE C VOLATILE PARALLEL UNSAFE;
COMMENT ON FUNCTION miaopi.keep_rows() IS
	'Trigger: refuses DELETE and TRUNCATE of a table miaopi never loses a row of (argument: why)';
REVOKE ALL ON FUNCTION miaopi.keep_rows() FROM PUBLIC;

CREATE TRIGGER application_keep
	BEFORE DELETE ON miaopi.application
	FOR EACH ROW EXECUTE FUNCTION miaopi.keep_rows('Every application is kept: it records what was submitted and how it was decided.');
COMMENT ON TRIGGER application_keep ON miaopi.application IS
	'Applications are never deleted';
CREATE TRIGGER application_no_truncate
	BEFORE TRUNCATE ON miaopi.application
	FOR EACH STATEMENT EXECUTE FUNCTION miaopi.keep_rows('Every application is kept: it records what was submitted and how it was decided.');
COMMENT ON TRIGGER application_no_truncate ON miaopi.application IS
	'Applications are never removed';
CREATE TRIGGER ruleset_no_truncate
	BEFORE TRUNCATE ON miaopi.ruleset
	FOR EACH STATEMENT EXECUTE FUNCTION miaopi.ruleset_immutable();
COMMENT ON TRIGGER ruleset_no_truncate ON miaopi.ruleset IS
	'Rulesets are never removed (nor, by cascade, the services they belong to)';

ALTER TABLE miaopi.application ENABLE ALWAYS TRIGGER application_decide;
ALTER TABLE miaopi.application ENABLE ALWAYS TRIGGER application_guard;
ALTER TABLE miaopi.application ENABLE ALWAYS TRIGGER application_keep;
ALTER TABLE miaopi.application ENABLE ALWAYS TRIGGER application_no_truncate;
ALTER TABLE miaopi.ruleset ENABLE ALWAYS TRIGGER ruleset_immutable;
ALTER TABLE miaopi.ruleset ENABLE ALWAYS TRIGGER ruleset_no_truncate;
ALTER TABLE miaopi.event ENABLE ALWAYS TRIGGER event_append_only;
ALTER TABLE miaopi.event ENABLE ALWAYS TRIGGER event_no_truncate;

COMMENT ON TRIGGER application_decide ON miaopi.application IS
	'Decides every new application; a row arriving already decided from a role that owns miaopi''s tables (a restore) is kept as it is';
COMMENT ON TRIGGER application_guard ON miaopi.application IS
	'Only miaopi''s functions change an application, one row at a time';
COMMENT ON TRIGGER ruleset_immutable ON miaopi.ruleset IS
	'Rulesets are never changed or deleted';

/*
 * Restores.  The foreign key service.current_ruleset -> ruleset made a cycle
 * with ruleset.service_code -> service that no data-only restore order can
 * satisfy; load_rules, which stores the ruleset and then points its service
 * at it in one transaction, is the only writer of current_ruleset.
 */
ALTER TABLE miaopi.service DROP CONSTRAINT service_current_ruleset_fkey;
COMMENT ON COLUMN miaopi.service.current_ruleset IS
	'The ruleset that decides new applications; written only by load_rules, after storing that ruleset';

-- ====================================================================
-- Four eyes by person: events name the login role too
-- ====================================================================

ALTER TABLE miaopi.event ADD COLUMN IF NOT EXISTS session_actor text;
ALTER TABLE miaopi.event ALTER COLUMN session_actor SET DEFAULT session_user;
COMMENT ON COLUMN miaopi.event.session_actor IS
	'The login role (session_user) that acted, whatever SET ROLE said; NULL for events recorded before 1.1';

-- ====================================================================
-- Scopes: which role may load, act on or submit to which services
-- ====================================================================

CREATE TABLE miaopi.scope (
	role			name NOT NULL,
	action			text NOT NULL,
	department		text,
	service_code	text,
	granted_at		timestamptz,
	granted_by		text,
	CONSTRAINT scope_action_valid
		CHECK (action OPERATOR(pg_catalog.=) ANY (ARRAY['load', 'act', 'submit']::text[])),
	CONSTRAINT scope_unique
		UNIQUE NULLS NOT DISTINCT (role, action, department, service_code)
);
COMMENT ON TABLE miaopi.scope IS
	'What each role (and every role that is a member of it) may do: load rules for, act on, or submit applications to the services of a department, or one service; NULL means all';
COMMENT ON COLUMN miaopi.scope.role IS 'The role the scope is for; members of the role have it too';
COMMENT ON COLUMN miaopi.scope.action IS 'load (load_rules), act (act, pause, resume, extend) or submit (INSERT into miaopi.application)';
COMMENT ON COLUMN miaopi.scope.department IS 'The services'' department (miaopi.service.department); NULL for every department';
COMMENT ON COLUMN miaopi.scope.service_code IS 'One service; NULL for every service (of the department)';
COMMENT ON COLUMN miaopi.scope.granted_at IS 'Set by miaopi when the scope was added or changed';
COMMENT ON COLUMN miaopi.scope.granted_by IS 'The role that added or changed the scope, set by miaopi';
SELECT pg_catalog.pg_extension_config_dump('miaopi.scope', '');
REVOKE ALL ON miaopi.scope FROM PUBLIC;

CREATE FUNCTION miaopi.scope_record()
RETURNS trigger
AS 'MODULE_PATHNAME', 'miaopi_scope_record'
LANGUAGE C VOLATILE PARALLEL UNSAFE;
COMMENT ON FUNCTION miaopi.scope_record() IS
	'Trigger: checks a scope''s role, stamps granted_at and granted_by and records the change as an event';
REVOKE ALL ON FUNCTION miaopi.scope_record() FROM PUBLIC;

CREATE TRIGGER scope_record
	BEFORE INSERT OR UPDATE OR DELETE ON miaopi.scope
	FOR EACH ROW EXECUTE FUNCTION miaopi.scope_record();
COMMENT ON TRIGGER scope_record ON miaopi.scope IS
	'Every scope change is an event (application_id 0)';
CREATE TRIGGER scope_no_truncate
	BEFORE TRUNCATE ON miaopi.scope
	FOR EACH STATEMENT EXECUTE FUNCTION miaopi.keep_rows('Each scope removal is recorded as an event; DELETE the rows instead.');
COMMENT ON TRIGGER scope_no_truncate ON miaopi.scope IS
	'Scopes are removed row by row, so that each removal is recorded';
CREATE TRIGGER scope_invalidate_cache
	AFTER INSERT OR UPDATE OR DELETE OR TRUNCATE ON miaopi.scope
	FOR EACH STATEMENT EXECUTE FUNCTION miaopi.invalidate_cache();
COMMENT ON TRIGGER scope_invalidate_cache ON miaopi.scope IS
	'Every backend checks scopes against the new rows from its next statement on';
ALTER TABLE miaopi.scope ENABLE ALWAYS TRIGGER scope_record;
ALTER TABLE miaopi.scope ENABLE ALWAYS TRIGGER scope_no_truncate;
ALTER TABLE miaopi.scope ENABLE ALWAYS TRIGGER scope_invalidate_cache;

-- ====================================================================
-- Roles
-- ====================================================================

/*
 * The grants create_roles() gives, one row each.  kind: function (every
 * function of that name in schema miaopi), table (a table, view or sequence
 * miaopi.<name>) or schema.  A row whose object does not exist (a feature not
 * installed) is skipped.  role public is PUBLIC.
 */
CREATE TABLE miaopi.role_grant (
	role		name NOT NULL,
	privilege	text NOT NULL,
	kind		text NOT NULL,
	object		text NOT NULL,
	PRIMARY KEY (role, privilege, kind, object),
	CONSTRAINT role_grant_kind_valid
		CHECK (kind OPERATOR(pg_catalog.=) ANY (ARRAY['function', 'table', 'schema']::text[]))
);
COMMENT ON TABLE miaopi.role_grant IS
	'What create_roles() grants to each of miaopi''s roles (and to PUBLIC); a row for an object that does not exist is skipped';
REVOKE ALL ON miaopi.role_grant FROM PUBLIC;

INSERT INTO miaopi.role_grant (role, privilege, kind, object) VALUES
	-- anyone: public facts and pure checks
	('public', 'USAGE', 'schema', 'miaopi'),
	('public', 'SELECT', 'table', 'calendar'),
	('public', 'SELECT', 'table', 'calendar_day'),
	('public', 'EXECUTE', 'function', 'is_working_day'),
	('public', 'EXECUTE', 'function', 'add_working_days'),
	('public', 'EXECUTE', 'function', 'working_days_between'),
	('public', 'EXECUTE', 'function', 'is_provisional'),
	('public', 'EXECUTE', 'function', 'uscc_valid'),
	('public', 'EXECUTE', 'function', 'idcard_valid'),
	('public', 'EXECUTE', 'function', 'idcard_birth_date'),
	('public', 'EXECUTE', 'function', 'verify_licence'),
	-- pure, and run as whoever inserts by the generated column application.not_passed
	('public', 'EXECUTE', 'function', 'not_passed'),
	-- admin: rules, calendars, scopes, the ledger, policy pushes
	('miaopi_admin', 'EXECUTE', 'function', 'now'),
	('miaopi_admin', 'EXECUTE', 'function', 'load_rules'),
	('miaopi_admin', 'EXECUTE', 'function', 'evaluate'),
	('miaopi_admin', 'EXECUTE', 'function', 'sweep'),
	('miaopi_admin', 'SELECT', 'table', 'service'),
	('miaopi_admin', 'SELECT', 'table', 'ruleset'),
	('miaopi_admin', 'INSERT', 'table', 'calendar'),
	('miaopi_admin', 'UPDATE', 'table', 'calendar'),
	('miaopi_admin', 'DELETE', 'table', 'calendar'),
	('miaopi_admin', 'INSERT', 'table', 'calendar_day'),
	('miaopi_admin', 'UPDATE', 'table', 'calendar_day'),
	('miaopi_admin', 'DELETE', 'table', 'calendar_day'),
	('miaopi_admin', 'SELECT', 'table', 'scope'),
	('miaopi_admin', 'INSERT', 'table', 'scope'),
	('miaopi_admin', 'UPDATE', 'table', 'scope'),
	('miaopi_admin', 'DELETE', 'table', 'scope'),
	('miaopi_admin', 'EXECUTE', 'function', 'verify_events'),
	('miaopi_admin', 'EXECUTE', 'function', 'verify_ledger'),
	('miaopi_admin', 'EXECUTE', 'function', 'digest'),
	('miaopi_admin', 'EXECUTE', 'function', 'seal'),
	('miaopi_admin', 'EXECUTE', 'function', 'push'),
	-- agency: submit, pre-check, read applications and licences, policies
	('miaopi_agency', 'EXECUTE', 'function', 'now'),
	('miaopi_agency', 'INSERT', 'table', 'application'),
	('miaopi_agency', 'SELECT', 'table', 'application'),
	('miaopi_agency', 'SELECT', 'table', 'clock'),
	('miaopi_agency', 'EXECUTE', 'function', 'clock_columns'),
	('miaopi_agency', 'EXECUTE', 'function', 'verify_light'),
	('miaopi_agency', 'SELECT', 'table', 'service'),
	('miaopi_agency', 'EXECUTE', 'function', 'evaluate'),
	('miaopi_agency', 'EXECUTE', 'function', 'explain'),
	('miaopi_agency', 'SELECT', 'table', 'licence'),
	('miaopi_agency', 'SELECT', 'table', 'licence_event'),
	('miaopi_agency', 'EXECUTE', 'function', 'licence_valid'),
	('miaopi_agency', 'EXECUTE', 'function', 'notice'),
	('miaopi_agency', 'SELECT', 'table', 'policy_match'),
	('miaopi_agency', 'EXECUTE', 'function', 'match'),
	('miaopi_agency', 'EXECUTE', 'function', 'confirm'),
	('miaopi_agency', 'EXECUTE', 'function', 'apply_all'),
	-- reviewer: the workflow, the clock, licence status changes
	('miaopi_reviewer', 'EXECUTE', 'function', 'now'),
	('miaopi_reviewer', 'SELECT', 'table', 'application'),
	('miaopi_reviewer', 'SELECT', 'table', 'event'),
	('miaopi_reviewer', 'SELECT', 'table', 'service'),
	('miaopi_reviewer', 'SELECT', 'table', 'clock'),
	('miaopi_reviewer', 'EXECUTE', 'function', 'clock_columns'),
	('miaopi_reviewer', 'EXECUTE', 'function', 'verify_light'),
	('miaopi_reviewer', 'EXECUTE', 'function', 'explain'),
	('miaopi_reviewer', 'EXECUTE', 'function', 'act'),
	('miaopi_reviewer', 'EXECUTE', 'function', 'pause'),
	('miaopi_reviewer', 'EXECUTE', 'function', 'resume'),
	('miaopi_reviewer', 'EXECUTE', 'function', 'extend'),
	('miaopi_reviewer', 'SELECT', 'table', 'licence'),
	('miaopi_reviewer', 'SELECT', 'table', 'licence_event'),
	('miaopi_reviewer', 'SELECT', 'table', 'licence_use'),
	('miaopi_reviewer', 'EXECUTE', 'function', 'licence_valid'),
	('miaopi_reviewer', 'EXECUTE', 'function', 'suspend_licence'),
	('miaopi_reviewer', 'EXECUTE', 'function', 'reinstate_licence'),
	('miaopi_reviewer', 'EXECUTE', 'function', 'revoke_licence'),
	('miaopi_reviewer', 'EXECUTE', 'function', 'cancel_licence'),
	('miaopi_reviewer', 'EXECUTE', 'function', 'notice'),
	-- analyst: statistics and replay, nothing that names a person
	('miaopi_analyst', 'EXECUTE', 'function', 'now'),
	('miaopi_analyst', 'SELECT', 'table', 'stats_service'),
	('miaopi_analyst', 'SELECT', 'table', 'stats_daily'),
	('miaopi_analyst', 'SELECT', 'table', 'stats_checks'),
	('miaopi_analyst', 'SELECT', 'table', 'stats_time_limits'),
	('miaopi_analyst', 'SELECT', 'table', 'stats_channels'),
	('miaopi_analyst', 'EXECUTE', 'function', 'replay'),
	('miaopi_analyst', 'EXECUTE', 'function', 'ruleset_checks'),
	('miaopi_analyst', 'EXECUTE', 'function', 'local_date'),
	('miaopi_analyst', 'EXECUTE', 'function', 'clock_columns'),
	('miaopi_analyst', 'EXECUTE', 'function', 'verify_events'),
	('miaopi_analyst', 'EXECUTE', 'function', 'verify_ledger');

CREATE FUNCTION miaopi.create_roles()
RETURNS void
LANGUAGE plpgsql VOLATILE PARALLEL UNSAFE
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
	r name;
	g record;
	f oid;
	rel regclass;
	grantee text;
	public_only text[];
BEGIN
	IF NOT (SELECT a.rolsuper FROM pg_catalog.pg_roles a
			WHERE a.rolname OPERATOR(pg_catalog.=) CURRENT_USER) THEN
		RAISE EXCEPTION USING
			ERRCODE = 'insufficient_privilege',
			MESSAGE = 'permission denied to create miaopi''s roles',
			DETAIL = 'miaopi.create_roles() creates roles and grants on miaopi''s objects.',
			HINT = 'Run it as a superuser.';
	END IF;

	FOREACH r IN ARRAY ARRAY['miaopi_admin', 'miaopi_agency', 'miaopi_reviewer', 'miaopi_analyst']::name[] LOOP
		IF NOT EXISTS (SELECT FROM pg_catalog.pg_roles a WHERE a.rolname OPERATOR(pg_catalog.=) r) THEN
			EXECUTE pg_catalog.format('CREATE ROLE %I NOLOGIN', r);
			EXECUTE pg_catalog.format('COMMENT ON ROLE %I IS %L', r,
				'miaopi: ' || CASE r
					WHEN 'miaopi_admin' THEN 'loads rules, keeps calendars and scopes'
					WHEN 'miaopi_agency' THEN 'submits and reads applications, reads licences'
					WHEN 'miaopi_reviewer' THEN 'acts on applications, suspends and revokes licences'
					ELSE 'reads statistics, replays rules; sees no person' END);
		END IF;
	END LOOP;

	-- PUBLIC keeps only what the list gives it
	FOR f IN SELECT p.oid FROM pg_catalog.pg_proc p
			 WHERE p.pronamespace OPERATOR(pg_catalog.=) 'miaopi'::regnamespace
			   AND NOT EXISTS (SELECT FROM miaopi.role_grant rg
							   WHERE rg.role OPERATOR(pg_catalog.=) 'public'
								 AND rg.kind OPERATOR(pg_catalog.=) 'function'
								 AND rg.object OPERATOR(pg_catalog.=) p.proname::text) LOOP
		EXECUTE pg_catalog.format('REVOKE ALL ON FUNCTION %s FROM PUBLIC', f::regprocedure);
	END LOOP;
	FOR rel IN SELECT c.oid FROM pg_catalog.pg_class c
			   WHERE c.relnamespace OPERATOR(pg_catalog.=) 'miaopi'::regnamespace
				 AND c.relkind OPERATOR(pg_catalog.=) ANY (ARRAY['r', 'v', 'm', 'S', 'p']::"char"[])
				 AND NOT EXISTS (SELECT FROM miaopi.role_grant rg
								 WHERE rg.role OPERATOR(pg_catalog.=) 'public'
								   AND rg.kind OPERATOR(pg_catalog.=) 'table'
								   AND rg.object OPERATOR(pg_catalog.=) c.relname::text) LOOP
		EXECUTE pg_catalog.format('REVOKE ALL ON %s FROM PUBLIC', rel);
	END LOOP;

	FOR g IN SELECT rg.* FROM miaopi.role_grant rg ORDER BY rg.role, rg.kind, rg.object, rg.privilege LOOP
		grantee := CASE WHEN g.role OPERATOR(pg_catalog.=) 'public' THEN 'PUBLIC'
						ELSE pg_catalog.quote_ident(g.role) END;
		IF g.kind OPERATOR(pg_catalog.=) 'schema' THEN
			IF pg_catalog.to_regnamespace(g.object) IS NOT NULL THEN
				EXECUTE pg_catalog.format('GRANT %s ON SCHEMA %I TO %s', g.privilege, g.object, grantee);
			END IF;
		ELSIF g.kind OPERATOR(pg_catalog.=) 'table' THEN
			rel := pg_catalog.to_regclass('miaopi.' OPERATOR(pg_catalog.||) pg_catalog.quote_ident(g.object));
			IF rel IS NOT NULL THEN
				EXECUTE pg_catalog.format('GRANT %s ON %s TO %s', g.privilege, rel, grantee);
			END IF;
		ELSE
			FOR f IN SELECT p.oid FROM pg_catalog.pg_proc p
					 WHERE p.pronamespace OPERATOR(pg_catalog.=) 'miaopi'::regnamespace
					   AND p.proname OPERATOR(pg_catalog.=) g.object LOOP
				EXECUTE pg_catalog.format('GRANT %s ON FUNCTION %s TO %s', g.privilege, f::regprocedure, grantee);
			END LOOP;
		END IF;
		IF g.role OPERATOR(pg_catalog.<>) 'public' AND NOT EXISTS (
				SELECT FROM pg_catalog.pg_namespace n
				WHERE n.nspname OPERATOR(pg_catalog.=) 'miaopi'
				  AND pg_catalog.has_schema_privilege(g.role, n.oid, 'USAGE')) THEN
			EXECUTE pg_catalog.format('GRANT USAGE ON SCHEMA miaopi TO %I', g.role);
		END IF;
	END LOOP;

	-- the widest scopes; a DBA narrows them
	INSERT INTO miaopi.scope (role, action)
	SELECT s.role, s.action
	FROM (VALUES ('miaopi_admin'::name, 'load'::text), ('miaopi_reviewer', 'act'),
				 ('miaopi_agency', 'submit')) s (role, action)
	WHERE NOT EXISTS (SELECT FROM miaopi.scope x
					  WHERE x.role OPERATOR(pg_catalog.=) s.role
						AND x.action OPERATOR(pg_catalog.=) s.action
						AND x.department IS NULL AND x.service_code IS NULL);
END
$$;
COMMENT ON FUNCTION miaopi.create_roles() IS
	'Creates the NOLOGIN roles miaopi_admin, miaopi_agency, miaopi_reviewer and miaopi_analyst with their grants (miaopi.role_grant) and widest scopes; superuser only; safe to run again';
REVOKE ALL ON FUNCTION miaopi.create_roles() FROM PUBLIC;

-- Nothing for PUBLIC but what role_grant gives it (create_roles grants that).
DO $$
DECLARE
	f regprocedure;
BEGIN
	FOR f IN SELECT p.oid FROM pg_catalog.pg_proc p
			 WHERE p.pronamespace OPERATOR(pg_catalog.=) 'miaopi'::regnamespace
			   AND p.proname::text OPERATOR(pg_catalog.<>) ALL (ARRAY['is_working_day', 'add_working_days',
					'working_days_between', 'is_provisional', 'uscc_valid', 'idcard_valid',
					'idcard_birth_date', 'verify_licence']) LOOP
		EXECUTE pg_catalog.format('REVOKE ALL ON FUNCTION %s FROM PUBLIC', f);
	END LOOP;
END
$$;
