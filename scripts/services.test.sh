#!/usr/bin/env bash
# Smoke test for scripts/services.sh: every service answers and does its job, through its real
# protocol. Leaves nothing behind (test zone, vhost, mailbox are removed).
# usage: scripts/services.sh up && scripts/services.test.sh     (same environment as services.sh)
set -euo pipefail
umask 022
RUN_DIR=$(realpath -m "${MPANEL_RUN_DIR:-/var/lib/mpanel}")
WEB_ROOT=$(realpath -m "${WEB_ROOT:-$RUN_DIR/www}")
NGINX_CONF=$(realpath -m "${NGINX_CONF:-$RUN_DIR/nginx/nginx.conf}")
NGINX_SITES_DIR=$(realpath -m "${NGINX_SITES_DIR:-$RUN_DIR/nginx/sites}")
DOVECOT_USERS_FILE=$(realpath -m "${DOVECOT_USERS_FILE:-$RUN_DIR/dovecot/users}")
MAIL_ROOT=$(realpath -m "${MAIL_ROOT:-$RUN_DIR/mail}")
KEY=$(bash "$(dirname "${BASH_SOURCE[0]}")/services.sh" env | sed -n 's/^export POWERDNS_API_KEY=//p')  # the key PowerDNS runs with
DNS_PORT=${MPANEL_DNS_PORT:-5300} PDNS_API_PORT=${MPANEL_PDNS_API_PORT:-8081} HTTP_PORT=${NGINX_HTTP_PORT:-8080}
ACME_PORT=${MPANEL_ACME_PORT:-14000} IMAP_PORT=${MPANEL_IMAP_PORT:-1143} LMTP_PORT=${MPANEL_LMTP_PORT:-2424}
PG_PORT=${MPANEL_PG_PORT:-5432} REDIS_PORT=${MPANEL_REDIS_PORT:-6379}
SMTP_IN_PORT=${MPANEL_SMTP_IN_PORT:-2500} SUBMISSION_PORT=${MPANEL_SUBMISSION_PORT:-5870} DKIM_PORT=${MPANEL_DKIM_PORT:-8891}

DOMAIN=services-smoke-$$.test
PDNS=http://127.0.0.1:$PDNS_API_PORT/api/v1/servers/localhost
NGINX=(-p "$(dirname "$NGINX_CONF")" -c "$NGINX_CONF")
MAILBOX=info@$DOMAIN PASS=Smoke-pass-$$
FAILS=0
ok() { echo "ok    $*"; }
fail() { echo "FAIL  $*" >&2; FAILS=$((FAILS + 1)); }
check() { local what=$1; shift; if "$@" >/dev/null 2>&1; then ok "$what"; else fail "$what"; fi; }

cleanup() {
  curl -s -o /dev/null -H "X-API-Key: $KEY" -X DELETE "$PDNS/zones/$DOMAIN." || true
  if [ -e "$NGINX_SITES_DIR/$DOMAIN.conf" ]; then
    rm -f "$NGINX_SITES_DIR/$DOMAIN.conf"; nginx "${NGINX[@]}" -s reload 2>/dev/null || true
  fi
  rm -rf "${WEB_ROOT:?}/$DOMAIN" "${MAIL_ROOT:?}/$DOMAIN"
  if [ -f "$DOVECOT_USERS_FILE" ] && grep -q "^$MAILBOX:" "$DOVECOT_USERS_FILE"; then
    grep -v "^$MAILBOX:" "$DOVECOT_USERS_FILE" > "$DOVECOT_USERS_FILE.smoke" || true
    chgrp dovecot "$DOVECOT_USERS_FILE.smoke"; chmod 640 "$DOVECOT_USERS_FILE.smoke"
    mv "$DOVECOT_USERS_FILE.smoke" "$DOVECOT_USERS_FILE"
  fi
}
trap cleanup EXIT

# --- PostgreSQL and Redis: the roles log in over loopback TCP without a password
for r in postgres:postgres mpanel:mpanel mpanel_app:mpanel; do
  check "postgres: ${r%%:*} logs in to ${r#*:} on 127.0.0.1:$PG_PORT" \
    env -u PGPASSWORD PGPASSFILE=/dev/null psql -X -w -Atq -h 127.0.0.1 -p "$PG_PORT" -U "${r%%:*}" -d "${r#*:}" -c 'select 1'
