-- 1.1: e-licences (电子证照) and the one-time notice (一次性告知书).
--
-- roles: miaopi_agency SELECT miaopi.licence
-- roles: miaopi_agency EXECUTE miaopi.licence_valid(text, text, date)
-- roles: miaopi_agency EXECUTE miaopi.notice(bigint)
-- roles: miaopi_reviewer EXECUTE miaopi.suspend_licence(text, text)
-- roles: miaopi_reviewer EXECUTE miaopi.reinstate_licence(text, text)
-- roles: miaopi_reviewer EXECUTE miaopi.revoke_licence(text, text)
-- roles: miaopi_reviewer EXECUTE miaopi.cancel_licence(text, text)
-- roles: miaopi_reviewer EXECUTE miaopi.notice(bigint)
-- roles: miaopi_reviewer SELECT miaopi.licence, miaopi.licence_event
-- roles: PUBLIC EXECUTE miaopi.verify_licence(text), miaopi.mod37_36_check(text),
--   miaopi.licence_identifier_valid(text) (role_grant rows at the end of this file)
-- licence_use names the applications that relied on a licence: not granted.

CREATE TABLE miaopi.licence (
	id				bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
	number			text NOT NULL UNIQUE,
	identifier		text UNIQUE,
	type			text NOT NULL,
	name			text NOT NULL,
	service_code	text NOT NULL,
	application_id	bigint NOT NULL,
	holder_id		text NOT NULL,
	holder_name		text,
	holder_type		text NOT NULL,
	issued_at		timestamptz NOT NULL,
	valid_from		date NOT NULL,
	valid_until		date NOT NULL,
	status			text NOT NULL DEFAULT 'valid',
	data			jsonb NOT NULL DEFAULT '{}',
	previous		bigint,
	CONSTRAINT licence_status_valid
		CHECK (status IN ('valid', 'suspended', 'revoked', 'cancelled')),
	CONSTRAINT licence_holder_type_valid
		CHECK (holder_type IN ('001', '111', '999')),
	CONSTRAINT licence_period_valid
		CHECK (valid_until OPERATOR(pg_catalog.>=) valid_from)
);
COMMENT ON TABLE miaopi.licence IS
	'E-licences (电子证照) issued on approval; status changes only through miaopi''s licence functions (licence_event)';
COMMENT ON COLUMN miaopi.licence.identifier IS
	'GB/T 36904 identifier 1.2.156.3005.2.<type_code>.<issuer_code>.<serial>.<version>.<ISO/IEC 7064 MOD 37,36 check>, when the rules give the codes';
COMMENT ON COLUMN miaopi.licence.holder_type IS
	'001: unified social credit code; 111: resident ID number; 999: other';
COMMENT ON COLUMN miaopi.licence.status IS
	'valid, suspended (暂扣), revoked (吊销/撤销) or cancelled (注销); expired is derived from valid_until';
COMMENT ON COLUMN miaopi.licence.previous IS
	'The id of the licence this one renews (行政许可法 art. 50)';
CREATE INDEX licence_holder ON miaopi.licence (type, holder_id);
CREATE INDEX licence_application ON miaopi.licence (application_id);
SELECT pg_catalog.pg_extension_config_dump('miaopi.licence', '');
SELECT pg_catalog.pg_extension_config_dump('miaopi.licence_id_seq', '');

CREATE TABLE miaopi.licence_counter (
	type			text NOT NULL,
	year			int NOT NULL,
	last			bigint NOT NULL,
	PRIMARY KEY (type, year)
);
COMMENT ON TABLE miaopi.licence_counter IS
	'The last licence number issued per type and year: its row lock makes numbers unique and gap-free';
SELECT pg_catalog.pg_extension_config_dump('miaopi.licence_counter', '');

