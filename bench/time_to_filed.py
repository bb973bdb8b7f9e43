"""Time to filed: from the browser's PUT finishing to the document's topic being readable
(GET /api/documents/{id} answering it classified), through the whole local stack: the bucket's
event, the local dispatcher, classify, its record. `make bench-filed` runs it and writes the
section of BENCHMARKS.md between its markers.

  FILED_UPLOADS=200 localstack/devstack.py test -- .tools/api-venv/bin/python bench/time_to_filed.py

Uploads go one after another, each as the web page does it (upload-url with
`confirm_on_arrival`, PUT; the arrival confirms it), then the document is read every POLL_S
until it is confirmed and classified. Each is broken down with the local
dispatcher's log (`.stack/test/dispatcher.log`, one line per message: the queue's SentTimestamp,
when the dispatcher received it, how long classify's invocation took):
  PUT end -> sent to the queue     LocalStack's S3 notification to SQS
  sent -> received                 the message waiting for the dispatcher's poll
  received -> answered             the invocation through `cargo lambda watch`: classify's work
                                   (confirming the upload, then classifying it)
  answered -> read as filed        the client's next poll (at most POLL_S) and the read
Wall clocks of one machine (LocalStack's SentTimestamp has millisecond resolution).
"""
import base64, hashlib, hmac, json, os, statistics, sys, time
from pathlib import Path
import requests

API = os.environ["API_URL"]
UPLOADS = int(os.environ.get("FILED_UPLOADS", "200"))
POLL_S = 0.01
# `make bench-filed` serves release builds (DEVSTACK_RELEASE=1); run without it, the debug ones.
BUILD = "release" if os.environ.get("DEVSTACK_RELEASE") == "1" else "debug"
ROOT = Path(__file__).resolve().parent.parent
DISPATCHER_LOG = ROOT / ".stack" / "test" / "dispatcher.log"
TEXT = b"Invoice INV-2291 from Acme Studio. Amount due: 420.00 EUR for design work, payment due within 30 days to the vendor's account."


def token(sub):
    b64 = lambda raw: base64.urlsafe_b64encode(raw).rstrip(b"=").decode()
    now = int(time.time())
    h = b64(json.dumps({"alg": "HS256", "typ": "JWT"}).encode())
    c = b64(json.dumps({"sub": sub, "iat": now, "exp": now + 3600}).encode())
    sig = hmac.new(os.environ["LOCAL_JWT_SECRET"].encode(), f"{h}.{c}".encode(), hashlib.sha256).digest()
    return f"{h}.{c}.{b64(sig)}"


def pct(values, p):
    s = sorted(values)
    return s[min(len(s) - 1, round((len(s) - 1) * p))]


def dispatcher_lines():
    lines = {}
    for line in DISPATCHER_LOG.read_text(errors="replace").splitlines():
        try:
            entry = json.loads(line)
        except ValueError:
            continue
        if entry.get("function") == "classify" and entry.get("key"):
            lines.setdefault(entry["key"], entry)
    return lines


def main():
    user = f"filed-{int(time.time())}"
    s = requests.Session()
    s.headers["Authorization"] = "Bearer " + token(user)
    r = s.post(f"{API}/api/topics", json={"name": "Invoices", "description": "invoice amount due payment vendor"})
    assert r.status_code in (200, 201), r.text
    load_before = os.getloadavg()
    runs = []
    for i in range(UPLOADS):
        up = s.post(f"{API}/api/documents/upload-url",
                    json={"filename": f"invoice-{i}.txt", "content_type": "text/plain", "size_bytes": len(TEXT),
                          "confirm_on_arrival": True}).json()
        assert up.get("confirm_on_arrival") is True, up
        put = requests.put(up["upload_url"], data=TEXT,
                           headers={k: v for k, v in up["headers"].items() if k.lower() != "content-length"})
        put_end = time.time()
        assert put.status_code == 200, put.text
        while True:
            doc = s.get(f"{API}/api/documents/{up['document_id']}").json()
            if doc["status"] != "pending" and doc["classification_status"] != "pending":
                assert doc["status"] == "uploaded", doc
                filed = time.time()
                break
            if time.time() - put_end > 60:
                sys.exit(f"document {up['document_id']} still pending after 60 s")
            time.sleep(POLL_S)
        runs.append({"id": up["document_id"], "put_end": put_end, "filed": filed,
                     "status": doc["classification_status"], "topic": doc.get("topic_id")})
    load_after = os.getloadavg()
    time.sleep(0.5)
    log = dispatcher_lines()
    parts = {"notification": [], "queue": [], "invoke": [], "read": []}
    for run in runs:
        entry = next((e for k, e in log.items() if run["id"] in k), None)
        if not entry:
            continue
        sent, received = entry["sent_ms"] / 1000, entry["received_s"]
        answered = received + entry["ms"] / 1000
        parts["notification"].append(sent - run["put_end"])
        parts["queue"].append(received - sent)
        parts["invoke"].append(answered - received)
        parts["read"].append(run["filed"] - answered)
    total = [r["filed"] - r["put_end"] for r in runs]
    ms = lambda v: f"{v * 1000:.0f}"
    classified = sum(r["status"] == "classified" and r["topic"] is not None for r in runs)
    out = [
        "<!-- begin time-to-filed -->",
        f"{len(runs)} uploads of a 130-byte invoice text, one after another, {classified} filed under the user's topic "
        f"(the rest: {sorted({r['status'] for r in runs if r['status'] != 'classified'}) or 'none'}). "
        f"Load average {' '.join(f'{x:.1f}' for x in load_before)} before, {' '.join(f'{x:.1f}' for x in load_after)} after "
        f"(2 cores shared with other work). {len(parts['invoke'])} matched in the dispatcher's log.",
        "",
        "| | p50 ms | p99 ms | mean ms |",
        "|---|---|---|---|",
        f"| **time to filed** (PUT end to the topic read) | **{ms(pct(total, 0.5))}** | **{ms(pct(total, 0.99))}** | {ms(statistics.mean(total))} |",
    ]
    names = {
        "notification": "PUT end to message sent (LocalStack's S3 notification to SQS)",
        "queue": "message waiting for the local dispatcher's poll",
        "invoke": f"classify's invocation, confirming then classifying (through `cargo lambda watch`, {BUILD} build)",
        "read": "answered to read as filed (the client's next 10 ms poll and the read)",
    }
    for key, values in parts.items():
        if values:
            out.append(f"| {names[key]} | {ms(pct(values, 0.5))} | {ms(pct(values, 0.99))} | {ms(statistics.mean(values))} |")
    out.append("<!-- end time-to-filed -->")
    section = "\n".join(out)
    print(section)
    path = ROOT / "BENCHMARKS.md"
    text = path.read_text()
    begin, end = "<!-- begin time-to-filed -->", "<!-- end time-to-filed -->"
    if begin in text and end in text:
        text = text[:text.index(begin)] + section + text[text.index(end) + len(end):]
    else:
        text += "\n## Time to filed\n\n" + section + "\n"
    path.write_text(text)


if __name__ == "__main__":
    main()
