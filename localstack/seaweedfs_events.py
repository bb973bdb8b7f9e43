#!/usr/bin/env python3
"""S3 event notifications for SeaweedFS, which has none: its filer's metadata events become them.

SeaweedFS serves S3 on top of its filer, where a bucket is the folder /buckets/<bucket> and an
object a file in it. It has no bucket notifications (PutBucketNotificationConfiguration is not
implemented), but the filer streams every change of its metadata: `weed filer.meta.tail` prints
each as a JSON object (pretty-printed, so one object spans many lines). This bridge follows that
stream for the bucket and turns each file that appears under it into the S3 event record AWS
would send (`Records[].s3.bucket.name`, `object.key` URL-encoded as AWS does, `size`, `eTag`,
`eventName` `ObjectCreated:Put` or `ObjectCreated:CompleteMultipartUpload`), and sends it to the
SQS queue that the bucket would notify (`classify-events`); the dispatcher hands it to the
function from there, as with LocalStack.

What becomes an event (measured with SeaweedFS 4.48):
- a new file entry: a PUT, a copy, or a completed multipart upload (the object appears whole at
  its key when the upload completes; it carries the `X-Seaweedfs-Upload-Id` attribute);
- a file entry replaced by one with other content (an overwriting PUT; the ETag differs).
What does not: folders (SeaweedFS makes one per key prefix), deletions, metadata-only updates
(tagging: same ETag), and the parts of a multipart upload, which SeaweedFS keeps under the hidden
folder `.uploads/<upload id>/` of the bucket and removes on completion or abort (the key filter
below never matches them, and they are skipped whatever the filter).

Only the key filter and the event types of the template's S3 event source apply (prefix and
suffix rules, `s3:ObjectCreated:*` or a named type). Delivery is at least once: after a restart
of the tail the stream resumes from the last event seen, and classify is idempotent.

Environment: WEED (the `weed` binary), FILER_ADDRESS (`host:port.grpcPort`), BUCKET_NAME,
AWS_ENDPOINT_URL (SQS), EVENTS_QUEUE (default classify-events), EVENTS_SINCE_NS (nanoseconds since
the epoch to start from; default now).
"""

import base64
import json
import os
import subprocess
import sys
import time
import urllib.parse
from datetime import datetime, timezone

import boto3

from bootstrap import s3_notification
from cfn_template import load_template

UPLOADS_FOLDER = ".uploads/"
MULTIPART_ATTRIBUTE = "x-seaweedfs-upload-id"
ETAG_ATTRIBUTE = "seaweed-x-amz-etag"


def log(message):
    print(f"seaweedfs-events: {message}", flush=True)


def entries(stream):
    """The JSON objects of `weed filer.meta.tail`'s output. Each is pretty-printed over many lines
    and closed by a `}` alone at the start of a line."""
    buffer = []
    for line in stream:
        buffer.append(line)
        if line.rstrip("\r\n") == "}":
            text = "".join(buffer)
            try:
                yield json.loads(text)
            except json.JSONDecodeError:
                continue  # a nested object closed at column 0: keep reading
            buffer = []


def attribute(entry, name):
    """An extended attribute of a filer entry (bytes, base64 in the JSON), as text, or None."""
    for key, value in (entry.get("extended") or {}).items():
        if key.lower() == name:
            try:
                return base64.b64decode(value).decode("utf-8", errors="replace")
            except ValueError:
                return None
    return None


def etag(entry):
    value = attribute(entry, ETAG_ATTRIBUTE)
    if value:
        return value.strip('"')
    md5 = (entry.get("attributes") or {}).get("md5")
    return base64.b64decode(md5).hex() if md5 else ""


def event_name(event, bucket):
    """The S3 event name for one metadata event, with its object key, or None if it is none."""
    notification = event.get("eventNotification") or {}
    new, old = notification.get("newEntry"), notification.get("oldEntry")
    if not new or new.get("isDirectory"):
        return None, None
    folder = notification.get("newParentPath") or event.get("directory") or ""
    root = f"/buckets/{bucket}/"
    path = f"{folder.rstrip('/')}/{new['name']}"
    if not path.startswith(root):
        return None, None
    key = path[len(root):]
    if key.startswith(UPLOADS_FOLDER):
        return None, None
    moved = old is not None and (old.get("name") != new.get("name") or event.get("directory") != folder)
    if old is not None and not old.get("isDirectory") and not moved and etag(old) == etag(new):
        return None, None  # metadata only (tagging, ACL): S3 sends no ObjectCreated for it
    if attribute(new, MULTIPART_ATTRIBUTE) is not None and (old is None or moved or etag(old) != etag(new)):
        return "ObjectCreated:CompleteMultipartUpload", key
    return "ObjectCreated:Put", key


