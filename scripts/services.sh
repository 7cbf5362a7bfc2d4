#!/usr/bin/env bash
# mPanel's real services on loopback, without systemd or Docker (Debian 12):
#   PowerDNS (DNS + HTTP API), nginx, Pebble (ACME), the mail stack (Dovecot IMAP + LMTP + SASL +
#   quota policy, Postfix SMTP in + submission, OpenDKIM signing milter),
#   plus PostgreSQL and Redis, which are only started when they do not answer already.
#
# usage: scripts/services.sh up|down [--all]|status|install|env
#   install   apt-get install whatever is missing (no apt call at all when nothing is)
#   up        install, then start everything that is not running; idempotent, fast when all is up;
#             a daemon whose generated config differs from the one it runs with is restarted
#   down      stop the daemons started from MPANEL_RUN_DIR (by pid file only);
#             --all also stops PostgreSQL/Redis if (and only if) this script started them
#   status    one line per service; exit status 1 if any is down
#   env       print the matching environment for the application (export lines)
#
# Configuration (environment; defaults in brackets):
#   MPANEL_RUN_DIR [/var/lib/mpanel]  configs, pid files, logs, zone database; must be traversable
#                                     (o+x) with all its parents: nginx workers run as nobody,
#                                     Dovecot's auth as dovecot
#   WEB_ROOT [$RUN_DIR/www]  NGINX_CONF [$RUN_DIR/nginx/nginx.conf]  NGINX_SITES_DIR [$RUN_DIR/nginx/sites]
#   DOVECOT_USERS_FILE [$RUN_DIR/dovecot/users]  MAIL_ROOT [$RUN_DIR/mail]
#   MAIL_PANEL_DIR [$RUN_DIR/mail-panel]  (Postfix maps + OpenDKIM tables mPanel rewrites; see "Mail" below)
#   MPANEL_MAIL_HOSTNAME [mail.mpanel.test]  (Postfix's myhostname: SMTP greeting, bounces)
#   POWERDNS_API_KEY [its value in ./.env, which `mpanel secrets generate` writes and the CLI reads;
#                     else dev-pdns-key, the test suite's public key]. A running PowerDNS whose
#                     key differs is restarted with this one.
#   MPANEL_DNS_PORT [5300] MPANEL_PDNS_API_PORT [8081] NGINX_HTTP_PORT [8080]
#   MPANEL_ACME_PORT [14000] MPANEL_ACME_MGMT_PORT [15000] MPANEL_IMAP_PORT [1143] MPANEL_LMTP_PORT [2424]
#   MPANEL_SMTP_IN_PORT [2500] (stands for 25)  MPANEL_SUBMISSION_PORT [5870] (stands for 587)
#   MPANEL_DKIM_PORT [8891] (OpenDKIM milter; only Postfix talks to it)
#   MPANEL_PG_PORT [5432] MPANEL_REDIS_PORT [6379] MPANEL_SERVICES_TIMEOUT [20] (seconds per service)
# Everything binds 127.0.0.1 only.
set -euo pipefail
umask 022 # a CI umask of 077 would make the web root unreadable for nginx's workers

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
RUN_DIR=$(realpath -m "${MPANEL_RUN_DIR:-/var/lib/mpanel}")
WEB_ROOT=$(realpath -m "${WEB_ROOT:-$RUN_DIR/www}")
NGINX_CONF=$(realpath -m "${NGINX_CONF:-$RUN_DIR/nginx/nginx.conf}")
NGINX_PREFIX=$(dirname "$NGINX_CONF")
NGINX_SITES_DIR=$(realpath -m "${NGINX_SITES_DIR:-$RUN_DIR/nginx/sites}")
DOVECOT_USERS_FILE=$(realpath -m "${DOVECOT_USERS_FILE:-$RUN_DIR/dovecot/users}")
MAIL_ROOT=$(realpath -m "${MAIL_ROOT:-$RUN_DIR/mail}")
dotenv_value() { # dotenv_value <name>: its last assignment in ./.env, unquoted (nothing when absent)
  [ -f .env ] || return 0
  sed -nE "s/^[[:space:]]*(export[[:space:]]+)?$1[[:space:]]*=[[:space:]]*//p" .env | tail -n 1 |
    sed -E "s/^'([^']*)'.*$/\1/; t; s/^\"([^\"]*)\".*$/\1/; t; s/[[:space:]]+#.*$//; s/[[:space:]]+$//"
}
POWERDNS_API_KEY=${POWERDNS_API_KEY:-$(dotenv_value POWERDNS_API_KEY)}
MAIL_PANEL_DIR=$(realpath -m "${MAIL_PANEL_DIR:-$RUN_DIR/mail-panel}")
DOVECOT_CONF=$RUN_DIR/dovecot/dovecot.conf
POSTFIX_CONFIG_DIR=$RUN_DIR/postfix/conf  # only root-owned files here: `postfix check` warns about any other
OPENDKIM_CONF=$RUN_DIR/opendkim/opendkim.conf
OPENDKIM_PID_FILE=$RUN_DIR/opendkim/opendkim.pid
MAIL_HOSTNAME=${MPANEL_MAIL_HOSTNAME:-mail.mpanel.test}
POWERDNS_API_KEY=${POWERDNS_API_KEY:-dev-pdns-key}
[[ $POWERDNS_API_KEY =~ ^[A-Za-z0-9._~+/=-]+$ ]] || { echo "services: ERROR: POWERDNS_API_KEY may hold only letters, digits and . _ ~ + / = - (it goes into pdns.conf)" >&2; exit 1; }
DNS_PORT=${MPANEL_DNS_PORT:-5300}
PDNS_API_PORT=${MPANEL_PDNS_API_PORT:-8081}
HTTP_PORT=${NGINX_HTTP_PORT:-8080}
ACME_PORT=${MPANEL_ACME_PORT:-14000}
ACME_MGMT_PORT=${MPANEL_ACME_MGMT_PORT:-15000}
IMAP_PORT=${MPANEL_IMAP_PORT:-1143}
LMTP_PORT=${MPANEL_LMTP_PORT:-2424}
SMTP_IN_PORT=${MPANEL_SMTP_IN_PORT:-2500}
SUBMISSION_PORT=${MPANEL_SUBMISSION_PORT:-5870}
DKIM_PORT=${MPANEL_DKIM_PORT:-8891}
PG_PORT=${MPANEL_PG_PORT:-5432}
REDIS_PORT=${MPANEL_REDIS_PORT:-6379}
TIMEOUT=${MPANEL_SERVICES_TIMEOUT:-20}
PG_SOCKET_DIR=/var/run/postgresql

PACKAGES=(pdns-server pdns-backend-sqlite3 nginx pebble dovecot-imapd dovecot-lmtpd postfix opendkim
          opendkim-tools bind9-dnsutils sqlite3 openssl curl openssh-server iproute2
          chromium poppler-utils)  # chromium: the console's browser tests (playwright-core drives /usr/bin/chromium);
                                    # poppler-utils: pdftotext reads the invoice PDFs back in tests

T0=$(date +%s%N)
say() { echo "services: $*"; }
warn() { echo "services: $*" >&2; }
die() { echo "services: ERROR: $*" >&2; exit 1; }
elapsed() { awk -v a="$T0" -v b="$(date +%s%N)" 'BEGIN { printf "%.1f s", (b - a) / 1e9 }'; }

# ---------------------------------------------------------------------------------------------
# processes and ports

