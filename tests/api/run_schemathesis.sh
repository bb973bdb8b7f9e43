#!/usr/bin/env bash
# Holds openapi.yaml to a running stack with Schemathesis 4 (property-based: examples, coverage
# and fuzzing phases), as a fresh user, with the checks of hooks.py on top of the built-in ones.
#
#   API_URL=http://127.0.0.1:3000 tests/api/run_schemathesis.sh        # against `make dev`
#   .tools/venv/bin/python localstack/devstack.py test -- tests/api/run_schemathesis.sh
#
# Environment (all optional but API_URL):
#   API_URL                 base URL of the stack (devstack.py test sets it)
#   LOCAL_JWT_SECRET        secret of the local HS256 tokens (default: local-dev-secret, as devstack.py)
#   ST_API_TOKEN            use this bearer token instead of minting one for a fresh user
#   ST_MINT_WITH_CARGO=1    mint the token with `cargo run -p shared --bin mint-token` instead of Python
#   ST_MAX_EXAMPLES         examples per operation and phase (default 30)
#   ST_SEED                 the run's seed (default 20261128)
#   ST_MODE                 positive, negative or all (default all)
#   ST_VENV                 virtualenv with requirements.txt (default .tools/api-venv; created if missing,
#                           unless `st` is already on PATH)
#   ST_WORK_DIR             where .schemathesis and the reports go (default: a new temporary directory)
# Exit code: Schemathesis' (0 when every check passed).
set -euo pipefail

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
ROOT=$(cd "$HERE/../.." && pwd)
: "${API_URL:?set API_URL to the base URL of a running stack, e.g. http://127.0.0.1:3000}"
API_URL=${API_URL%/}
MAX_EXAMPLES=${ST_MAX_EXAMPLES:-30}
SEED=${ST_SEED:-20261128}
MODE=${ST_MODE:-all}
export LOCAL_JWT_SECRET=${LOCAL_JWT_SECRET:-local-dev-secret}

# Schemathesis and its Python: a venv with requirements.txt, created on first use.
VENV=${ST_VENV:-$ROOT/.tools/api-venv}
if [[ -x "$VENV/bin/st" ]]; then
    PY="$VENV/bin/python"; ST="$VENV/bin/st"
elif [[ -z "${ST_VENV:-}" ]] && command -v st >/dev/null && python3 -c 'import schemathesis, requests' 2>/dev/null; then
    PY=python3; ST=$(command -v st)
else
    echo "creating $VENV from tests/api/requirements.txt" >&2
    python3 -m venv "$VENV"
    "$VENV/bin/pip" install --quiet --upgrade pip
    "$VENV/bin/pip" install --quiet -r "$HERE/requirements.txt"
    PY="$VENV/bin/python"; ST="$VENV/bin/st"
fi
"$ST" --version >&2

# Reports, the .schemathesis directory and the counters go outside the repository.
WORK=${ST_WORK_DIR:-$(mktemp -d "${TMPDIR:-/tmp}/schemathesis.XXXXXX")}
mkdir -p "$WORK/report"

# A fresh user per run, so that its quota, documents and topics start empty and only this run
# changes them.
USER_ID="schemathesis-$(date +%s)-$RANDOM"
if [[ -n "${ST_API_TOKEN:-}" ]]; then
    TOKEN=$ST_API_TOKEN
    USER_ID="(given token)"
elif [[ "${ST_MINT_WITH_CARGO:-}" == 1 ]]; then
    TOKEN=$(cd "$ROOT" && cargo run --quiet -p shared --bin mint-token -- "$USER_ID" 7200)
else
    # The same token as shared::auth::mint_local_token: HS256 over {"sub", "iat", "exp"}.
    TOKEN=$("$PY" - "$USER_ID" <<'EOF'
import base64, hashlib, hmac, json, os, sys, time
b64 = lambda raw: base64.urlsafe_b64encode(raw).rstrip(b"=").decode()
now = int(time.time())
header = b64(json.dumps({"alg": "HS256", "typ": "JWT"}, separators=(",", ":")).encode())
claims = b64(json.dumps({"sub": sys.argv[1], "iat": now, "exp": now + 7200}, separators=(",", ":")).encode())
signing_input = f"{header}.{claims}"
signature = hmac.new(os.environ["LOCAL_JWT_SECRET"].encode(), signing_input.encode(), hashlib.sha256).digest()
print(f"{signing_input}.{b64(signature)}")
EOF
)
fi
export ST_API_TOKEN=$TOKEN API_URL

# Fail early, and clearly, if the stack is not there or does not accept the token.
"$PY" - <<'EOF'
import os, sys, requests
url = os.environ["API_URL"] + "/api/auth/me/quota"
try:
    answer = requests.get(url, headers={"Authorization": "Bearer " + os.environ["ST_API_TOKEN"]}, timeout=30)
except requests.RequestException as error:
    sys.exit(f"the stack does not answer at {url}: {error}")
if answer.status_code != 200:
    sys.exit(f"GET {url} answered {answer.status_code} {answer.text[:200]!r}: is LOCAL_JWT_SECRET the stack's?")
EOF

echo "schemathesis: $API_URL as user $USER_ID, seed $SEED, at most $MAX_EXAMPLES examples per operation; output in $WORK" >&2
COUNT_FILE="$WORK/requests.count"
echo 0 > "$COUNT_FILE"
status=0
(
    cd "$WORK"
    SCHEMATHESIS_HOOKS="$HERE/hooks.py" ST_REQUEST_COUNT_FILE="$COUNT_FILE" "$ST" run "$ROOT/openapi.yaml" \
        --url "$API_URL" \
        --header "Authorization: Bearer $TOKEN" \
        --phases examples,coverage,fuzzing \
        --mode "$MODE" \
        --checks not_a_server_error,response_schema_conformance,status_code_conformance,content_type_conformance,client_errors_write_nothing,successful_writes_change_what_they_answer \
        --max-examples "$MAX_EXAMPLES" \
        --seed "$SEED" \
        --generation-codec utf-8 \
        --generation-database none \
        --workers 1 \
        --request-timeout 30 \
        --report junit,json,har \
        --report-dir "$WORK/report" \
        --report-json-path "$WORK/report/run.json" \
        --no-color
) || status=$?

"$PY" - "$WORK/report/run.json" "$COUNT_FILE" <<'EOF' || true
import json, sys
report, count = sys.argv[1:3]
try:
    generated = json.load(open(report))["test_cases"]["generated"]
except (OSError, ValueError, KeyError, TypeError):
    generated = "unknown (no JSON report)"
try:
    sent = int(open(count).read().strip() or 0)
except (OSError, ValueError):
    sent = "unknown"
print(f"schemathesis: {generated} test cases generated, {sent} requests sent to the API "
      f"(besides the hooks' own state reads)")
EOF
echo "schemathesis: reports in $WORK/report (JUnit, JSON, HAR); exit code $status" >&2
exit "$status"