done
[ "$(redis-cli -h 127.0.0.1 -p "$REDIS_PORT" ping 2>/dev/null)" = PONG ] && ok "redis: PING" || fail "redis: PING"

# --- PowerDNS: create a zone through the API, resolve over UDP and TCP
code=$(curl -s -o /dev/null -w '%{http_code}' -H "X-API-Key: $KEY" -H 'Content-Type: application/json' -X POST "$PDNS/zones" \
  -d "{\"name\":\"$DOMAIN.\",\"kind\":\"Native\",\"nameservers\":[\"ns1.$DOMAIN.\"]}")
[ "$code" = 201 ] && ok "powerdns: create zone $DOMAIN (201)" || fail "powerdns: create zone $DOMAIN ($code)"
code=$(curl -s -o /dev/null -w '%{http_code}' -H "X-API-Key: $KEY" -H 'Content-Type: application/json' -X PATCH "$PDNS/zones/$DOMAIN." \
  -d "{\"rrsets\":[{\"name\":\"www.$DOMAIN.\",\"type\":\"A\",\"ttl\":60,\"changetype\":\"REPLACE\",\"records\":[{\"content\":\"127.0.0.1\",\"disabled\":false}]}]}")
[ "$code" = 204 ] && ok "powerdns: PATCH A record (204)" || fail "powerdns: PATCH A record ($code)"
[ "$(dig @127.0.0.1 -p "$DNS_PORT" "www.$DOMAIN" A +short +time=2 +tries=1)" = 127.0.0.1 ] && ok "dns: www.$DOMAIN A over udp" || fail "dns: udp answer"
[ "$(dig @127.0.0.1 -p "$DNS_PORT" "www.$DOMAIN" A +short +tcp +time=2 +tries=1)" = 127.0.0.1 ] && ok "dns: www.$DOMAIN A over tcp" || fail "dns: tcp answer"
code=$(curl -s -o /dev/null -w '%{http_code}' -H "X-API-Key: wrong" "$PDNS/zones")
[ "$code" = 401 ] && ok "powerdns: wrong API key refused (401)" || fail "powerdns: wrong key gave $code"

# --- nginx: a vhost file, nginx -t, reload, served for its Host header; default server 404
mkdir -p "$WEB_ROOT/$DOMAIN/public"
echo "hello $DOMAIN" > "$WEB_ROOT/$DOMAIN/public/index.html"
cat > "$NGINX_SITES_DIR/$DOMAIN.conf" <<EOF
server {
  listen 127.0.0.1:$HTTP_PORT;
  server_name $DOMAIN www.$DOMAIN;
  root $WEB_ROOT/$DOMAIN/public;
  index index.html;
}
EOF
check "nginx: -t with the new vhost" nginx "${NGINX[@]}" -t -q
check "nginx: reload" nginx "${NGINX[@]}" -s reload
body=
for _ in $(seq 1 100); do
  body=$(curl -s -H "Host: www.$DOMAIN" "http://127.0.0.1:$HTTP_PORT/" || true)
  [ "$body" = "hello $DOMAIN" ] && break; sleep 0.02
done
[ "$body" = "hello $DOMAIN" ] && ok "nginx: vhost served for Host: www.$DOMAIN" || fail "nginx: vhost body '$body'"
code=$(curl -s -o /dev/null -w '%{http_code}' -H "Host: unknown.invalid" "http://127.0.0.1:$HTTP_PORT/")
[ "$code" = 404 ] && ok "nginx: default server answers 404" || fail "nginx: default server gave $code"

# --- Pebble: directory over TLS with the listener's certificate; issuing root fetched
check "pebble: directory at https://127.0.0.1:$ACME_PORT/dir" \
  bash -c "curl -sf --cacert '$RUN_DIR/pebble/cert.pem' https://127.0.0.1:$ACME_PORT/dir | grep -q newOrder"
check "pebble: root.pem is a certificate" openssl x509 -noout -in "$RUN_DIR/pebble/root.pem"