alive() { # alive <pid>: a zombie counts as gone (PID 1 may reap orphans only every few seconds)
  local st
  st=$(cat "/proc/$1/stat" 2>/dev/null) || return 1
  st=${st##*) }
  [ "${st:0:1}" != Z ] && [ "${st:0:1}" != X ]
}

pid_of() { # pid_of <pidfile> <comm>: print the pid if it is alive AND is that program (pids get reused)
  local pid=
  [ -s "$1" ] && read -r pid < "$1" 2>/dev/null || true
  [[ $pid =~ ^[0-9]+$ ]] || return 1
  alive "$pid" && [ "$(cat "/proc/$pid/comm" 2>/dev/null)" = "$2" ] && echo "$pid"
}

tcp_open() { timeout 2 bash -c "exec 3<>/dev/tcp/$1/$2" 2>/dev/null; }

port_users() { # port_users tcp|udp <port>: print the listeners on that port, if any
  local flag=-lnt; [ "$1" = udp ] && flag=-lnu
  if command -v ss >/dev/null; then
    ss -H $flag -p "sport = :$2" 2>/dev/null | awk '{ print $4 " " ($6 == "" ? "(process unknown)" : $6) }'
  elif [ "$1" = tcp ] && tcp_open 127.0.0.1 "$2"; then
    echo "127.0.0.1:$2 (install iproute2 for ss to see which process)"
  fi
}

ports_free() { # ports_free <service> tcp:5300:VAR ...: fail naming the process that holds a port
  local svc=$1 spec proto port var users; shift
  for spec in "$@"; do
    IFS=: read -r proto port var <<<"$spec"
    users=$(port_users "$proto" "$port")
    [ -z "$users" ] && continue
    warn "cannot start $svc: port $port/$proto is already in use:"
    echo "$users" | sed 's/^/    /' >&2
    warn "  probably a leftover from an earlier run (its pid file in $RUN_DIR is gone or stale)."
    warn "  Stop that process (kill <pid>) or choose another port with $var=..."
    return 1
  done
}

wait_for() { # wait_for <service> <log> <pid|""> <command...>: poll for up to $TIMEOUT s
  local what=$1 log=$2 pid=$3 i; shift 3
  for ((i = 0; i < TIMEOUT * 20; i++)); do
    "$@" >/dev/null 2>&1 && return 0
    if [ -n "$pid" ] && ! alive "$pid"; then warn "$what exited during start-up"; break; fi
    sleep 0.05
  done
  [ -n "$pid" ] && alive "$pid" && warn "$what did not answer within ${TIMEOUT}s"
  warn "last lines of $log:"; tail -n 25 "$log" 2>/dev/null | sed 's/^/    /' >&2 || true
  return 1
}

# ---------------------------------------------------------------------------------------------
# install

need_root() { [ "$(id -u)" = 0 ] || die "'$1' must run as root (packages, Dovecot's mail user, runuser postgres)"; }

missing_packages() {
  local installed p
  installed=$'\n'$( { dpkg-query -W -f='${Package} ${db:Status-Abbrev}\n' "${PACKAGES[@]}" 2>/dev/null || true; } |
    awk 'substr($2, 2, 1) == "i" { print $1 }')$'\n'
  for p in "${PACKAGES[@]}"; do [[ $installed == *$'\n'$p$'\n'* ]] || echo "$p"; done
  command -v psql >/dev/null && command -v pg_isready >/dev/null || echo postgresql-client
  if ! tcp_open 127.0.0.1 "$PG_PORT" && ! command -v pg_ctlcluster >/dev/null; then echo postgresql; fi
  if ! tcp_open 127.0.0.1 "$REDIS_PORT" && ! command -v redis-server >/dev/null; then echo redis-server; fi
}

do_install() {
  local missing t log=$RUN_DIR/install.log
  mapfile -t missing < <(missing_packages)
  [ ${#missing[@]} -eq 0 ] && return 0
  need_root install
  t=$(date +%s)
  say "installing packages (first run, ~15 s): ${missing[*]}"
  if [ ! -e /usr/sbin/policy-rc.d ]; then
    # packages must not start their system services (nginx :80, dovecot :143, pdns :53, ...)
    printf '#!/bin/sh\n# written by mPanel scripts/services.sh: packages do not start services\nexit 101\n' > /usr/sbin/policy-rc.d
    chmod 755 /usr/sbin/policy-rc.d
    say "wrote /usr/sbin/policy-rc.d (exit 101): package installs no longer start services; delete it if this machine needs that"
  fi
  if [[ " ${missing[*]} " == *" postfix "* ]]; then
    # Postfix's installer asks for a mail setup and would write /etc/postfix/main.cf for one:
    # mPanel runs its own instance from $RUN_DIR/postfix, so the system one stays unconfigured.
    echo "postfix postfix/main_mailer_type select No configuration" | debconf-set-selections
  fi
  {
    apt-get -o DPkg::Lock::Timeout=300 update -qq &&
    DEBIAN_FRONTEND=noninteractive apt-get -o DPkg::Lock::Timeout=300 install -y -qq \
      --no-install-recommends "${missing[@]}"
  } </dev/null >"$log" 2>&1 || { warn "apt-get failed; last lines of $log:"; tail -n 30 "$log" >&2; exit 1; }
  mapfile -t missing < <(missing_packages)
  [ ${#missing[@]} -eq 0 ] || die "still missing after apt-get install: ${missing[*]} (see $log)"
  say "packages installed in $(( $(date +%s) - t )) s (log: $log)"
}

# ---------------------------------------------------------------------------------------------
# directories

check_traversable() { # check_traversable <dir>: every parent must be o+x (the dir itself is made so)
  local dir=$1 p mode
  mkdir -p "$dir"
  chmod o+x "$dir"
  p=$(dirname "$dir")
  while :; do
    mode=$(stat -L -c %a "$p")
    if (( (8#$mode & 1) == 0 )); then
      die "$p (mode $mode) is not traversable by other users, so nginx's workers (nobody) and Dovecot (dovecot, mail) cannot reach $dir. Run 'chmod o+x $p' or set MPANEL_RUN_DIR to a path such as /var/lib/mpanel."
    fi
    [ "$p" = / ] && break
    p=$(dirname "$p")
  done
}

prepare_dirs() {
  check_traversable "$RUN_DIR"
  check_traversable "$WEB_ROOT"
  check_traversable "$MAIL_ROOT"
  check_traversable "$(dirname "$DOVECOT_USERS_FILE")"
  check_traversable "$MAIL_PANEL_DIR"
  mkdir -p "$NGINX_PREFIX" "$NGINX_SITES_DIR"
}

lock() { exec 9>>"$RUN_DIR/.services.lock"; flock -w 300 9 || die "another services.sh holds $RUN_DIR/.services.lock"; }

# ---------------------------------------------------------------------------------------------
# PostgreSQL and Redis (machine services: used when they answer, started only when they do not)

pg_answering() { pg_isready -q -h 127.0.0.1 -p "$PG_PORT" -t 2 >/dev/null 2>&1; }

pg_admin() { # psql as the superuser over the Unix socket (stock Debian: peer auth; TCP wants a password)
  if id -u postgres >/dev/null 2>&1 && [ -S "$PG_SOCKET_DIR/.s.PGSQL.$PG_PORT" ]; then
    (cd / && runuser -u postgres -- psql -X -q -v ON_ERROR_STOP=1 -h "$PG_SOCKET_DIR" -p "$PG_PORT" -d postgres "$@")
  else
    env -u PGPASSWORD psql -X -q -w -v ON_ERROR_STOP=1 -h 127.0.0.1 -p "$PG_PORT" -U postgres -d postgres "$@"
  fi
}

start_postgres() {
  local line ver name log
  if pg_answering; then say "postgres up on 127.0.0.1:$PG_PORT"; return 0; fi
  command -v pg_lsclusters >/dev/null || die "PostgreSQL does not answer on 127.0.0.1:$PG_PORT and is not installed (apt-get install postgresql)"
  line=$(pg_lsclusters -h 2>/dev/null | awk -v p="$PG_PORT" '$3 == p { print; exit }')
  if [ -z "$line" ]; then
    [ -z "$(pg_lsclusters -h 2>/dev/null)" ] || die "PostgreSQL does not answer on 127.0.0.1:$PG_PORT and no cluster uses that port: $(pg_lsclusters -h | tr '\n' ';')"
    ver=$(ls /usr/lib/postgresql | sort -V | tail -n 1)
    say "creating PostgreSQL cluster $ver/main on port $PG_PORT"
    pg_createcluster --port "$PG_PORT" "$ver" main </dev/null >/dev/null
    line=$(pg_lsclusters -h | awk -v p="$PG_PORT" '$3 == p { print; exit }')
  fi
  read -r ver name _ _ _ _ log <<<"$line"
  ports_free postgres "tcp:$PG_PORT:MPANEL_PG_PORT" || exit 1
  say "starting PostgreSQL $ver/$name (not answering on 127.0.0.1:$PG_PORT)"
  mkdir -p "$RUN_DIR/postgres"
  pg_ctlcluster --skip-systemctl-redirect "$ver" "$name" start </dev/null >"$RUN_DIR/postgres/start.log" 2>&1 9>&- || {
    cat "$RUN_DIR/postgres/start.log" >&2; warn "last lines of $log:"; tail -n 20 "$log" >&2; exit 1; }
  echo "$ver $name" > "$RUN_DIR/postgres/started-by-services"
  wait_for PostgreSQL "$log" "" pg_answering || exit 1
  say "postgres up on 127.0.0.1:$PG_PORT (started $ver/$name)"
}

redis_answering() {
  if command -v redis-cli >/dev/null; then
    [ "$(timeout 2 redis-cli -h 127.0.0.1 -p "$REDIS_PORT" ping 2>/dev/null)" = PONG ]
  else
    timeout 2 bash -c "exec 3<>/dev/tcp/127.0.0.1/$REDIS_PORT && printf 'PING\r\n' >&3 && head -c5 <&3 | grep -q PONG" 2>/dev/null
  fi
}

start_redis() {
  local d=$RUN_DIR/redis
  if redis_answering; then say "redis up on 127.0.0.1:$REDIS_PORT"; return 0; fi
  command -v redis-server >/dev/null || die "Redis does not answer on 127.0.0.1:$REDIS_PORT and is not installed (apt-get install redis-server)"
  ports_free redis "tcp:$REDIS_PORT:MPANEL_REDIS_PORT" || exit 1
  mkdir -p "$d"
  redis-server --daemonize yes --bind 127.0.0.1 --port "$REDIS_PORT" --save '' --appendonly no \
    --dir "$d" --logfile "$d/log" --pidfile "$d/redis.pid" </dev/null >"$d/start.log" 2>&1 9>&- || {
    cat "$d/start.log" >&2; exit 1; }
  wait_for Redis "$d/log" "" redis_answering || exit 1
  say "redis up on 127.0.0.1:$REDIS_PORT (started, pid $(cat "$d/redis.pid" 2>/dev/null))"
}

# shellcheck disable=SC2069 # stderr is the result, stdout is dropped
tcp_login() { # tcp_login <role> <db>: passwordless login over loopback TCP, as the tests and the app do it
  env -u PGPASSWORD PGPASSFILE=/dev/null PGCONNECT_TIMEOUT=5 \
    psql -X -w -Atq -h 127.0.0.1 -p "$PG_PORT" -U "$1" -d "$2" -c 'select 1' 2>&1 >/dev/null
}

HBA_MARK='# added by mPanel scripts/services.sh: passwordless loopback logins, for dev/CI machines only'
setup_database() {
  local err hba role db i ok
  pg_admin < "$ROOT/scripts/db-roles.sql" || die "scripts/db-roles.sql failed"
  if [ "$(pg_admin -Atc "SELECT 1 FROM pg_database WHERE datname = 'mpanel'")" != 1 ]; then
    pg_admin -c 'CREATE DATABASE mpanel OWNER mpanel' || die "could not create database mpanel"
    say "created database mpanel (owner mpanel)"
  fi
  for i in 1 2; do
    ok=1
    for role in postgres:postgres mpanel:mpanel mpanel_app:mpanel; do
      db=${role#*:}; role=${role%%:*}
      err=$(tcp_login "$role" "$db") && continue
      ok=0; break
    done
    [ $ok = 1 ] && break
    [ $i = 1 ] && [[ $err == *password* || $err == *authentication* ]] ||
      die "role $role cannot log in to database $db on 127.0.0.1:$PG_PORT without a password: $err"
    hba=$(pg_admin -Atc 'SHOW hba_file')
    [ "$(head -n 1 "$hba")" != "$HBA_MARK" ] || die "role $role cannot log in on 127.0.0.1:$PG_PORT although $hba starts with trust lines: $err"
    [ -f "$hba.before-mpanel" ] || cp -p "$hba" "$hba.before-mpanel"
    { printf '%s\n' "$HBA_MARK" 'host all all 127.0.0.1/32 trust' 'host all all ::1/128 trust'; cat "$hba"; } > "$hba.mpanel-tmp"
    cat "$hba.mpanel-tmp" > "$hba" && rm -f "$hba.mpanel-tmp"  # cat keeps the file's owner and mode
    pg_admin -Atc 'SELECT pg_reload_conf()' >/dev/null
    say "PostgreSQL asked role $role for a password on 127.0.0.1: added 'host all all 127.0.0.1/32 trust' and '::1/128 trust' at the top of $hba and reloaded (dev/CI only; production sets passwords in DATABASE_URL; original kept as $hba.before-mpanel)"
    for _ in $(seq 1 40); do tcp_login "$role" "$db" >/dev/null && break; sleep 0.05; done
  done
}

# ---------------------------------------------------------------------------------------------
# PowerDNS, nginx, Pebble (run from $RUN_DIR, stopped by pid file); the mail stack below

pdns_ok() { curl -sf -o /dev/null -H "X-API-Key: $POWERDNS_API_KEY" "http://127.0.0.1:$PDNS_API_PORT/api/v1/servers/localhost"; }
nginx_ok() { curl -s -o /dev/null "http://127.0.0.1:$HTTP_PORT/"; }
pebble_ok() { curl -sf -o /dev/null --cacert "$RUN_DIR/pebble/cert.pem" "https://127.0.0.1:$ACME_PORT/dir"; }
greets() { # greets <port> <prefix>: the daemon on 127.0.0.1:<port> answers a line starting with <prefix> (builtins only)
  local fd line=
  { exec {fd}<>"/dev/tcp/127.0.0.1/$1"; } 2>/dev/null || return 1  # braces: a bare exec would keep the 2>
  IFS= read -r -t 2 line <&"$fd" || true
  exec {fd}<&-
  [[ $line == "$2"* ]]
}
imap_ok() { greets "$IMAP_PORT" '* OK'; }
lmtp_ok() { greets "$LMTP_PORT" 220; }
dovecot_ok() { imap_ok && lmtp_ok && [ -S "$RUN_DIR/dovecot/run/auth-postfix" ] && [ -S "$RUN_DIR/dovecot/run/quota-status" ]; }

already() { # already <service> <pid> <check> <log> <message>: running from an earlier start
  wait_for "$1" "$4" "$2" "$3" || exit 1
  say "$5 (already running, pid $2)"
}

start_pdns() {
  local d=$RUN_DIR/pdns pid msg="powerdns up on 127.0.0.1:$DNS_PORT (api :$PDNS_API_PORT)"
  if pid=$(pid_of "$d/pdns.pid" pdns_server); then
    if grep -qxF "api-key=$POWERDNS_API_KEY" "$d/pdns.conf" 2>/dev/null; then already PowerDNS "$pid" pdns_ok "$d/log" "$msg"; return; fi
    # e.g. started by the test suite before `mpanel secrets generate` wrote the install's own key
    say "PowerDNS (pid $pid) runs with another API key than POWERDNS_API_KEY: restarting it with this one"
    stop_all "powerdns:$d/pdns.pid:pdns_server"
  fi
  ports_free powerdns "tcp:$DNS_PORT:MPANEL_DNS_PORT" "udp:$DNS_PORT:MPANEL_DNS_PORT" "tcp:$PDNS_API_PORT:MPANEL_PDNS_API_PORT" || exit 1
  mkdir -p "$d"; rm -f "$d/pdns.pid"
  [ -s "$d/pdns.sqlite3" ] || sqlite3 "$d/pdns.sqlite3" < /usr/share/pdns-backend-sqlite3/schema/schema.sqlite3.sql
  cat > "$d/pdns.conf" <<EOF
# written by scripts/services.sh; zones live in pdns.sqlite3 and survive restarts
launch=gsqlite3
gsqlite3-database=$d/pdns.sqlite3
local-address=127.0.0.1
local-port=$DNS_PORT
api=yes
api-key=$POWERDNS_API_KEY
webserver=yes
webserver-address=127.0.0.1
webserver-port=$PDNS_API_PORT
webserver-allow-from=127.0.0.0/8
default-soa-content=ns1.@ hostmaster.@ 0 10800 3600 604800 3600
socket-dir=$d
daemon=no
guardian=no
disable-syslog=yes
security-poll-suffix=
setuid=
setgid=
EOF
  pdns_server --config-dir="$d" </dev/null >"$d/log" 2>&1 9>&- &  # writes $d/pdns.pid itself
  wait_for PowerDNS "$d/log" $! pdns_ok || exit 1
  say "$msg"
}

start_nginx() {
  local d=$NGINX_PREFIX pid msg="nginx up on 127.0.0.1:$HTTP_PORT (sites: $NGINX_SITES_DIR/*.conf)"
  if pid=$(pid_of "$d/nginx.pid" nginx); then already nginx "$pid" nginx_ok "$d/logs/error.log" "$msg"; return; fi
  ports_free nginx "tcp:$HTTP_PORT:NGINX_HTTP_PORT" || exit 1
  mkdir -p "$d/logs" "$d/tmp" "$NGINX_SITES_DIR"; rm -f "$d/nginx.pid"
  cat > "$NGINX_CONF" <<EOF
# written by scripts/services.sh. Every command needs the same prefix and file:
#   nginx -p $d -c $NGINX_CONF [-t|-s reload]
# Relative paths below resolve against the -p prefix.
worker_processes 1;
pid nginx.pid;
error_log logs/error.log warn;
events { worker_connections 1024; }
http {
  include /etc/nginx/mime.types;
  default_type application/octet-stream;
  access_log logs/access.log;
  client_body_temp_path tmp/body;
  proxy_temp_path tmp/proxy;
  fastcgi_temp_path tmp/fastcgi;
  uwsgi_temp_path tmp/uwsgi;
  scgi_temp_path tmp/scgi;
  server_names_hash_bucket_size 512;  # 128 fails for names over ~115 chars; 512 fits 253
  server_names_hash_max_size 65536;   # default 512: only a warning with 1000s of names
  server {
    listen 127.0.0.1:$HTTP_PORT default_server;
    server_name _;
    return 404;
  }
  include $NGINX_SITES_DIR/*.conf;
}
EOF
  nginx -t -q -p "$d" -c "$NGINX_CONF" </dev/null 9>&- || die "nginx -t failed for $NGINX_CONF (a broken file in $NGINX_SITES_DIR?)"
  nginx -p "$d" -c "$NGINX_CONF" </dev/null >>"$d/logs/start.log" 2>&1 9>&- || {
    cat "$d/logs/start.log" >&2; die "nginx did not start"; }
  wait_for nginx "$d/logs/error.log" "" nginx_ok || exit 1
  say "$msg"
}

fetch_pebble_roots() { # the issuing root and intermediate are new at each Pebble start
  local d=$RUN_DIR/pebble f
  for f in root:roots intermediate:intermediates; do
    curl -sf --cacert "$d/cert.pem" "https://127.0.0.1:$ACME_MGMT_PORT/${f#*:}/0" > "$d/${f%%:*}.pem.tmp" ||
      die "could not fetch Pebble's ${f%%:*} certificate from :$ACME_MGMT_PORT"
    mv "$d/${f%%:*}.pem.tmp" "$d/${f%%:*}.pem"
  done
}

start_pebble() {
  local d=$RUN_DIR/pebble pid msg="pebble up on https://127.0.0.1:$ACME_PORT/dir (mgmt :$ACME_MGMT_PORT, CA $RUN_DIR/pebble/cert.pem)"
  if pid=$(pid_of "$d/pebble.pid" pebble); then
    already Pebble "$pid" pebble_ok "$d/log" "$msg"
    [ -s "$d/root.pem" ] || fetch_pebble_roots
    return
  fi
  ports_free pebble "tcp:$ACME_PORT:MPANEL_ACME_PORT" "tcp:$ACME_MGMT_PORT:MPANEL_ACME_MGMT_PORT" || exit 1
  mkdir -p "$d"; rm -f "$d/pebble.pid" "$d/root.pem" "$d/intermediate.pem"
  [ -s "$d/cert.pem" ] && [ -s "$d/key.pem" ] || openssl req -x509 -newkey rsa:2048 -nodes -days 3650 -subj /CN=localhost \
      -addext 'subjectAltName=DNS:localhost,IP:127.0.0.1' -keyout "$d/key.pem" -out "$d/cert.pem" 2>/dev/null
  cat > "$d/config.json" <<EOF
{"pebble": {
  "listenAddress": "127.0.0.1:$ACME_PORT",
  "managementListenAddress": "127.0.0.1:$ACME_MGMT_PORT",
  "certificate": "$d/cert.pem",
  "privateKey": "$d/key.pem",
  "httpPort": $HTTP_PORT,
  "tlsPort": 8443,
  "ocspResponderURL": "",
  "externalAccountBindingRequired": false
}}
EOF
  PEBBLE_VA_NOSLEEP=1 PEBBLE_WFE_NONCEREJECT=0 \
    pebble -config "$d/config.json" -dnsserver "127.0.0.1:$DNS_PORT" </dev/null >"$d/log" 2>&1 9>&- &
  echo $! > "$d/pebble.pid"
  wait_for Pebble "$d/log" $! pebble_ok || exit 1
  fetch_pebble_roots
  say "$msg"
}

# ---------------------------------------------------------------------------------------------
# Mail: Dovecot (IMAP, LMTP, SASL and quota policy for Postfix), OpenDKIM (signing milter), Postfix
#
# The files mPanel's mail provider writes (the contract; README "Mail stack"):
#
#   $DOVECOT_USERS_FILE                 root:dovecot 0640      after a change: see (3)
#       info@example.test:{SHA512-CRYPT}$6$...::::::userdb_quota_rule=*:storage=100M
#   $MAIL_PANEL_DIR/vdomains            root:root 0644         after a change: see (2)
#       example.test OK
#   $MAIL_PANEL_DIR/vmailboxes          root:root 0644         (2); the value is the SASL login
#       info@example.test info@example.test                    allowed to send as that address
#   $MAIL_PANEL_DIR/valiases            root:root 0644         (2); the targets (comma-separated,
#       sales@example.test info@example.test, x@y.test         outside addresses too) may send as it
#   $MAIL_PANEL_DIR/dkim/KeyTable       root:opendkim 0640     after a change: see (4)
#       s1._domainkey.example.test example.test:s1:$MAIL_PANEL_DIR/dkim/keys/example.test.s1.key
#   $MAIL_PANEL_DIR/dkim/SigningTable   root:opendkim 0640     (4)
#       *@example.test s1._domainkey.example.test
#   $MAIL_PANEL_DIR/dkim/keys/example.test.s1.key  opendkim:opendkim 0600, PEM RSA 2048 (then its
#                                                  KeyTable line)
# Addresses and domains are lowercase (Postfix folds its lookups; Dovecot: auth_username_format).
#
# (1) Every writer holds `flock -x $MAIL_PANEL_DIR/.lock` for its whole read-modify-write and the
#     reload after it, so two writers (two workers, two test files) never lose each other's lines;
#     and replaces a file atomically: temp file in the same directory, fsync, chown/chmod, rename.
# (2) Postfix maps are hash: tables. After changing them: `postmap -c $POSTFIX_CONFIG_DIR
#     hash:$MAIL_PANEL_DIR/<file>` for each changed file (rebuilds <file>.db, ~25 ms), then ONE
#     `postfix -c $POSTFIX_CONFIG_DIR reload`; the next SMTP session sees the change.
#     Why both: Postfix notices a rebuilt .db on its own only when the .db's mtime second differs
#     from when a process opened it (24 of 30 quick changes were missed here), and trivial-rewrite,
#     which decides whether a domain is hosted, looks only every 10 s. Why not texthash: (no
#     postmap) a texthash file changed in the last ~2 s makes every process that opens it wait
#     until the file is 2 s old ("hot" file), so the first session after a reload took ~1.7 s
#     instead of ~0.45 s.
# (3) The users file needs no reload, but Dovecot's auth re-reads it only when its mtime (whole
#     seconds) or size changed, and checks at most once a second. So a writer (a) sets the new
#     file's mtime to max(now, previous mtime + 1 s) before the rename: otherwise a same-size
#     rewrite (a password change) in the second of the last read is never seen; and (b) when a
#     change must count at once (a new mailbox verified by a login, a password change, a
#     suspension, a new quota) runs `doveadm -c $DOVECOT_CONF reload` or sends what it sends, SIGHUP,
#     to Dovecot's master (a new auth process reads the file; open IMAP sessions stay), THEN
#     `postfix -c $POSTFIX_CONFIG_DIR reload`: Postfix's
#     idle smtpd processes keep their connections to the OLD auth and quota-status processes, which
#     may not have re-read the file yet (once a second), so without it SMTP AUTH of a just suspended
#     login was still accepted about 1 run in 5. Otherwise a change shows within about a second.
# (4) `kill -USR1 $(cat $OPENDKIM_PID_FILE)` makes OpenDKIM re-read its tables; until then the
#     old ones stay in use (a new domain is not signed).
# (5) The standard folders (Drafts, Sent, Trash, Junk) are Dovecot's: `auto = subscribe` in the
#     INBOX namespace below creates and subscribes them at a mailbox's first access, so a writer
#     creates none (mPanel's provider reads this with `doveconf namespace` and runs `doveadm
#     mailbox create` per new mailbox only on a server configured without them).
# Suspending a mailbox removes its login but keeps the line: put `!` right after `{SCHEME}` in the
# password field (IMAP login and SMTP AUTH refused; the userdb still answers, so inbound mail is
# accepted and kept). Unsuspend removes the `!`. The passdb field nologin=y is not enough: Postfix's
# SASL ignores it. Removing the line would make LMTP answer "unknown user" and Postfix bounce mail.

write_dovecot_config() { # status 0 if the file changed
  install_config "$DOVECOT_CONF" <<EOF
# written by scripts/services.sh (changes here are lost); dovecot -c $DOVECOT_CONF (2.3): each '{' ends its line
protocols = imap lmtp
listen = 127.0.0.1
base_dir = $RUN_DIR/dovecot/run
state_dir = $RUN_DIR/dovecot/state
log_path = $RUN_DIR/dovecot/log
hostname = $MAIL_HOSTNAME
# loopback only; a real mail server needs TLS (ssl = required) before plaintext AUTH
ssl = no
disable_plaintext_auth = no
auth_mechanisms = plain login
auth_username_format = %Lu
# no 2 s delay and no per-IP penalty after a failed login: every client here is 127.0.0.1
auth_failure_delay = 0
# maildirs belong to the system user vmail only: Dovecot refuses any other uid
first_valid_uid = $VMAIL_UID
last_valid_uid = $VMAIL_UID
first_valid_gid = $VMAIL_GID
last_valid_gid = $VMAIL_GID
mail_location = maildir:$MAIL_ROOT/%d/%n
mail_plugins = \$mail_plugins quota
lmtp_rcpt_check_quota = yes
passdb {
  driver = passwd-file
  args = scheme=SHA512-CRYPT username_format=%u $DOVECOT_USERS_FILE
}
userdb {
  driver = passwd-file
  args = username_format=%u $DOVECOT_USERS_FILE
  default_fields = uid=vmail gid=vmail home=$MAIL_ROOT/%d/%n
}
service imap-login {
  inet_listener imap {
    address = 127.0.0.1
    port = $IMAP_PORT
  }
  inet_listener imaps {
    port = 0
  }
}
service lmtp {
  inet_listener lmtp {
    address = 127.0.0.1
    port = $LMTP_PORT
  }
}
# Postfix's SASL (submission AUTH) and its RCPT-time quota check (policy service)
service auth {
  unix_listener auth-postfix {
    mode = 0660
    user = postfix
    group = postfix
  }
}
service quota-status {
  executable = quota-status -p postfix
  client_limit = 1
  unix_listener quota-status {
    mode = 0660
    user = postfix
    group = postfix
  }
}
service anvil {
  unix_listener anvil-auth-penalty {
    mode = 0
  }
}
protocol imap {
  mail_plugins = \$mail_plugins imap_quota
}
# The standard folders of every mailbox, created and subscribed by Dovecot at the mailbox's first
# access: mPanel's provider then runs no doveadm per new mailbox (README "Mail hosting", folders)
namespace inbox {
  inbox = yes
  mailbox Drafts {
    auto = subscribe
    special_use = \\Drafts
  }
  mailbox Sent {
    auto = subscribe
    special_use = \\Sent
  }
  mailbox Trash {
    auto = subscribe
    special_use = \\Trash
  }
  mailbox Junk {
    auto = subscribe
    special_use = \\Junk
  }
}
plugin {
  quota = count:User quota
  quota_vsizes = yes
  # default; each mailbox sets its own with userdb_quota_rule in the users file
  quota_rule = *:storage=100M
  quota_status_success = DUNNO
  quota_status_nouser = DUNNO
  quota_status_overquota = "552 5.2.2 Mailbox is full"
}
EOF
}

install_config() { # install_config <file> <<EOF: stdin becomes <file>; status 0 if the content changed
  local new old=
  IFS= read -r -d '' new || true  # builtins only (no cat, no pipe): `up` runs this for every config, every time
  [ -f "$1" ] && { IFS= read -r -d '' old < "$1" || true; }
  [ -f "$1" ] && [ "$old" = "$new" ] && return 1
  printf '%s' "$new" > "$1.new" && mv -f "$1.new" "$1"
}

ensure_vmail() { # the owner of every maildir: a system user of its own, not `mail` (shared with /var/mail)
  local entry
  entry=$(getent passwd vmail) ||
    { useradd --system --user-group --no-create-home --home-dir /nonexistent --shell /usr/sbin/nologin vmail &&
      entry=$(getent passwd vmail); } || die "could not create the system user vmail"
  IFS=: read -r _ _ VMAIL_UID VMAIL_GID _ <<<"$entry"
}

config_changed() { # config_changed <service> <config> <pid>: say why a running daemon is restarted
  say "$1: $2 changed, restarting (pid $3)"
}

start_dovecot() {
  local d=$RUN_DIR/dovecot pid changed=0 msg="dovecot up on 127.0.0.1:$IMAP_PORT (imap) and 127.0.0.1:$LMTP_PORT (lmtp)"
  ensure_vmail
  mkdir -p "$d/run" "$d/state" "$MAIL_ROOT"
  write_dovecot_config && changed=1
  [ -e "$DOVECOT_USERS_FILE" ] || : > "$DOVECOT_USERS_FILE"
  chgrp dovecot "$DOVECOT_USERS_FILE"; chmod 640 "$DOVECOT_USERS_FILE"  # read by the auth process as dovecot
  if pid=$(pid_of "$d/run/master.pid" dovecot); then
    if [ $changed = 0 ]; then already Dovecot "$pid" dovecot_ok "$d/log" "$msg"; return; fi
    config_changed dovecot "$DOVECOT_CONF" "$pid"
    stop_all "dovecot:$d/run/master.pid:dovecot"
  fi
  ports_free dovecot "tcp:$IMAP_PORT:MPANEL_IMAP_PORT" "tcp:$LMTP_PORT:MPANEL_LMTP_PORT" || exit 1
  rm -f "$d/run/master.pid"
  # maildirs made while the owner was still `mail` (before vmail): hand them over
  chown vmail:vmail "$MAIL_ROOT"
  find "$MAIL_ROOT" -mindepth 1 \( ! -user vmail -o ! -group vmail \) -exec chown -h vmail:vmail {} + 2>/dev/null || true
  # Dovecot daemonises but keeps its stderr: without the redirect a parent reading this script's
  # output ($(...), execFileSync, a test runner's globalSetup) waits for ever.
  dovecot -c "$DOVECOT_CONF" </dev/null >"$d/startup.log" 2>&1 9>&- || {
    cat "$d/startup.log" >&2; tail -n 20 "$d/log" >&2 2>/dev/null; die "dovecot did not start"; }
  wait_for Dovecot "$d/log" "" dovecot_ok || exit 1
  say "$msg"
}

prepare_mail_panel() { # the files mPanel's mail provider rewrites (see the table above); never overwritten here
  local m=$MAIL_PANEL_DIR f
  MAPS_REBUILT=0
  if [ ! -d "$m/dkim/keys" ]; then
    mkdir -p "$m/dkim/keys"
    # OpenDKIM re-reads the tables as opendkim on SIGUSR1, and reads each key as opendkim
    chown root:opendkim "$m/dkim"; chmod 750 "$m/dkim"
    chown opendkim:opendkim "$m/dkim/keys"; chmod 700 "$m/dkim/keys"
  fi
  : >> "$m/.lock"
  for f in vdomains vmailboxes valiases; do
    [ -e "$m/$f" ] || { : > "$m/$f"; chmod 644 "$m/$f"; }
    # a missing or older .db (first start, or a writer that skipped postmap): build it
    [ "$m/$f.db" -nt "$m/$f" ] && continue
    postmap -c "$POSTFIX_CONFIG_DIR" "hash:$m/$f" </dev/null 9>&- || die "postmap -c $POSTFIX_CONFIG_DIR hash:$m/$f failed"
    MAPS_REBUILT=1
  done
  for f in KeyTable SigningTable; do
    [ -e "$m/dkim/$f" ] || { : > "$m/dkim/$f"; chown root:opendkim "$m/dkim/$f"; chmod 640 "$m/dkim/$f"; }
  done
}

opendkim_ok() { # the milter protocol has no greeting: a connection is all there is to check
  local fd
  { exec {fd}<>"/dev/tcp/127.0.0.1/$DKIM_PORT"; } 2>/dev/null || return 1
  exec {fd}<&-
}

unsafe_key_dir() { # print the first directory above the DKIM keys that OpenDKIM calls unsafe, if any
  local p=$MAIL_PANEL_DIR/dkim/keys dirs=() mode owner name
  while [ -n "$p" ]; do dirs+=("$p"); p=${p%/*}; done
  dirs+=(/)
  while read -r mode owner name; do
    if (( (8#$mode & 8#022) != 0 )) || [[ $owner != root && $owner != opendkim ]]; then echo "$name"; return; fi
  done < <(stat -L -c '%a %U %n' "${dirs[@]}")
}

start_opendkim() {
  local d=$RUN_DIR/opendkim pid changed=0 msg="opendkim up on 127.0.0.1:$DKIM_PORT (milter)"
  mkdir -p "$d"
  chown opendkim:opendkim "$d"  # it writes its pid file after dropping root
  # No real client is ever internal: only mail Postfix hands over as SASL-authenticated is signed
  # (the default, 127.0.0.1, would sign anything arriving on the inbound port, spoofed or not).
  install_config "$d/internal-hosts" <<<'192.0.2.1  # TEST-NET-1: matches no client' && changed=1
  # OpenDKIM refuses a key when any directory above it is group/other-writable or owned by another
  # user (a run dir under /tmp): every signed message then gets "451 4.7.1", and the reason is
  # only in syslog. Keep the check wherever it can pass.
  local safe_keys=yes unsafe; unsafe=$(unsafe_key_dir)
  if [ -n "$unsafe" ]; then
    safe_keys=no
    warn "opendkim: $unsafe is writable by others or owned by another user: RequireSafeKeys is off (development only; use a run dir such as /var/lib/mpanel)"
  fi
  install_config "$OPENDKIM_CONF" <<EOF && changed=1
# written by scripts/services.sh (changes here are lost); opendkim -x $OPENDKIM_CONF
# after a change to KeyTable or SigningTable: kill -USR1 \$(cat $OPENDKIM_PID_FILE)
Socket inet:$DKIM_PORT@127.0.0.1
PidFile $OPENDKIM_PID_FILE
UserID opendkim:opendkim
UMask 007
# sign only: verifying inbound mail would query DNS outside loopback
Mode s
Syslog no
InternalHosts $d/internal-hosts
KeyTable file:$MAIL_PANEL_DIR/dkim/KeyTable
SigningTable refile:$MAIL_PANEL_DIR/dkim/SigningTable
RequireSafeKeys $safe_keys
Canonicalization relaxed/simple
OversignHeaders From
EOF
  if pid=$(pid_of "$OPENDKIM_PID_FILE" opendkim); then
    if [ $changed = 0 ]; then already OpenDKIM "$pid" opendkim_ok "$d/startup.log" "$msg"; return; fi
    config_changed opendkim "$OPENDKIM_CONF" "$pid"
    stop_all "opendkim:$OPENDKIM_PID_FILE:opendkim"
  fi
  ports_free opendkim "tcp:$DKIM_PORT:MPANEL_DKIM_PORT" || exit 1
  rm -f "$OPENDKIM_PID_FILE"
  # logs to syslog only (there is none here): start-up errors on stderr are all there is
  opendkim -x "$OPENDKIM_CONF" </dev/null >"$d/startup.log" 2>&1 9>&- || {
    cat "$d/startup.log" >&2; die "opendkim did not start"; }
  wait_for OpenDKIM "$d/startup.log" "" opendkim_ok || exit 1
  say "$msg"
}

write_postfix_main_cf() { # status 0 if the file changed
  local m=$MAIL_PANEL_DIR dr=$RUN_DIR/dovecot/run
  install_config "$POSTFIX_CONFIG_DIR/main.cf" <<EOF
# written by scripts/services.sh (changes here are lost). Every command needs -c, as
# /etc/postfix/main.cf does not exist: postfix|postmap|postconf|postqueue -c $POSTFIX_CONFIG_DIR ...
compatibility_level = 3.6
queue_directory = $RUN_DIR/postfix/spool
# must be owned by postfix, or start fails ("master.lock: Permission denied", only in the log)
data_directory = $RUN_DIR/postfix/data
maillog_file = $RUN_DIR/postfix/log
maillog_file_prefixes = $RUN_DIR/postfix
myhostname = $MAIL_HOSTNAME
mydestination =
mynetworks =
# no /etc/aliases: without these, an aliases.db error and a slower smtpd start
alias_maps =
alias_database =
inet_interfaces = 127.0.0.1
inet_protocols = ipv4
smtputf8_enable = no
biff = no
append_dot_mydomain = no
smtpd_banner = \$myhostname ESMTP

# hosted domains and addresses: files mPanel rewrites, then postmap + postfix reload (see above)
virtual_mailbox_domains = hash:$m/vdomains
virtual_mailbox_maps = hash:$m/vmailboxes
virtual_alias_maps = hash:$m/valiases
virtual_transport = lmtp:inet:127.0.0.1:$LMTP_PORT
# A loopback rig has no route out: mail for a domain this server does not host (a forwarder to
# an outside address, a bounce to an outside sender) fails at once instead of a DNS lookup and
# a connection outside loopback. A real server sends it out (or through relayhost) instead.
default_transport = error:5.7.1 this server delivers to its hosted domains only
relay_transport = \$default_transport

smtpd_relay_restrictions = permit_sasl_authenticated, reject_unauth_destination
# a mailbox already full: 552 at RCPT (Dovecot's quota-status); unknown users get 550 at RCPT
# (smtpd_reject_unlisted_recipient, on by default)
smtpd_recipient_restrictions = check_policy_service unix:$dr/quota-status
smtpd_sasl_type = dovecot
smtpd_sasl_path = $dr/auth-postfix
smtpd_milters = inet:127.0.0.1:$DKIM_PORT
non_smtpd_milters = \$smtpd_milters
# inbound mail is not held up by the signer; submission overrides this with tempfail (master.cf)
milter_default_action = accept
# Every users-file change runs \`doveadm reload\`, and an LMTP delivery in flight at that moment
# gets "421 Shutting down": deferred. Postfix's defaults would retry it 5 minutes later; retry
# within seconds (the message is never lost either way).
queue_run_delay = 2s
minimal_backoff_time = 2s
maximal_backoff_time = 60s
EOF
}

write_postfix_master_cf() { # status 0 if the file changed
  local m=$MAIL_PANEL_DIR
  install_config "$POSTFIX_CONFIG_DIR/master.cf" <<EOF
# written by scripts/services.sh (changes here are lost). chroot (5th column) is n everywhere:
# Debian's default chroot would hide the absolute socket and map paths in main.cf.
# service type  private unpriv  chroot  wakeup  maxproc command + args
127.0.0.1:$SMTP_IN_PORT inet n - n - - smtpd
127.0.0.1:$SUBMISSION_PORT inet n - n - - smtpd
  -o syslog_name=postfix/submission
  -o smtpd_sasl_auth_enable=yes
  -o smtpd_client_restrictions=permit_sasl_authenticated,reject
  -o smtpd_relay_restrictions=permit_sasl_authenticated,reject
  -o smtpd_sender_login_maps=hash:$m/vmailboxes,hash:$m/valiases
  -o smtpd_sender_restrictions=reject_sender_login_mismatch
  -o milter_macro_daemon_name=ORIGINATING
  -o milter_default_action=tempfail
pickup    unix  n       -       n       60      1       pickup
cleanup   unix  n       -       n       -       0       cleanup
qmgr      unix  n       -       n       300     1       qmgr
tlsmgr    unix  -       -       n       1000?   1       tlsmgr
rewrite   unix  -       -       n       -       -       trivial-rewrite
bounce    unix  -       -       n       -       0       bounce
defer     unix  -       -       n       -       0       bounce
trace     unix  -       -       n       -       0       bounce
verify    unix  -       -       n       -       1       verify
flush     unix  n       -       n       1000?   0       flush
proxymap  unix  -       -       n       -       -       proxymap
proxywrite unix -       -       n       -       1       proxymap
smtp      unix  -       -       n       -       -       smtp
relay     unix  -       -       n       -       -       smtp
showq     unix  n       -       n       -       -       showq
error     unix  -       -       n       -       -       error
retry     unix  -       -       n       -       -       error
discard   unix  -       -       n       -       -       discard
lmtp      unix  -       -       n       -       -       lmtp
anvil     unix  -       -       n       -       1       anvil
scache    unix  -       -       n       -       1       scache
postlog   unix-dgram n  -       n       -       1       postlogd
EOF
}

postfix_ok() { greets "$SMTP_IN_PORT" 220 && greets "$SUBMISSION_PORT" 220; }

write_postfix_config() { # sets POSTFIX_CONFIG_CHANGED (postmap needs main.cf before Postfix starts)
  POSTFIX_CONFIG_CHANGED=0
  mkdir -p "$POSTFIX_CONFIG_DIR"
  write_postfix_main_cf && POSTFIX_CONFIG_CHANGED=1
  write_postfix_master_cf && POSTFIX_CONFIG_CHANGED=1
  return 0
}

start_postfix() {
  local d=$RUN_DIR/postfix c=$POSTFIX_CONFIG_DIR pid
  local msg="postfix up on 127.0.0.1:$SMTP_IN_PORT (smtp in) and 127.0.0.1:$SUBMISSION_PORT (submission with AUTH)"
  if pid=$(pid_of "$d/spool/pid/master.pid" master); then
    if [ "$POSTFIX_CONFIG_CHANGED" = 0 ]; then
      already Postfix "$pid" postfix_ok "$d/log" "$msg"
      if [ "$MAPS_REBUILT" = 1 ]; then
        postfix -c "$c" reload </dev/null >/dev/null 2>&1 9>&- || die "postfix -c $c reload failed"
        say "postfix: rebuilt a map a writer left without postmap, reloaded"
      fi
      return
    fi
    config_changed postfix "$c/main.cf or master.cf" "$pid"
    stop_all "postfix:$d/spool/pid/master.pid:master"
  fi
  ports_free postfix "tcp:$SMTP_IN_PORT:MPANEL_SMTP_IN_PORT" "tcp:$SUBMISSION_PORT:MPANEL_SUBMISSION_PORT" || exit 1
  mkdir -p "$d/data" "$d/spool"; chown postfix "$d/data"
  : > "$d/startup.log"
  if [ "$POSTFIX_CONFIG_CHANGED" = 1 ] || [ ! -d "$d/spool/pid" ]; then
    # creates the queue directories with their owners and checks the configuration: ~1 s, so
    # only on a new run dir or a new configuration
    postfix -c "$c" check </dev/null >>"$d/startup.log" 2>&1 9>&- || { cat "$d/startup.log" "$d/log" >&2; die "postfix check failed"; }
  fi
  # master itself rather than `postfix start`, whose consistency checks take ~1 s more each time;
  # -w: return once it is initialised, with its pid in spool/pid/master.pid
  "$(postconf -dh daemon_directory)/master" -c "$c" -w </dev/null >>"$d/startup.log" 2>&1 9>&- || {
    cat "$d/startup.log" >&2; tail -n 20 "$d/log" >&2 2>/dev/null; die "postfix did not start"; }
  wait_for Postfix "$d/log" "" postfix_ok || exit 1
  say "$msg"
}

start_mail() { # Dovecot's sockets and OpenDKIM first: Postfix uses them from its first session
  start_dovecot
  write_postfix_config
  prepare_mail_panel
  start_opendkim
  start_postfix
}

# ---------------------------------------------------------------------------------------------
# stop / status

stop_all() { # stop_all <name:pidfile:comm>...: SIGTERM to all at once, then wait (Dovecot and
  #                                           Postfix take ~1 s, OpenDKIM up to ~5 s)
  local spec name file comm pid pids=() names=() i
  for spec in "$@"; do
    IFS=: read -r name file comm <<<"$spec"
    if pid=$(pid_of "$file" "$comm"); then
      kill "$pid" 2>/dev/null && { pids+=("$pid"); names+=("$name"); }
    fi
    rm -f "$file"
  done
  for i in "${!pids[@]}"; do
    for _ in $(seq 1 500); do alive "${pids[$i]}" || break; sleep 0.02; done
    if alive "${pids[$i]}"; then warn "${names[$i]} (${pids[$i]}) ignored SIGTERM for 10 s, killing"; kill -9 "${pids[$i]}" 2>/dev/null || true; fi
    say "${names[$i]} stopped (pid ${pids[$i]})"
  done
}

do_down() {
  [ -d "$RUN_DIR" ] || { say "nothing to stop ($RUN_DIR does not exist)"; return 0; }
  lock
  stop_all "postfix:$RUN_DIR/postfix/spool/pid/master.pid:master" "opendkim:$OPENDKIM_PID_FILE:opendkim" \
           "dovecot:$RUN_DIR/dovecot/run/master.pid:dovecot" "pebble:$RUN_DIR/pebble/pebble.pid:pebble" \
           "nginx:$NGINX_PREFIX/nginx.pid:nginx" "powerdns:$RUN_DIR/pdns/pdns.pid:pdns_server"
  if [ "${1:-}" = --all ]; then
    stop_all "redis:$RUN_DIR/redis/redis.pid:redis-server"
    if [ -s "$RUN_DIR/postgres/started-by-services" ]; then
      local ver name; read -r ver name < "$RUN_DIR/postgres/started-by-services"
      pg_ctlcluster --skip-systemctl-redirect "$ver" "$name" stop </dev/null >/dev/null 2>&1 9>&- &&
        say "postgres $ver/$name stopped" || warn "could not stop PostgreSQL $ver/$name"
      rm -f "$RUN_DIR/postgres/started-by-services"
    fi
  fi
  say "down in $(elapsed)"
}

do_status() {
  local bad=0 line
  st() { # st <name> <address> <check...>
    local name=$1 addr=$2; shift 2
    if "$@" >/dev/null 2>&1; then printf 'services: %-9s up    %s\n' "$name" "$addr"
    else printf 'services: %-9s DOWN  %s\n' "$name" "$addr"; bad=1; fi
  }
  running() { pid_of "$1" "$2" >/dev/null && "$3"; }
  st postgres "127.0.0.1:$PG_PORT" pg_answering
  st redis "127.0.0.1:$REDIS_PORT" redis_answering
  st powerdns "127.0.0.1:$DNS_PORT api http://127.0.0.1:$PDNS_API_PORT/api/v1" running "$RUN_DIR/pdns/pdns.pid" pdns_server pdns_ok
  st nginx "http://127.0.0.1:$HTTP_PORT" running "$NGINX_PREFIX/nginx.pid" nginx nginx_ok
  st pebble "https://127.0.0.1:$ACME_PORT/dir" running "$RUN_DIR/pebble/pebble.pid" pebble pebble_ok
  st dovecot "imap 127.0.0.1:$IMAP_PORT lmtp 127.0.0.1:$LMTP_PORT" running "$RUN_DIR/dovecot/run/master.pid" dovecot dovecot_ok
  st opendkim "milter 127.0.0.1:$DKIM_PORT" running "$OPENDKIM_PID_FILE" opendkim opendkim_ok
  st postfix "smtp 127.0.0.1:$SMTP_IN_PORT submission 127.0.0.1:$SUBMISSION_PORT" running "$RUN_DIR/postfix/spool/pid/master.pid" master postfix_ok
  return $bad
}

do_env() {
  cat <<EOF
export MPANEL_RUN_DIR=$RUN_DIR
export DATABASE_URL=postgres://mpanel_app@127.0.0.1:$PG_PORT/mpanel
export MIGRATION_DATABASE_URL=postgres://mpanel@127.0.0.1:$PG_PORT/mpanel
export REDIS_URL=redis://127.0.0.1:$REDIS_PORT
export POWERDNS_API_URL=http://127.0.0.1:$PDNS_API_PORT/api/v1
export POWERDNS_API_KEY=$POWERDNS_API_KEY
export DNS_RESOLVER=127.0.0.1:$DNS_PORT
export WEB_ROOT=$WEB_ROOT
export NGINX_CONF=$NGINX_CONF
export NGINX_SITES_DIR=$NGINX_SITES_DIR
export NGINX_HTTP_PORT=$HTTP_PORT
export ACME_DIRECTORY_URL=https://127.0.0.1:$ACME_PORT/dir
export ACME_CA_CERT=$RUN_DIR/pebble/cert.pem
export DOVECOT_USERS_FILE=$DOVECOT_USERS_FILE
export MAIL_ROOT=$MAIL_ROOT
export DOVECOT_CONF=$DOVECOT_CONF
export MAIL_PANEL_DIR=$MAIL_PANEL_DIR
export POSTFIX_CONFIG_DIR=$POSTFIX_CONFIG_DIR
export OPENDKIM_PID_FILE=$OPENDKIM_PID_FILE
export MPANEL_IMAP_PORT=$IMAP_PORT
export MPANEL_LMTP_PORT=$LMTP_PORT
export MPANEL_SMTP_IN_PORT=$SMTP_IN_PORT
export MPANEL_SUBMISSION_PORT=$SUBMISSION_PORT
export MPANEL_DKIM_PORT=$DKIM_PORT
export MPANEL_MAIL_HOSTNAME=$MAIL_HOSTNAME
EOF
}

case ${1:-} in
  install)
    need_root install; mkdir -p "$RUN_DIR"; lock; do_install ;;
  up)
    need_root up
    mkdir -p "$RUN_DIR"; lock
    do_install
    prepare_dirs
    start_postgres
    setup_database
    start_redis
    start_pdns
    start_nginx
    start_pebble
    start_mail
    say "all up in $(elapsed): postgres 127.0.0.1:$PG_PORT, redis 127.0.0.1:$REDIS_PORT, dns 127.0.0.1:$DNS_PORT, pdns-api http://127.0.0.1:$PDNS_API_PORT/api/v1, http 127.0.0.1:$HTTP_PORT, acme https://127.0.0.1:$ACME_PORT/dir, imap 127.0.0.1:$IMAP_PORT, lmtp 127.0.0.1:$LMTP_PORT, smtp 127.0.0.1:$SMTP_IN_PORT, submission 127.0.0.1:$SUBMISSION_PORT, dkim milter 127.0.0.1:$DKIM_PORT (run dir $RUN_DIR)" ;;
  down)
    do_down "${2:-}" ;;
  status)
    do_status ;;
  env)
    do_env ;;
  *)
    echo "usage: $0 up|down [--all]|status|install|env   (see the top of this file)" >&2; exit 2 ;;
esac
