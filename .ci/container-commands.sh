#!/usr/bin/env bash
# No Docker engine runs here, so this runs the image's command lines directly, the way the image
# would: production dependencies only (npm ci --omit=dev --omit=optional, as the Dockerfile's deps
# stage), NODE_ENV=production, secrets from *_FILE as docker-compose.yml mounts them, the
# simulator as the demo profile starts it, the HEALTHCHECK's own command, and SIGTERM at the end;
# then the fleet profile's two commands: `installations apply` and a `worker` (until its first
# run lands, bounded), its /healthz and /readyz, and SIGTERM.
# Needs `npm run build` first and a PostgreSQL at $ADMIN_DATABASE_URL.
set -euo pipefail
cd "$(dirname "$0")/.."
ADMIN_DATABASE_URL=${ADMIN_DATABASE_URL:-postgres://postgres@127.0.0.1:5432/postgres}
SIM_PORT=${SIM_PORT:-18000}
HTTP_PORT=${HTTP_PORT:-18080}
WORKER_HTTP_PORT=${WORKER_HTTP_PORT:-18081}
work=$(mktemp -d)
db="provet_sync_container_$$"
pids=()
cleanup() {
  for pid in "${pids[@]}"; do kill "$pid" 2>/dev/null || true; done
  psql -q "$ADMIN_DATABASE_URL" -c "DROP DATABASE IF EXISTS $db WITH (FORCE)" >/dev/null 2>&1 || true
  rm -rf "$work"
}
trap cleanup EXIT

# The image's ENTRYPOINT (node, its flags, dist/cli.js) as a command line, read from the Dockerfile
# by the benchmark's own reader; captured first, so that set -e stops here when it is not that shape.
entrypoint_words=$(npx tsx bench/lib/image-entrypoint.ts)
mapfile -t entrypoint <<< "$entrypoint_words"
echo "== image layout: production dependencies only =="
mkdir -p "$work/app" "$work/secrets"
cp package.json package-lock.json "$work/app/"
(cd "$work/app" && npm ci --omit=dev --omit=optional --ignore-scripts --no-audit --no-fund --loglevel=error)
cp -r dist migrations "$work/app/"
test ! -e "$work/app/node_modules/typescript" || { echo "dev dependencies leaked into the production install" >&2; exit 1; }

psql -q "$ADMIN_DATABASE_URL" -c "CREATE DATABASE $db"
db_url=$(node -e "const u=new URL(process.argv[1]); u.pathname='/$db'; console.log(u.toString())" "$ADMIN_DATABASE_URL")
printf '%s\n' "$db_url" > "$work/secrets/database_url"
printf 'demo-secret\n' > "$work/secrets/provet_client_secret"
printf 'ci-webhook-secret-0123456789abcdef\n' > "$work/secrets/webhook_secret"
chmod 600 "$work/secrets/"*

cd "$work/app"
export NODE_ENV=production
echo "== simulator, as the demo profile runs it =="
"${entrypoint[@]}" simulate --host 127.0.0.1 --port "$SIM_PORT" --clients 300 --client-secret demo-secret > "$work/simulator.log" 2>&1 &
pids+=($!)

container_env=(
  PROVET_BASE_URL="http://127.0.0.1:$SIM_PORT/1234/api/0.1/"
  PROVET_CLIENT_ID=provet-sync-demo
  PROVET_CLIENT_SECRET_FILE="$work/secrets/provet_client_secret"
  DATABASE_URL_FILE="$work/secrets/database_url"
  WEBHOOK_SECRET_FILE="$work/secrets/webhook_secret"
  HTTP_PORT="$HTTP_PORT"
  LOG_LEVEL=info
)
echo "== daemon (ENTRYPOINT + CMD) =="
env "${container_env[@]}" "${entrypoint[@]}" daemon > "$work/daemon.log" 2>&1 &
daemon=$!
pids+=("$daemon")

ready=""
for _ in $(seq 1 120); do
  if curl -fsS "http://127.0.0.1:$HTTP_PORT/readyz" > /dev/null 2>&1; then ready=yes; break; fi
  sleep 0.5
done
if [ -z "$ready" ]; then echo "daemon never became ready" >&2; tail -n 40 "$work/daemon.log" >&2; exit 1; fi
echo "readyz: $(curl -fsS "http://127.0.0.1:$HTTP_PORT/readyz")"

# The Dockerfile's HEALTHCHECK command, taken from the Dockerfile itself.
health_js=$(node -e "const m=/HEALTHCHECK[^]*?CMD \[\"node\", \"-e\", (\"(?:[^\"\\\\]|\\\\.)*\")\]/.exec(require('fs').readFileSync(process.argv[1],'utf8')); console.log(JSON.parse(m[1]))" "$OLDPWD/Dockerfile")
HTTP_PORT="$HTTP_PORT" node -e "$health_js" && echo "HEALTHCHECK command: healthy"

curl -fsS "http://127.0.0.1:$HTTP_PORT/metrics" | grep -E '^provet_sync_runs_total' 
code=$(curl -s -o /dev/null -w '%{http_code}' -X POST -d client_id=1 "http://127.0.0.1:$HTTP_PORT/webhooks/provet/ci-webhook-secret-0123456789abcdef")
[ "$code" = 200 ] || { echo "webhook answered $code" >&2; exit 1; }
code=$(curl -s -o /dev/null -w '%{http_code}' -X POST -d client_id=1 "http://127.0.0.1:$HTTP_PORT/webhooks/provet/wrong")
[ "$code" = 404 ] || { echo "webhook without the secret answered $code" >&2; exit 1; }

echo "== SIGTERM (docker stop) =="
kill -TERM "$daemon"
status=0
wait "$daemon" || status=$?
[ "$status" = 0 ] || { echo "daemon exited $status after SIGTERM" >&2; tail -n 20 "$work/daemon.log" >&2; exit 1; }
echo "daemon exited 0 after SIGTERM"

echo "== one-off commands (docker compose run provet-sync ...) =="
env "${container_env[@]}" "${entrypoint[@]}" status
env "${container_env[@]}" "${entrypoint[@]}" reconcile
env "${container_env[@]}" "${entrypoint[@]}" grant-reader "analysts_ci_$$"
echo "== readable log lines (LOG_FORMAT=pretty, as on a terminal): pino-pretty from the production install =="
env "${container_env[@]}" LOG_FORMAT=pretty "${entrypoint[@]}" migrate > "$work/pretty.log"
grep -E '^\[[0-9:.]+\] INFO: migrations applied' "$work/pretty.log" || { echo "LOG_FORMAT=pretty gave no readable log line" >&2; cat "$work/pretty.log" >&2; exit 1; }

echo "== fleet: installations apply, then a worker (docker compose --profile fleet) =="
cat > "$work/fleet.yaml" <<EOF
installations:
  - name: ci
    baseUrl: http://127.0.0.1:$SIM_PORT/1234/api/0.1/
    clientId: provet-sync-demo
    clientSecretFile: $work/secrets/provet_client_secret
EOF
fleet_env=(DATABASE_URL_FILE="$work/secrets/database_url" LOG_LEVEL=info)
env "${fleet_env[@]}" "${entrypoint[@]}" installations apply "$work/fleet.yaml"
env "${fleet_env[@]}" HTTP_PORT="$WORKER_HTTP_PORT" "${entrypoint[@]}" worker > "$work/worker.log" 2>&1 &
worker=$!
pids+=("$worker")
landed=""
for _ in $(seq 1 120); do
  metrics=$(curl -fsS "http://127.0.0.1:$WORKER_HTTP_PORT/metrics" 2>/dev/null || true)
  if grep -qE '^provet_sync_installation_runs_total\{installation="ci",kind="full",status="succeeded"\} 1' <<< "$metrics"; then
    landed=yes
    break
  fi
  sleep 0.5
done
if [ -z "$landed" ]; then echo "the worker's first run never landed" >&2; tail -n 40 "$work/worker.log" >&2; exit 1; fi
curl -fsS "http://127.0.0.1:$WORKER_HTTP_PORT/healthz" > /dev/null
echo "worker readyz: $(curl -fsS "http://127.0.0.1:$WORKER_HTTP_PORT/readyz")"
HTTP_PORT="$WORKER_HTTP_PORT" node -e "$health_js" && echo "HEALTHCHECK command against the worker: healthy"
env "${fleet_env[@]}" "${entrypoint[@]}" status --all
kill -TERM "$worker"
status=0
wait "$worker" || status=$?
[ "$status" = 0 ] || { echo "worker exited $status after SIGTERM" >&2; tail -n 20 "$work/worker.log" >&2; exit 1; }
echo "worker exited 0 after SIGTERM"

psql -q "$ADMIN_DATABASE_URL" -c "DROP DATABASE $db WITH (FORCE)" -c "DROP ROLE analysts_ci_$$"
for log in daemon worker; do
  if grep -q 'ci-webhook-secret\|demo-secret' "$work/$log.log"; then echo "a secret reached the $log log" >&2; exit 1; fi
done
echo "container command lines: ok"
