#!/bin/sh
# Make sure the real services the tests talk to are installed and running:
# Mosquitto on 127.0.0.1:1883 and PostgreSQL on 127.0.0.1:5432 (trust auth for local connections);
# VictoriaMetrics installed only (the tests run their own).
set -eu
sudo_=""; [ "$(id -u)" = 0 ] || sudo_=sudo

port_open() { python3 -c "import socket,sys; s=socket.socket(); s.settimeout(1); sys.exit(s.connect_ex(('127.0.0.1', $1)))"; }
wait_port() {
    i=0
    until port_open "$1"; do
        i=$((i + 1)); [ $i -le 60 ] || { echo "service on port $1 did not come up" >&2; exit 1; }
        sleep 0.5
    done
}

missing=""
command -v mosquitto >/dev/null 2>&1 || [ -x /usr/sbin/mosquitto ] || missing="$missing mosquitto"
command -v mosquitto_sub >/dev/null 2>&1 || missing="$missing mosquitto-clients"  # the ingest benchmark's ceiling
command -v wrk >/dev/null 2>&1 || missing="$missing wrk"  # the API benchmark's load generator
command -v pg_ctlcluster >/dev/null 2>&1 || missing="$missing postgresql"
# VictoriaMetrics speaks the InfluxDB v2 write API; the time-series tests start their own on a free port (not here).
[ -x /usr/bin/victoria-metrics ] || missing="$missing victoria-metrics"
# Debian's Chromium: the staff page's browser test drives it headless (Playwright downloads no browser).
[ -x /usr/bin/chromium ] || missing="$missing chromium"
if [ -n "$missing" ]; then
    echo "installing:$missing"
    $sudo_ apt-get update -q
    DEBIAN_FRONTEND=noninteractive $sudo_ apt-get install -y -q $missing
fi

if ! port_open 1883; then
    conf=/etc/mosquitto/mosquitto.conf
    if [ -f "$conf" ]; then $sudo_ mosquitto -d -c "$conf"; else $sudo_ mosquitto -d; fi
    wait_port 1883
fi

if ! port_open 5432; then
    version=$(ls /etc/postgresql | sort -n | tail -n 1)
    $sudo_ pg_ctlcluster --skip-systemctl-redirect "$version" main start
    wait_port 5432
fi

# The tests connect as postgres over TCP without a password: make sure that works (trust on 127.0.0.1).
if ! psql -h 127.0.0.1 -U postgres -d postgres -c 'select 1' >/dev/null 2>&1; then
    version=$(ls /etc/postgresql | sort -n | tail -n 1)
    hba=/etc/postgresql/$version/main/pg_hba.conf
    echo "enabling trust auth for 127.0.0.1 in $hba"
    $sudo_ sed -i '1i host all all 127.0.0.1/32 trust\nhost all all ::1/128 trust' "$hba"
    $sudo_ pg_ctlcluster --skip-systemctl-redirect "$version" main reload
fi
psql -h 127.0.0.1 -U postgres -d postgres -tc "select 1 from pg_database where datname='silentgw_test'" | grep -q 1 \
    || psql -h 127.0.0.1 -U postgres -d postgres -c 'create database silentgw_test' >/dev/null