CREATE TABLE miaopi.licence_event (
	id				bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
	licence_id		bigint NOT NULL REFERENCES miaopi.licence (id),
	at				timestamptz NOT NULL,
	action			text NOT NULL,
	from_status		text NOT NULL,
	to_status		text NOT NULL,
	reason			text NOT NULL,
	actor			text NOT NULL,
	session_actor	text NOT NULL,
	CONSTRAINT licence_event_action_valid
		CHECK (action IN ('suspend', 'reinstate', 'revoke', 'cancel'))
);
COMMENT ON TABLE miaopi.licence_event IS
	'Append-only record of every status change of a licence: who (current_user, session_user) and why';
CREATE INDEX licence_event_licence ON miaopi.licence_event (licence_id, id);
SELECT pg_catalog.pg_extension_config_dump('miaopi.licence_event', '');
SELECT pg_catalog.pg_extension_config_dump('miaopi.licence_event_id_seq', '');

CREATE TABLE miaopi.licence_use (
	id				bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
	licence_id		bigint NOT NULL REFERENCES miaopi.licence (id),
	application_id	bigint NOT NULL,
	at				timestamptz NOT NULL,
	purpose			text NOT NULL
);
COMMENT ON TABLE miaopi.licence_use IS
	'Each time a later application relied on an e-licence (一库共享): material:<name> (or_licence) or check:<id> (licence_valid)';
CREATE INDEX licence_use_licence ON miaopi.licence_use (licence_id);
CREATE INDEX licence_use_application ON miaopi.licence_use (application_id);
SELECT pg_catalog.pg_extension_config_dump('miaopi.licence_use', '');
SELECT pg_catalog.pg_extension_config_dump('miaopi.licence_use_id_seq', '');

REVOKE ALL ON miaopi.licence, miaopi.licence_counter, miaopi.licence_event,
	miaopi.licence_use FROM PUBLIC;

-- Guards: a licence changes only through the functions below; its events
-- and uses are never edited.
CREATE FUNCTION miaopi.licence_guard()
RETURNS trigger
AS 'MODULE_PATHNAME', 'miaopi_licence_guard'
LANGUAGE C VOLATILE PARALLEL UNSAFE;
COMMENT ON FUNCTION miaopi.licence_guard() IS
	'Trigger: licences change only through miaopi''s licence functions';
REVOKE ALL ON FUNCTION miaopi.licence_guard() FROM PUBLIC;

CREATE TRIGGER licence_guard BEFORE UPDATE OR DELETE ON miaopi.licence
	FOR EACH ROW EXECUTE FUNCTION miaopi.licence_guard();
CREATE TRIGGER licence_no_truncate BEFORE TRUNCATE ON miaopi.licence
	FOR EACH STATEMENT EXECUTE FUNCTION miaopi.licence_guard();
ALTER TABLE miaopi.licence ENABLE ALWAYS TRIGGER licence_guard;
ALTER TABLE miaopi.licence ENABLE ALWAYS TRIGGER licence_no_truncate;

CREATE TRIGGER licence_event_append_only BEFORE UPDATE OR DELETE ON miaopi.licence_event
	FOR EACH ROW EXECUTE FUNCTION miaopi.event_append_only();
CREATE TRIGGER licence_event_no_truncate BEFORE TRUNCATE ON miaopi.licence_event
	FOR EACH STATEMENT EXECUTE FUNCTION miaopi.event_append_only();
ALTER TABLE miaopi.licence_event ENABLE ALWAYS TRIGGER licence_event_append_only;
ALTER TABLE miaopi.licence_event ENABLE ALWAYS TRIGGER licence_event_no_truncate;
CREATE TRIGGER licence_use_append_only BEFORE UPDATE OR DELETE ON miaopi.licence_use
	FOR EACH ROW EXECUTE FUNCTION miaopi.event_append_only();
CREATE TRIGGER licence_use_no_truncate BEFORE TRUNCATE ON miaopi.licence_use
	FOR EACH STATEMENT EXECUTE FUNCTION miaopi.event_append_only();
ALTER TABLE miaopi.licence_use ENABLE ALWAYS TRIGGER licence_use_append_only;
ALTER TABLE miaopi.licence_use ENABLE ALWAYS TRIGGER licence_use_no_truncate;