def matches(key, name, wanted, rules):
    if not any(w in ("s3:ObjectCreated:*", f"s3:{name}") for w in wanted):
        return False
    for rule in rules:
        value = rule["Value"]
        if rule["Name"].lower() == "prefix" and not key.startswith(value):
            return False
        if rule["Name"].lower() == "suffix" and not key.endswith(value):
            return False
    return True


def record(bucket, name, key, event):
    new = event["eventNotification"]["newEntry"]
    ts_ns = int(event.get("tsNs") or time.time_ns())
    when = datetime.fromtimestamp(ts_ns / 1e9, tz=timezone.utc)
    return {
        "eventVersion": "2.1",
        "eventSource": "aws:s3",
        "awsRegion": os.environ.get("AWS_REGION", "us-east-1"),
        "eventTime": when.strftime("%Y-%m-%dT%H:%M:%S.") + f"{when.microsecond // 1000:03d}Z",
        "eventName": name,
        "userIdentity": {"principalId": "seaweedfs"},
        "requestParameters": {"sourceIPAddress": "127.0.0.1"},
        "responseElements": {"x-amz-request-id": f"{ts_ns:X}", "x-amz-id-2": "seaweedfs"},
        "s3": {
            "s3SchemaVersion": "1.0",
            "configurationId": "seaweedfs-events",
            "bucket": {"name": bucket, "ownerIdentity": {"principalId": "seaweedfs"},
                       "arn": f"arn:aws:s3:::{bucket}"},
            "object": {
                # As AWS encodes keys in events: form encoding, a space as '+', '/' kept.
                "key": urllib.parse.quote_plus(key, safe="/"),
                "size": int((new.get("attributes") or {}).get("fileSize") or 0),
                "eTag": etag(new),
                "sequencer": f"{ts_ns:016X}",
            },
        },
    }


def main():
    weed = os.environ.get("WEED", "weed")
    filer = os.environ["FILER_ADDRESS"]
    bucket = os.environ["BUCKET_NAME"]
    wanted, key_filter = s3_notification(load_template())
    rules = key_filter["S3Key"]["Rules"] if key_filter else []
    prefix = next((r["Value"] for r in rules if r["Name"].lower() == "prefix"), "")
    sqs = boto3.client("sqs", endpoint_url=os.environ["AWS_ENDPOINT_URL"])
    queue = sqs.get_queue_url(QueueName=os.environ.get("EVENTS_QUEUE", "classify-events"))["QueueUrl"]
    since_ns = int(os.environ.get("EVENTS_SINCE_NS") or time.time_ns())
    log(f"{filer} /buckets/{bucket}/{prefix} {wanted} -> {queue}")
    while True:
        ago_ns = max(1, time.time_ns() - since_ns)
        # The path prefix narrows the stream to the filter's folder; the rules are applied below.
        tail = subprocess.Popen(
            [weed, "filer.meta.tail", f"-filer={filer}", f"-pathPrefix=/buckets/{bucket}/{prefix}",
             f"-timeAgo={ago_ns}ns"],
            stdout=subprocess.PIPE, stdin=subprocess.DEVNULL, text=True)
        for event in entries(tail.stdout):
            since_ns = max(since_ns, int(event.get("tsNs") or 0) + 1)
            name, key = event_name(event, bucket)
            if name is None or not matches(key, name, wanted, rules):
                continue
            body = json.dumps({"Records": [record(bucket, name, key, event)]})
            sqs.send_message(QueueUrl=queue, MessageBody=body)
            log(json.dumps({"eventName": name, "key": key}))
        code = tail.wait()
        log(f"filer.meta.tail exited with {code}; following again from {since_ns}")
        time.sleep(1)


if __name__ == "__main__":
    try:
        main()
    except KeyboardInterrupt:
        sys.exit(0)
