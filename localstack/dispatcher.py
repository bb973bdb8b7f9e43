#!/usr/bin/env python3
"""Hand queued events to the local functions, as Lambda's event sources do in AWS.

LocalStack cannot run Lambda functions without Docker, so locally the bucket notification and
the EventBridge schedule target SQS queues. This loop receives each message and invokes the
function for its queue through the Lambda invoke API of `cargo lambda watch`, with the message
body (already the S3 event or the Scheduled Event JSON) as the payload. Each queue has a loop
(a thread) of its own, so the schedule's empty queue never delays an S3 event. A message is deleted only
after the function succeeded; otherwise it becomes visible again and is retried.

Each message gets a log line: the function, whether it succeeded, how long the invocation took
(`ms`), when the queue received the message (`sent_ms`, SQS's SentTimestamp, epoch ms) and when
this loop did (`received_s`, epoch seconds), and the S3 object key if it is an S3 event (`key`):
`bench/time_to_filed.py` reads them.

Environment: AWS_ENDPOINT_URL (SQS), API_URL (cargo lambda watch), QUEUE_ROUTES
("queue=function,queue=function").
"""

import json
import os
import sys
import threading
import time
import urllib.error
import urllib.request

import boto3


def invoke(api_url, function, payload):
    request = urllib.request.Request(
        f"{api_url}/2015-03-31/functions/{function}/invocations", data=payload.encode(), method="POST",
        headers={"content-type": "application/json"})
    try:
        with urllib.request.urlopen(request, timeout=300) as response:
            body = response.read().decode(errors="replace")
            return response.headers.get("X-Amz-Function-Error") is None, body
    except urllib.error.HTTPError as e:
        return False, f"HTTP {e.code}: {e.read().decode(errors='replace')}"
    except (urllib.error.URLError, OSError) as e:
        return False, str(e)


def object_key(body):
    try:
        return json.loads(body)["Records"][0]["s3"]["object"]["key"]
    except (ValueError, KeyError, IndexError, TypeError):
        return None


def serve(url, function, api_url, lock):
    """One queue, as one event source: its messages one after another, long-polled, so a message
    waits for nothing but the invocations before it (not for another queue's empty poll)."""
    sqs = boto3.client("sqs", endpoint_url=os.environ["AWS_ENDPOINT_URL"])  # one client per thread
    while True:
        messages = sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10, WaitTimeSeconds=1,
                                       AttributeNames=["SentTimestamp"]).get("Messages", [])
        received = time.time()
        for message in messages:
            started = time.monotonic()
            ok, result = invoke(api_url, function, message["Body"])
            line = json.dumps({"function": function, "ok": ok, "ms": round((time.monotonic() - started) * 1000, 1),
                               "sent_ms": int(message.get("Attributes", {}).get("SentTimestamp", 0)),
                               "received_s": received, "key": object_key(message["Body"]),
                               "result": result[:2000]})
            with lock:
                print(line, flush=True)
            if ok:
                sqs.delete_message(QueueUrl=url, ReceiptHandle=message["ReceiptHandle"])


def main():
    api_url = os.environ["API_URL"]
    routes = dict(pair.split("=", 1) for pair in os.environ["QUEUE_ROUTES"].split(",") if pair)
    sqs = boto3.client("sqs", endpoint_url=os.environ["AWS_ENDPOINT_URL"])
    queues = {sqs.get_queue_url(QueueName=name)["QueueUrl"]: function for name, function in routes.items()}
    print(f"dispatcher: {routes} -> {api_url}", flush=True)
    lock = threading.Lock()
    threads = [threading.Thread(target=serve, args=(url, function, api_url, lock), daemon=True)
               for url, function in queues.items()]
    for thread in threads:
        thread.start()
    while all(thread.is_alive() for thread in threads):
        time.sleep(1)
    sys.exit("dispatcher: a queue's loop stopped")


if __name__ == "__main__":
    try:
        main()
    except KeyboardInterrupt:
        sys.exit(0)