-- Code checks of the identifier
CREATE FUNCTION miaopi.mod37_36_check(code text)
RETURNS text
AS 'MODULE_PATHNAME', 'miaopi_mod37_36_check_sql'
LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
COMMENT ON FUNCTION miaopi.mod37_36_check(text) IS
	'ISO/IEC 7064 MOD 37,36 check character of a string of 0-9 and A-Z; null for any other character';

CREATE FUNCTION miaopi.licence_identifier_valid(identifier text)
RETURNS boolean
AS 'MODULE_PATHNAME', 'miaopi_licence_identifier_valid'
LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
COMMENT ON FUNCTION miaopi.licence_identifier_valid(text) IS
	'Does a GB/T 36904 identifier end in the MOD 37,36 check character of its undotted parts?';

-- Validity
CREATE FUNCTION miaopi.licence_valid(type text, holder_id text,
									 on_date date DEFAULT CURRENT_DATE)
RETURNS boolean
AS 'MODULE_PATHNAME', 'miaopi_licence_valid'
LANGUAGE C STABLE CALLED ON NULL INPUT PARALLEL RESTRICTED;
COMMENT ON FUNCTION miaopi.licence_valid(text, text, date) IS
	'Does holder_id hold a licence of this type that is valid (not suspended, revoked, cancelled or expired) on on_date? False for a null argument';
REVOKE ALL ON FUNCTION miaopi.licence_valid(text, text, date) FROM PUBLIC;

-- Status changes (行政许可法 arts. 69-70)
CREATE FUNCTION miaopi.suspend_licence(number text, reason text)
RETURNS text
AS 'MODULE_PATHNAME', 'miaopi_suspend_licence'
LANGUAGE C VOLATILE CALLED ON NULL INPUT PARALLEL UNSAFE;
COMMENT ON FUNCTION miaopi.suspend_licence(text, text) IS
	'Suspend (暂扣) a valid licence; returns the new status';
CREATE FUNCTION miaopi.reinstate_licence(number text, reason text)
RETURNS text
AS 'MODULE_PATHNAME', 'miaopi_reinstate_licence'
LANGUAGE C VOLATILE CALLED ON NULL INPUT PARALLEL UNSAFE;
COMMENT ON FUNCTION miaopi.reinstate_licence(text, text) IS
	'Reinstate a suspended licence; returns the new status';
CREATE FUNCTION miaopi.revoke_licence(number text, reason text)
RETURNS text
AS 'MODULE_PATHNAME', 'miaopi_revoke_licence'
LANGUAGE C VOLATILE CALLED ON NULL INPUT PARALLEL UNSAFE;
COMMENT ON FUNCTION miaopi.revoke_licence(text, text) IS
	'Revoke (吊销/撤销) a valid or suspended licence; returns the new status';
CREATE FUNCTION miaopi.cancel_licence(number text, reason text)
RETURNS text
AS 'MODULE_PATHNAME', 'miaopi_cancel_licence'
LANGUAGE C VOLATILE CALLED ON NULL INPUT PARALLEL UNSAFE;
COMMENT ON FUNCTION miaopi.cancel_licence(text, text) IS
	'Cancel (注销) a valid or suspended licence; returns the new status';
REVOKE ALL ON FUNCTION miaopi.suspend_licence(text, text) FROM PUBLIC;
REVOKE ALL ON FUNCTION miaopi.reinstate_licence(text, text) FROM PUBLIC;
REVOKE ALL ON FUNCTION miaopi.revoke_licence(text, text) FROM PUBLIC;
REVOKE ALL ON FUNCTION miaopi.cancel_licence(text, text) FROM PUBLIC;

-- Anyone may check a licence: never the holder id or data
CREATE FUNCTION miaopi.verify_licence(number_or_identifier text)
RETURNS TABLE (number text, identifier text, type text, name text, holder_name text,
			   valid_from date, valid_until date, status text)
