#!/bin/sh
# A backend remembers its scope answers, and forgets them when another
# backend changes a scope or a membership: the change counts from this
# backend's next statement.
set -e
db=miaopi_scopes
PGOPTIONS="-c client_min_messages=warning" psql -qX -d postgres -c "DROP DATABASE IF EXISTS $db" -c "CREATE DATABASE $db"
psql -qX -v ON_ERROR_STOP=1 -d $db >/dev/null <<'SQL'
CREATE EXTENSION miaopi;
SELECT miaopi.create_roles();
DO $$BEGIN
	IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = 'scopes_app') THEN
		CREATE ROLE scopes_app;
	END IF;
END$$;
GRANT miaopi_agency TO scopes_app;
-- its own INSERT privilege: only the scopes come through the membership
GRANT INSERT, SELECT ON miaopi.application TO scopes_app;
SELECT miaopi.load_rules($y$
service: scope-lab
name: 范围
department: 甲局
kind: filing
time_limit: {statutory: 3, promised: 1}
auto_approve: true
fields: {}
checks: []
$y$);
SQL
insert="INSERT INTO miaopi.application (service_code, applicant_id, payload) VALUES ('scope-lab', 'x', '{}') RETURNING status;"
out=$(psql -qXAt -d $db 2>&1 <<SQL
SET ROLE scopes_app;
$insert
RESET ROLE;
\! psql -qX -d $db -c "DELETE FROM miaopi.scope WHERE role = 'miaopi_agency'"
SET ROLE scopes_app;
$insert
RESET ROLE;
\! psql -qX -d $db -c "INSERT INTO miaopi.scope (role, action, department) VALUES ('miaopi_agency', 'submit', '甲局')"
SET ROLE scopes_app;
$insert
RESET ROLE;
\! psql -qX -d $db -c "REVOKE miaopi_agency FROM scopes_app"
SET ROLE scopes_app;
$insert
RESET ROLE;
\! psql -qX -d $db -c "GRANT miaopi_agency TO scopes_app"
SET ROLE scopes_app;
$insert
SQL
)
psql -qX -d postgres -c "DROP DATABASE $db"
psql -qX -d postgres -c "DROP ROLE IF EXISTS scopes_app" -c "DROP ROLE IF EXISTS miaopi_admin, miaopi_agency, miaopi_reviewer, miaopi_analyst" 2>/dev/null || true
got=$(echo "$out" | sed -n 's/^approved$/approved/p; s/^ERROR: *role "scopes_app" may not submit.*/refused/p' | tr '\n' ' ')
if [ "$got" = "approved refused approved refused approved " ]; then
	echo "ok - scopes: another backend's scope and membership changes count from this backend's next statement"
else
	echo "$out"
	echo "not ok - scopes: got '$got'"
	exit 1
fi
