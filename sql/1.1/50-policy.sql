-- 1.1 fragment 50: less to submit (数据跑腿, 信用+秒批, 告知承诺, 政策通).
--
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
	miaopi.clock_within_statutory(a.service_code, a.status, a.submitted_at, a.accepted_at, a.decided_at, a.closed_at, a.promised_due, a.statutory_due, a.step_due, a.paused_at, a.paused_days, a.clock_flags) AS within_statutory,
	a.verify_due,
	miaopi.verify_light(a.service_code, a.status, a.verify_due, a.verified_at) AS verify_light
FROM miaopi.application a;
COMMENT ON COLUMN miaopi.clock.verify_due IS
	'End of the last working day to verify what was committed (告知承诺); NULL without commitments';
COMMENT ON COLUMN miaopi.clock.verify_light IS
	'Light of an open verification: green, yellow within 2 working days of verify_due, overdue past it; NULL once closed';