LANGUAGE sql STABLE STRICT PARALLEL SAFE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
	SELECT l.number, l.identifier, l.type, l.name, l.holder_name, l.valid_from,
		   l.valid_until,
		   CASE WHEN l.status OPERATOR(pg_catalog.=) 'valid'
					 AND l.valid_until OPERATOR(pg_catalog.<) pg_catalog.timezone(
						 COALESCE((SELECT c.timezone FROM miaopi.service AS s
								   JOIN miaopi.calendar AS c ON c.name OPERATOR(pg_catalog.=) s.calendar
								   WHERE s.code OPERATOR(pg_catalog.=) l.service_code), 'Asia/Shanghai'),
						 miaopi.now())::date
				THEN 'expired' ELSE l.status END
	FROM miaopi.licence AS l
	WHERE l.number OPERATOR(pg_catalog.=) $1 OR l.identifier OPERATOR(pg_catalog.=) $1
	UNION ALL
	SELECT $1, NULL, NULL, NULL, NULL, NULL, NULL, 'unknown'
	WHERE NOT EXISTS (SELECT FROM miaopi.licence AS l
					  WHERE l.number OPERATOR(pg_catalog.=) $1
						 OR l.identifier OPERATOR(pg_catalog.=) $1)
$$;
COMMENT ON FUNCTION miaopi.verify_licence(text) IS
	'Check a licence by number or GB/T 36904 identifier: its status (valid, expired, suspended, revoked, cancelled, or unknown), never the holder id or data';
GRANT EXECUTE ON FUNCTION miaopi.verify_licence(text) TO PUBLIC;

-- The one-time notice (一次性告知书, 行政许可法 art. 32)
CREATE FUNCTION miaopi.notice(application_id bigint)
RETURNS text
LANGUAGE plpgsql STABLE STRICT PARALLEL SAFE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
	a		miaopi.application;
	s		miaopi.service;
	tz		text;
	lic		record;
	r		jsonb;
	n		int := 0;
	out		text;
	ev		record;
	item	text;
