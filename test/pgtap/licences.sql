-- E-licences: every error path with its SQLSTATE and message, and nothing changed.
\set ON_ERROR_ROLLBACK 1
\set ON_ERROR_STOP true
\pset format unaligned
\pset tuples_only true
\pset pager off

BEGIN;
CREATE EXTENSION miaopi;
SELECT plan(17);
SET LOCAL miaopi.clock_now = '2026-12-01 10:00:00+08';

SELECT lives_ok($$SELECT miaopi.load_rules($y$
service: tap-permit
name: 测试许可
kind: filing
time_limit: {statutory: 20, promised: 5}
auto_approve: true
fields:
  end_date: date
licence:
  type: tap-cert
  number: "TAP-{yyyy}-{seq:4}"
  valid_until: payload.end_date
$y$)$$, 'a service issuing a licence loads');
INSERT INTO miaopi.application (service_code, applicant_id, payload)
VALUES ('tap-permit', '91350103100079190E', '{"end_date": "2027-06-30"}');
SELECT is((SELECT status FROM miaopi.licence WHERE type = 'tap-cert'), 'valid', 'the machine approval issued a licence');
SELECT is((SELECT number FROM miaopi.licence WHERE type = 'tap-cert'), 'TAP-2026-0001', 'the first number of the type and year');

CREATE TEMP TABLE before AS
	SELECT (SELECT count(*) FROM miaopi.licence_event) AS events,
		   (SELECT string_agg(status, ',' ORDER BY id) FROM miaopi.licence) AS statuses;

SELECT throws_ok($$SELECT miaopi.revoke_licence('TAP-2026-9999', 'x')$$,
	'P0002', 'licence "TAP-2026-9999" does not exist', 'revoking an unknown licence is no_data_found');
SELECT lives_ok($$SELECT miaopi.revoke_licence('TAP-2026-0001', '违法（第六十九条）')$$, 'a valid licence is revoked');
UPDATE before SET events = events + 1,
	statuses = (SELECT string_agg(status, ',' ORDER BY id) FROM miaopi.licence);
SELECT throws_ok($$SELECT miaopi.revoke_licence('TAP-2026-0001', 'again')$$,
	'55000', 'licence "TAP-2026-0001" is revoked and cannot be revoked', 'revoking a revoked licence is refused');
SELECT throws_ok($$SELECT miaopi.reinstate_licence('TAP-2026-0001', 'please')$$,
	'55000', 'licence "TAP-2026-0001" is revoked and cannot be reinstated', 'reinstating a revoked licence is refused');
SELECT throws_ok($$SELECT miaopi.cancel_licence('TAP-2026-0001', NULL)$$,
	'22004', 'a reason is required to cancel licence "TAP-2026-0001"', 'a status change needs a reason');
SELECT throws_ok($$UPDATE miaopi.licence SET status = 'valid'$$,
	'42501', 'licences can only be changed by miaopi''s licence functions', 'a direct UPDATE of a licence is refused');
SELECT is((SELECT (SELECT count(*) FROM miaopi.licence_event) || '/' ||
				  (SELECT string_agg(status, ',' ORDER BY id) FROM miaopi.licence)),
		  (SELECT events || '/' || statuses FROM before), 'no refused change changed anything');

SELECT is(miaopi.licence_valid('tap-cert', NULL), false, 'licence_valid of a null holder is false');

-- a valid_until missing at approval time: the machine hands it to a person
INSERT INTO miaopi.application (service_code, applicant_id, payload)
VALUES ('tap-permit', '91350103100079190E', '{}');
SELECT is((SELECT status FROM miaopi.application WHERE id = currval('miaopi.application_id_seq')), 'pending',
	'an approval whose licence would have no end date goes to a person');
SELECT throws_ok(format('SELECT miaopi.act(%s, ''approve'')', currval('miaopi.application_id_seq')),
	'55000', format('application %s cannot be approved: its licence would have no end date', currval('miaopi.application_id_seq')),
	'a person cannot approve it either');
SELECT is((SELECT count(*)::int FROM miaopi.licence WHERE type = 'tap-cert'), 1, 'no licence without an end date');

SELECT throws_ok($$SELECT miaopi.notice(-1)$$, 'P0002', 'application -1 does not exist',
	'the notice of an unknown application is no_data_found');
SELECT throws_ok($$SELECT miaopi.load_rules($y$
service: tap-bad
name: 坏
kind: filing
time_limit: {statutory: 20, promised: 5}
licence:
  type: tap-cert
  number: "TAP-{yyyy}-{seq:4}-{day}"
  valid_days: 10
$y$)$$, '22023', 'unknown placeholder {day} in licence number', 'an unknown placeholder is refused at load');

SELECT is((SELECT count(*)::int FROM miaopi.verify_events()), 0,
	'the licence events (issued inside the INSERT, revoked later) keep every chain intact');

SELECT * FROM finish();
ROLLBACK;
