-- 1.1 fragment 50: less to submit (数据跑腿, 信用+秒批, 告知承诺, 政策通).
--
-- roles: miaopi_agency EXECUTE miaopi.evaluate(text, text, jsonb, text[], text, text[])
-- roles: miaopi_admin EXECUTE miaopi.evaluate(text, text, jsonb, text[], text, text[])
-- roles: miaopi_agency EXECUTE miaopi.match(text)
-- roles: miaopi_agency EXECUTE miaopi.confirm(bigint)
-- roles: miaopi_agency EXECUTE miaopi.apply_all(text)
-- roles: miaopi_agency INSERT (commitments) ON miaopi.application
-- roles: miaopi_agency SELECT miaopi.policy_match
-- roles: miaopi_admin EXECUTE miaopi.push(text)
-- roles: every role given SELECT on miaopi.clock: EXECUTE miaopi.verify_light(text, text, timestamptz, timestamptz)
--
-- Fields fetched with from: and materials waived with waived_if: need no
-- schema: the fetched values are stored in application.payload.

-- ====================================================================
-- Commitments (告知承诺)
-- ====================================================================

ALTER TABLE miaopi.application
	ADD COLUMN commitments	text[] NOT NULL DEFAULT '{}',
	ADD COLUMN verify_days	int,
	ADD COLUMN verify_due	timestamptz,
	ADD COLUMN verified_at	timestamptz;
COMMENT ON COLUMN miaopi.application.commitments IS
	'Materials the applicant commits to instead of submitting them (告知承诺); written by the client';
COMMENT ON COLUMN miaopi.application.verify_days IS
	'Working days the agency has to verify what was committed, when a commitment stood in for a material';
COMMENT ON COLUMN miaopi.application.verify_due IS
	'End of the last working day to verify the commitments, set on approval';
COMMENT ON COLUMN miaopi.application.verified_at IS
	'When act(id, ''verify'') or act(id, ''verify_failed'') closed the verification';

CREATE INDEX application_verify_due ON miaopi.application (verify_due)
	WHERE verify_due IS NOT NULL AND verified_at IS NULL;

ALTER TABLE miaopi.application DROP CONSTRAINT application_status_valid;
ALTER TABLE miaopi.application ADD CONSTRAINT application_status_valid
	CHECK (status IN ('pending', 'supplement', 'accepted', 'reviewed',
					  'approved', 'rejected', 'refused', 'withdrawn', 'revoked'));

-- The pre-check (网上预审) with commitments: evaluate() with a sixth argument
CREATE FUNCTION miaopi.evaluate(service text, applicant_id text, payload jsonb,
								materials text[], applicant_name text, commitments text[])
RETURNS jsonb
AS 'MODULE_PATHNAME', 'miaopi_evaluate_sql'
LANGUAGE C STABLE PARALLEL RESTRICTED;
COMMENT ON FUNCTION miaopi.evaluate(text, text, jsonb, text[], text, text[]) IS
	'Decides an application without storing it, with the materials committed to instead of submitted (告知承诺)';
REVOKE ALL ON FUNCTION miaopi.evaluate(text, text, jsonb, text[], text, text[]) FROM PUBLIC;

CREATE FUNCTION miaopi.verify_light(service_code text, status text, verify_due timestamptz, verified_at timestamptz)
RETURNS miaopi.light
AS 'MODULE_PATHNAME', 'miaopi_verify_light'
LANGUAGE C STABLE CALLED ON NULL INPUT PARALLEL SAFE;
COMMENT ON FUNCTION miaopi.verify_light(text, text, timestamptz, timestamptz) IS
	'Light of an open verification of commitments: green, yellow within 2 working days of the due, overdue past it; NULL when closed or none';
REVOKE ALL ON FUNCTION miaopi.verify_light(text, text, timestamptz, timestamptz) FROM PUBLIC;

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
	(c.k).within_statutory,
	a.verify_due,
	miaopi.verify_light(a.service_code, a.status, a.verify_due, a.verified_at) AS verify_light
FROM miaopi.application a
	CROSS JOIN LATERAL (SELECT miaopi.clock_columns(a.service_code, a.status, a.submitted_at,
		a.accepted_at, a.decided_at, a.closed_at, a.promised_due, a.statutory_due,
		a.step_due, a.paused_at, a.paused_days, a.clock_flags) AS k) c;
COMMENT ON COLUMN miaopi.clock.verify_due IS
	'End of the last working day to verify what was committed (告知承诺); NULL without commitments';
