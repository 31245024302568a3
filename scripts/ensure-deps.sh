#!/usr/bin/env bash
# Installs the servers the tests and the demo start for themselves: OpenLDAP's
# slapd with its client tools, and PostgreSQL. Nothing is installed when they
# are already there. Debian/Ubuntu only; elsewhere it says what to install.
set -euo pipefail

missing=()
have_slapd() { command -v slapd >/dev/null 2>&1 || [ -x /usr/sbin/slapd ]; }
have_slapadd() { command -v slapadd >/dev/null 2>&1 || [ -x /usr/sbin/slapadd ]; }
have_postgres() { command -v postgres >/dev/null 2>&1 || compgen -G '/usr/lib/postgresql/*/bin/postgres' >/dev/null; }

{ have_slapd && have_slapadd; } || missing+=(slapd)
command -v ldapsearch >/dev/null 2>&1 || missing+=(ldap-utils)
have_postgres || missing+=(postgresql)

[ ${#missing[@]} -eq 0 ] && exit 0

echo "installing: ${missing[*]}" >&2
if ! command -v apt-get >/dev/null 2>&1; then
	echo "error: ${missing[*]} missing and apt-get is not available." >&2
	echo "hint: install OpenLDAP (slapd, ldap-utils) and PostgreSQL with your package manager," >&2
	echo "      or point the tests at servers with SYNCD_TEST_LDAP_URL and SYNCD_TEST_DATABASE_URL." >&2
	exit 1
fi
sudo=()
if [ "$(id -u)" -ne 0 ]; then
	if command -v sudo >/dev/null 2>&1 && sudo -n true 2>/dev/null; then
		sudo=(sudo -n)
	else
		echo "error: ${missing[*]} missing, and installing needs root." >&2
		echo "hint: sudo apt-get install -y ${missing[*]}" >&2
		exit 1
	fi
fi
# The packages' own services are not needed: tests and the demo start private
# servers in temporary directories. policy-rc.d keeps apt from starting them.
export DEBIAN_FRONTEND=noninteractive
"${sudo[@]}" apt-get update -qq
"${sudo[@]}" apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
echo "installed: ${missing[*]}" >&2
