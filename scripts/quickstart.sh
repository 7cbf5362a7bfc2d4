#!/usr/bin/env bash
# Quick start on a fresh Debian 12 machine (as root): dependencies, secrets, loopback services,
# database, demo tenant with a SUPER_ADMIN, then the API and a worker in the foreground (Ctrl-C
# stops them). Safe to run again: nothing made by an earlier run is replaced.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

step() { printf '\n==> %s\n' "$1"; }

step 'npm ci (dependencies from package-lock.json)'
if [ ! -d node_modules ] || [ package-lock.json -nt node_modules/.package-lock.json ]; then
  npm ci --no-audit --no-fund
else
  echo 'node_modules is up to date'
fi

step 'build: the server compiled to plain JavaScript in dist/ (what `mpanel` runs)'
npm run --silent build

step 'secrets: generated once into ./.env (mode 0600), never replaced by a later run'
# Before the services: PowerDNS is configured with the POWERDNS_API_KEY written here.
node bin/mpanel.js secrets generate

step 'loopback services: PostgreSQL, Redis, PowerDNS, nginx, Pebble, Dovecot'
scripts/services.sh up

step 'database migrations'
node bin/mpanel.js migrate

step 'demo tenant and SUPER_ADMIN'
node bin/mpanel.js seed

PORT=${PORT:-2271}
step "starting mPanel: API on http://127.0.0.1:${PORT} + worker (Ctrl-C stops both)"
cat <<EOF_INFO
  health:   curl http://127.0.0.1:${PORT}/ready
  login:    the SUPER_ADMIN credentials printed above (a generated password is shown only once;
            set MPANEL_ADMIN_EMAIL / MPANEL_ADMIN_PASSWORD before the first run to choose them)
  secrets:  $(pwd)/.env (mode 0600); the marketing site's webhook secret:
            node bin/mpanel.js secrets show MARKETING_WEBHOOK_SECRET
  metrics:  curl http://127.0.0.1:${API_METRICS_PORT:-2273}/metrics (API), :${WORKER_METRICS_PORT:-2272} (worker); loopback only
EOF_INFO
exec node bin/mpanel.js start # dist/ (built above)