# --- Dovecot: greetings, then a new mailbox (no reload), LMTP delivery, IMAP login sees it
greet=$(timeout 3 bash -c "exec 3<>/dev/tcp/127.0.0.1/$IMAP_PORT; head -n1 <&3" | tr -d '\r' || true)
[[ $greet == '* OK'* ]] && ok "imap: greeting '$greet'" || fail "imap: greeting '$greet'"
hash=$(doveadm pw -s SHA512-CRYPT -p "$PASS")
{ cat "$DOVECOT_USERS_FILE"; echo "$MAILBOX:$hash::::::"; } > "$DOVECOT_USERS_FILE.smoke"
chgrp dovecot "$DOVECOT_USERS_FILE.smoke"; chmod 640 "$DOVECOT_USERS_FILE.smoke"
mv "$DOVECOT_USERS_FILE.smoke" "$DOVECOT_USERS_FILE"

lmtp() { # one LMTP session; prints the server's lines
  exec 3<>"/dev/tcp/127.0.0.1/$LMTP_PORT"
  local line
  expect() { while IFS= read -r -t 5 line <&3; do line=${line%$'\r'}; echo "< $line"
    [[ $line == "$1 "* ]] && return 0; [[ $line =~ ^[0-9]{3}\  ]] && return 1; done; return 1; }
  send() { printf '%s\r\n' "$1" >&3; echo "> $1"; }
  expect 220 && send "LHLO smoke.test" && expect 250 && send "MAIL FROM:<billing@example.test>" && expect 250 &&
    send "RCPT TO:<$MAILBOX>" && expect 250 && send DATA && expect 354 &&
    send "Subject: smoke $$" && send "" && send "delivered over LMTP" && send "." && expect 250 && send QUIT && expect 221
  local rc=$?; exec 3<&-; return $rc
}
if out=$(lmtp 2>&1); then ok "lmtp: LHLO + delivery to $MAILBOX"; else fail "lmtp: session:"; echo "$out" | sed 's/^/      /' >&2; fi
status=$(curl -s --user "$MAILBOX:$PASS" "imap://127.0.0.1:$IMAP_PORT/" -X 'STATUS INBOX (MESSAGES)' | tr -d '\r' || true)
[[ $status == *'MESSAGES 1'* ]] && ok "imap: login, INBOX has the delivered message" || fail "imap: STATUS gave '$status'"
curl -s -o /dev/null --user "$MAILBOX:wrong-pass" "imap://127.0.0.1:$IMAP_PORT/" && fail "imap: wrong password accepted" || ok "imap: wrong password refused"
[ "$(stat -c %U "$MAIL_ROOT/$DOMAIN/info" 2>/dev/null)" = vmail ] && ok "dovecot: maildir owned by vmail" || fail "dovecot: maildir owner"

# --- Postfix and OpenDKIM: both listeners greet, the milter port answers (test/mail-stack.test.ts goes further)
for p in "$SMTP_IN_PORT:smtp in" "$SUBMISSION_PORT:submission"; do
  greet=$(timeout 3 bash -c "exec 3<>/dev/tcp/127.0.0.1/${p%%:*}; head -n1 <&3" | tr -d '\r' || true)
  [[ $greet == '220 '* ]] && ok "postfix ${p#*:}: greeting '$greet'" || fail "postfix ${p#*:}: greeting '$greet'"
done
check "opendkim: milter port $DKIM_PORT answers" timeout 2 bash -c "exec 3<>/dev/tcp/127.0.0.1/$DKIM_PORT"

cleanup; trap - EXIT
[ "$(dig @127.0.0.1 -p "$DNS_PORT" "www.$DOMAIN" A +short +time=2 +tries=1)" = "" ] && ok "cleanup: zone deleted" || fail "cleanup: zone still answers"
[ "$(curl -s -o /dev/null -w '%{http_code}' -H "Host: www.$DOMAIN" "http://127.0.0.1:$HTTP_PORT/")" = 404 ] && ok "cleanup: vhost removed" || fail "cleanup: vhost still served"
if [ $FAILS -eq 0 ]; then echo "services smoke test: all passed"; else echo "services smoke test: $FAILS FAILED" >&2; exit 1; fi
