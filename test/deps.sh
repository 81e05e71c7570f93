#!/bin/sh
# Install what building and testing miaopi needs, when it is missing.
# Runs apt-get only as root and only for packages that are not installed.
set -e
pkgs="postgresql-15 postgresql-server-dev-15 postgresql-15-pgtap postgresql-15-cron
libtap-parser-sourcehandler-pgtap-perl libyaml-dev pkg-config clang make gcc
python3-jsonschema python3-yaml"
missing=""
for p in $pkgs; do
	dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing="$missing $p"
done
[ -z "$missing" ] && exit 0
if [ "$(id -u)" != 0 ]; then
	echo "missing packages:$missing (run as root, or install them)" >&2
	exit 1
fi
echo "installing:$missing"
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
apt-get install -y -qq --no-install-recommends $missing >/dev/null
