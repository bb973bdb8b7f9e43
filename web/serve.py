#!/usr/bin/env python3
"""Serve the web client: the static files of this folder plus /config.js, which tells the page
where the API is and, on the local stack only, the dev secret for minting sign-in tokens.

  serve.py PORT    (API_URL and LOCAL_JWT_SECRET come from the environment)
"""

import http.server
import json
import os
import sys
from functools import partial
from pathlib import Path


class Handler(http.server.SimpleHTTPRequestHandler):
    def do_GET(self):
        if self.path.split("?")[0] == "/config.js":
            config = {"apiUrl": os.environ["API_URL"], "devJwtSecret": os.environ.get("LOCAL_JWT_SECRET")}
            body = f"window.APP_CONFIG = {json.dumps(config)};\n".encode()
            self.send_response(200)
            self.send_header("content-type", "text/javascript")
            self.send_header("content-length", str(len(body)))
            self.send_header("cache-control", "no-store")
            self.end_headers()
            self.wfile.write(body)
            return
        super().do_GET()

    def log_message(self, format, *args):
        sys.stdout.write(f"web: {self.address_string()} {format % args}\n")
        sys.stdout.flush()


def main():
    port = int(sys.argv[1])
    handler = partial(Handler, directory=str(Path(__file__).resolve().parent))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", port), handler)
    print(f"web: serving on http://localhost:{port}", flush=True)
    server.serve_forever()


if __name__ == "__main__":
    try:
        main()
    except KeyboardInterrupt:
        pass
