#!/usr/bin/env python3
"""Fails when a log of the local stack carries a secret: a bearer token (a JWT) or a presigned
URL with its signature. Run by `make test` after every other test, over the logs the functions,
the dispatcher and the web servers wrote while the tests used tokens and presigned URLs.

  check_secrets.py LOG_DIR
"""

import re
import sys
from pathlib import Path

SECRETS = {
    "a JWT (bearer token)": re.compile(r"eyJ[A-Za-z0-9_-]{8,}\.eyJ[A-Za-z0-9_-]{8,}\.[A-Za-z0-9_-]+"),
    "a presigned URL's signature": re.compile(r"X-Amz-Signature=[0-9a-f]{16,}", re.IGNORECASE),
    "a presigned URL's credential": re.compile(r"X-Amz-Credential=[^&\s]+", re.IGNORECASE),
}
# The logs of code this project runs: the functions (cargo lambda watch), the dispatcher, the
# SeaweedFS event bridge, the web page's server. LocalStack's, SeaweedFS's and Dynoxide's own logs
# are the emulators', not ours.
OURS = ("functions.log", "dispatcher.log", "seaweedfs-events.log", "web.log", "web-other-origin.log")


def main() -> int:
    directory = Path(sys.argv[1])
    logs = [directory / name for name in OURS if (directory / name).exists()]
    lines = 0
    found = []
    for log in logs:
        for number, line in enumerate(log.read_text(errors="replace").splitlines(), start=1):
            lines += 1
            for what, pattern in SECRETS.items():
                if pattern.search(line):
                    found.append(f"{log.name}:{number}: {what}")
    if lines == 0:
        print(f"check_secrets: no log lines under {directory}: nothing was checked", file=sys.stderr)
        return 1
    if found:
        print("check_secrets: secrets in the logs:\n  " + "\n  ".join(found[:20]), file=sys.stderr)
        return 1
    print(f"check_secrets: {lines} log lines of {len(logs)} logs, no token or presigned URL")
    return 0


if __name__ == "__main__":
    sys.exit(main())
