#!/bin/sh
# act(id, 'verify_failed', reason) revokes the licences the approval issued.
# With the e-licence feature installed, a service that issues a licence is
# approved on a commitment and its licence is revoked through
# miaopi.revoke_licence(); without it, stand-ins of miaopi.licence and
# miaopi.revoke_licence() (created here, in a database of its own) show
# that the hook finds and revokes them by application_id, and only those.
set -e
db=miaopi_commitment_licence
psql -qX -d postgres -c "DROP DATABASE IF EXISTS $db" -c "CREATE DATABASE $db"
out=$(psql -qXAt -v ON_ERROR_STOP=1 -d $db 2>&1 <<'SQL'
CREATE EXTENSION miaopi;
SET timezone = 'Asia/Shanghai';
SET miaopi.clock_now = '2026-12-01 10:00+08';
SELECT to_regprocedure('miaopi.revoke_licence(text,text)') IS NOT NULL AS real_licences \gset
\if :real_licences
SELECT 'mode: e-licences';
SELECT count(*) FROM miaopi.load_rules($y$
service: commit-permit
name: 承诺制许可
kind: filing
time_limit: {statutory: 20, promised: 1}
auto_approve: true
materials:
  safety_plan: {required: true, commitment: {verify_within: 10}}
licence:
  type: commit-permit-cert
  name: 承诺制许可证
  number: "CP-{yyyy}-{seq:4}"
  valid_days: 365
$y$) \g /dev/null
\else
SELECT 'mode: stand-ins';
CREATE TABLE miaopi.licence (id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY, number text UNIQUE,
	application_id bigint NOT NULL, status text NOT NULL);
CREATE TABLE public.revoked (number text, reason text);
CREATE FUNCTION miaopi.revoke_licence(number text, reason text) RETURNS text LANGUAGE sql AS $f$
	UPDATE miaopi.licence l SET status = 'revoked' WHERE l.number = $1;
	INSERT INTO public.revoked VALUES ($1, $2);
	SELECT 'revoked';
$f$;
SELECT count(*) FROM miaopi.load_rules($y$
service: commit-permit
name: 承诺制许可
kind: filing
time_limit: {statutory: 20, promised: 1}
auto_approve: true
materials:
  safety_plan: {required: true, commitment: {verify_within: 10}}
$y$) \g /dev/null
\endif
INSERT INTO miaopi.application (service_code, applicant_id, payload, commitments)
VALUES ('commit-permit', '91350100MA2XXXXXXA', '{}', '{safety_plan}'), ('commit-permit', '91350100MA2YYYYYYB', '{}', '{safety_plan}');
\if :real_licences
\else
INSERT INTO miaopi.licence (number, application_id, status)
SELECT 'CP-2026-' || lpad(a.id::text, 4, '0'), a.id, 'valid' FROM miaopi.application a ORDER BY a.id;
INSERT INTO miaopi.licence (number, application_id, status) VALUES ('CP-OLD', 1, 'cancelled');
\endif
SELECT 'licences before: ' || string_agg(status, ',' ORDER BY id) FROM miaopi.licence;
SELECT 'act: ' || miaopi.act(1, 'verify_failed', '承诺的安全方案不实');
SELECT 'licences after: ' || string_agg(l.status, ',' ORDER BY l.id) FROM miaopi.licence l WHERE l.number LIKE 'CP-2026-%';
SELECT 'event: ' || (detail->>'licences_revoked') FROM miaopi.event WHERE action = 'verify_failed';
SQL
)
psql -qX -d postgres -c "DROP DATABASE $db"
echo "$out" | sed -e 's/^/# /'
if echo "$out" | grep -q "licences after: revoked,valid" && echo "$out" | grep -q "event: 1" \
	&& echo "$out" | grep -q "act: revoked"; then
	echo "ok - commitment_licence: verify_failed revoked the licence its approval issued, and no other"
else
	echo "not ok - commitment_licence: expected the first application's licence revoked, the second's valid"
	exit 1
fi