BEGIN
	SELECT * INTO a FROM miaopi.application AS x WHERE x.id OPERATOR(pg_catalog.=) $1;
	IF NOT FOUND THEN
		RAISE EXCEPTION USING
			ERRCODE = 'no_data_found',
			MESSAGE = pg_catalog.format('application %s does not exist', $1),
			DETAIL = 'No row of miaopi.application has this id.',
			HINT = 'Pass the id returned by the INSERT of the application.';
	END IF;
	SELECT * INTO s FROM miaopi.service AS x WHERE x.code OPERATOR(pg_catalog.=) a.service_code;
	SELECT c.timezone INTO tz FROM miaopi.calendar AS c
		WHERE c.name OPERATOR(pg_catalog.=) s.calendar;
	tz := COALESCE(tz, 'Asia/Shanghai');

	IF a.status OPERATOR(pg_catalog.<>) ALL ('{approved,rejected,supplement}'::text[]) THEN
		RAISE EXCEPTION USING
			ERRCODE = 'object_not_in_prerequisite_state',
			MESSAGE = pg_catalog.format('application %s is %s and has no notice', a.id, a.status),
			DETAIL = 'A notice is written for an approved or rejected application, or one asked for a supplement.',
			HINT = 'Decide the application, or request a supplement with miaopi.act(), first.';
	END IF;

	out := '一次性告知书' OPERATOR(pg_catalog.||) E'\n\n'
		OPERATOR(pg_catalog.||) pg_catalog.format(E'申请编号：%s\n', a.id)
		OPERATOR(pg_catalog.||) pg_catalog.format(E'申请事项：%s（%s）\n', s.name, s.code)
		OPERATOR(pg_catalog.||) CASE WHEN s.department IS NOT NULL
			THEN pg_catalog.format(E'受理部门：%s\n', s.department) ELSE '' END
		OPERATOR(pg_catalog.||) pg_catalog.format(E'申请人：%s（%s）\n',
			COALESCE(a.applicant_name, '—'), a.applicant_id)
		OPERATOR(pg_catalog.||) pg_catalog.format(E'提交时间：%s\n',
			pg_catalog.to_char(pg_catalog.timezone(tz, a.submitted_at), 'YYYY-MM-DD HH24:MI'));

	IF a.status OPERATOR(pg_catalog.=) 'approved' THEN
		out := out OPERATOR(pg_catalog.||) pg_catalog.format(E'\n您的申请已于 %s 批准（%s）。\n',
			pg_catalog.to_char(pg_catalog.timezone(tz, a.decided_at), 'YYYY-MM-DD HH24:MI'),
			CASE WHEN a.decided_by OPERATOR(pg_catalog.=) 'miaopi' THEN '系统自动审批，秒批' ELSE '人工审批' END);
		FOR lic IN SELECT l.* FROM miaopi.licence AS l
				   WHERE l.application_id OPERATOR(pg_catalog.=) a.id ORDER BY l.id LOOP
			out := out OPERATOR(pg_catalog.||) pg_catalog.format(
				E'已核发电子证照《%s》，证照编号 %s，有效期 %s 至 %s。\n',
				lic.name, lic.number, lic.valid_from, lic.valid_until);
			IF lic.identifier IS NOT NULL THEN
				out := out OPERATOR(pg_catalog.||) pg_catalog.format(E'证照标识：%s\n', lic.identifier);
			END IF;
			out := out OPERATOR(pg_catalog.||)
				E'后续办理其他事项时，凭此电子证照即可，无需再提交纸质材料；任何人可通过 miaopi.verify_licence() 核验。\n';
		END LOOP;
		RETURN out;
	END IF;

	IF a.status OPERATOR(pg_catalog.=) 'rejected' THEN
		out := out OPERATOR(pg_catalog.||) E'\n经审查，您的申请不予批准，理由如下：\n';
	ELSE
		out := out OPERATOR(pg_catalog.||) E'\n经审查，您的申请材料需要补正。请一次性补正以下全部内容：\n';
	END IF;

	-- every failed check and missing material, with its message and basis
	FOR r IN SELECT e.value FROM pg_catalog.jsonb_array_elements(COALESCE(a.reasons, '[]')) AS e
			 WHERE e.value OPERATOR(pg_catalog.->>) 'result' OPERATOR(pg_catalog.<>) 'pass' LOOP
		n := n OPERATOR(pg_catalog.+) 1;
		item := pg_catalog.format('%s. %s', n,
			COALESCE(r OPERATOR(pg_catalog.->>) 'message', r OPERATOR(pg_catalog.->>) 'check'));
		IF r OPERATOR(pg_catalog.->>) 'detail' IS NOT NULL THEN
			item := item OPERATOR(pg_catalog.||) pg_catalog.format('（%s）', r OPERATOR(pg_catalog.->>) 'detail');
		END IF;
		IF r OPERATOR(pg_catalog.->>) 'result' OPERATOR(pg_catalog.=) 'error' THEN
			item := item OPERATOR(pg_catalog.||) '，无法自动核验，已转人工审查';
		END IF;
		IF r OPERATOR(pg_catalog.->>) 'basis' IS NOT NULL THEN
			item := item OPERATOR(pg_catalog.||) pg_catalog.format('。依据：%s', r OPERATOR(pg_catalog.->>) 'basis');
		END IF;
		out := out OPERATOR(pg_catalog.||) item OPERATOR(pg_catalog.||) E'\n';
	END LOOP;

	-- what the reviewer wrote (the rejection, or the supplement request)
	FOR ev IN SELECT e.action, e.comment, e.actor FROM miaopi.event AS e
			  WHERE e.application_id OPERATOR(pg_catalog.=) a.id
				AND e.action OPERATOR(pg_catalog.=) ANY ('{reject,request_supplement}'::text[])
				AND e.comment IS NOT NULL
			  ORDER BY e.id LOOP
		n := n OPERATOR(pg_catalog.+) 1;
		out := out OPERATOR(pg_catalog.||) pg_catalog.format(E'%s. %s（审查意见）\n', n, ev.comment);
	END LOOP;
	IF n OPERATOR(pg_catalog.=) 0 THEN
		out := out OPERATOR(pg_catalog.||) E'（无具体事项记录）\n';
	END IF;

	out := out OPERATOR(pg_catalog.||) pg_catalog.format(
		E'\n办理时限：法定 %s 个工作日，承诺 %s 个工作日。\n', s.statutory_days, s.promised_days);
	IF a.promised_due IS NOT NULL OR a.statutory_due IS NOT NULL THEN
		out := out OPERATOR(pg_catalog.||) pg_catalog.format(E'本申请承诺办结期限 %s，法定办结期限 %s。\n',
			COALESCE(pg_catalog.to_char(pg_catalog.timezone(tz, a.promised_due), 'YYYY-MM-DD HH24:MI'), '—'),
			COALESCE(pg_catalog.to_char(pg_catalog.timezone(tz, a.statutory_due), 'YYYY-MM-DD HH24:MI'), '—'));
	END IF;

	IF a.status OPERATOR(pg_catalog.=) 'rejected' THEN
		out := out OPERATOR(pg_catalog.||)
			E'\n下一步：请按上述事项整改后重新提交申请。对本决定不服的，可以依法申请行政复议或者提起行政诉讼（《中华人民共和国行政许可法》第三十八条）。\n';
	ELSE
		out := out OPERATOR(pg_catalog.||)
			E'\n下一步：请一次性补正上述全部材料后提交，补正材料收到后继续办理；补正期间不计入办理时限（《中华人民共和国行政许可法》第三十二条）。\n';
	END IF;
	RETURN out;