COMMENT ON COLUMN miaopi.clock.verify_light IS
	'Light of an open verification: green, yellow within 2 working days of verify_due, overdue past it; NULL once closed';

-- ====================================================================
-- Policies (政策通: 惠企政策精准送、补贴申报一次办)
-- ====================================================================

ALTER TABLE miaopi.service DROP CONSTRAINT service_kind_valid;
ALTER TABLE miaopi.service ADD CONSTRAINT service_kind_valid
	CHECK (kind IN ('licence', 'public_service', 'filing', 'policy'));

CREATE TABLE miaopi.policy_match (
	id				bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
	service_code	text NOT NULL,
	ruleset_id		bigint NOT NULL,
	applicant_id	text COLLATE "C" NOT NULL,
	eligible		boolean NOT NULL,
	benefit			numeric,
	failed			text[] NOT NULL DEFAULT '{}',
	matched_at		timestamptz NOT NULL,
	notified_at		timestamptz,
	confirmed_at	timestamptz,
	application_id	bigint,
	CONSTRAINT policy_match_once UNIQUE (ruleset_id, applicant_id)
);
COMMENT ON TABLE miaopi.policy_match IS
	'One match of a policy''s ruleset with one applicant of its audience: eligible or not, the benefit, what failed';
-- No foreign keys: push() writes a row per audience member, and rulesets
-- and applications are never deleted (their guards refuse it), so the
-- per-row RI checks would cost without protecting anything.
COMMENT ON COLUMN miaopi.policy_match.failed IS
	'Ids of the checks (or codes such as missing_material, policy_open) that did not pass';
COMMENT ON COLUMN miaopi.policy_match.notified_at IS
	'When push() announced the match on the miaopi_policy channel';
COMMENT ON COLUMN miaopi.policy_match.confirmed_at IS
	'When the applicant confirmed (confirm, apply_all) or push filed it (apply: auto)';
COMMENT ON COLUMN miaopi.policy_match.application_id IS
	'The application filed for the match, once filed';
CREATE INDEX policy_match_applicant ON miaopi.policy_match (service_code, applicant_id, id);
CREATE INDEX policy_match_application ON miaopi.policy_match (application_id)
	WHERE application_id IS NOT NULL;
SELECT pg_catalog.pg_extension_config_dump('miaopi.policy_match', '');
SELECT pg_catalog.pg_extension_config_dump('miaopi.policy_match_id_seq', '');
REVOKE ALL ON TABLE miaopi.policy_match FROM PUBLIC;

CREATE FUNCTION miaopi.match(applicant_id text)
RETURNS TABLE (service text, name text, eligible boolean, benefit numeric, failed text[], reasons jsonb)
AS 'MODULE_PATHNAME', 'miaopi_match'
LANGUAGE C STABLE STRICT PARALLEL RESTRICTED ROWS 20;
COMMENT ON FUNCTION miaopi.match(text) IS
	'Every open policy for one applicant: eligible or not, the benefit, and what stands in the way';
REVOKE ALL ON FUNCTION miaopi.match(text) FROM PUBLIC;

CREATE FUNCTION miaopi.push(service text)
RETURNS bigint
AS 'MODULE_PATHNAME', 'miaopi_push'
LANGUAGE C VOLATILE STRICT PARALLEL UNSAFE;
COMMENT ON FUNCTION miaopi.push(text) IS
	'Evaluates a policy over its whole audience, records one match per applicant and ruleset, notifies miaopi_policy and, for apply: auto, files the applications; returns the matches recorded';
REVOKE ALL ON FUNCTION miaopi.push(text) FROM PUBLIC;

CREATE FUNCTION miaopi.confirm(match_id bigint)
RETURNS bigint
AS 'MODULE_PATHNAME', 'miaopi_confirm'
LANGUAGE C VOLATILE STRICT PARALLEL UNSAFE;
COMMENT ON FUNCTION miaopi.confirm(bigint) IS
	'One-click confirmation of an eligible match: files its application and returns the application id';
REVOKE ALL ON FUNCTION miaopi.confirm(bigint) FROM PUBLIC;

CREATE FUNCTION miaopi.apply_all(applicant_id text)
RETURNS TABLE (service text, application_id bigint, status text)
AS 'MODULE_PATHNAME', 'miaopi_apply_all'
LANGUAGE C VOLATILE STRICT PARALLEL UNSAFE;
COMMENT ON FUNCTION miaopi.apply_all(text) IS
	'Files an application for every open policy the applicant is eligible for and has not applied to yet';
REVOKE ALL ON FUNCTION miaopi.apply_all(text) FROM PUBLIC;