END
$$;
COMMENT ON FUNCTION miaopi.notice(bigint) IS
	'The one-time notice (一次性告知书, 行政许可法 art. 32) of an application, in Chinese: every failed check and missing material with its basis, the time limits and dues, what to do next; for an approval, the licence issued';
REVOKE ALL ON FUNCTION miaopi.notice(bigint) FROM PUBLIC;

-- explain() shows the legal basis of each reason too (a new last column)
DROP FUNCTION miaopi.explain(bigint);
CREATE FUNCTION miaopi.explain(application_id bigint)
RETURNS TABLE (check_id text, result text, on_fail text, message text, detail text, basis text)
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
			MESSAGE = pg_catalog.format('application %s does not exist', application_id),
			HINT = 'Use the id that INSERT ... RETURNING id gave.';
	END IF;
	RETURN QUERY
		SELECT e OPERATOR(pg_catalog.->>) 'check', e OPERATOR(pg_catalog.->>) 'result',
			   e OPERATOR(pg_catalog.->>) 'on_fail', e OPERATOR(pg_catalog.->>) 'message',
			   e OPERATOR(pg_catalog.->>) 'detail', e OPERATOR(pg_catalog.->>) 'basis'
		FROM pg_catalog.jsonb_array_elements(r) e;
END
$$;
COMMENT ON FUNCTION miaopi.explain(bigint) IS
	'The reasons of an application''s decision, one row per check, in file order, with the legal basis the rules give';
REVOKE ALL ON FUNCTION miaopi.explain(bigint) FROM PUBLIC;
-- the roles that had it before the upgrade keep it
DO $$
DECLARE
	r text;
BEGIN
	FOREACH r IN ARRAY ARRAY['miaopi_agency', 'miaopi_reviewer'] LOOP
		IF pg_catalog.to_regrole(r) IS NOT NULL THEN
			EXECUTE pg_catalog.format('GRANT EXECUTE ON FUNCTION miaopi.explain(bigint) TO %I', r);
		END IF;
	END LOOP;
END
$$;

-- The identifier checks are pure and public, like uscc_valid (create_roles()
-- keeps PUBLIC's EXECUTE only on what role_grant lists for it).
INSERT INTO miaopi.role_grant (role, privilege, kind, object) VALUES
	('public', 'EXECUTE', 'function', 'mod37_36_check'),
	('public', 'EXECUTE', 'function', 'licence_identifier_valid')
ON CONFLICT DO NOTHING;
