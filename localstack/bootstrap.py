#!/usr/bin/env python3
"""Create the local AWS resources from the definitions in template.yaml.

The table (with its index) and the bucket (with its CORS rules) are read from the SAM template,
so the local stack and AWS never drift apart. Runs against any endpoints: Dynoxide and LocalStack
on the host (`make dev`, `make test`) or the Docker Compose services (localstack/init).

Environment: AWS_ENDPOINT_URL (SQS, EventBridge), AWS_ENDPOINT_URL_DYNAMODB, AWS_ENDPOINT_URL_S3,
TABLE_NAME, BUCKET_NAME; optionally CORS_ALLOWED_ORIGINS (comma-separated) and CLEANUP_SCHEDULE,
which default to the template parameters' defaults, and STORAGE=seaweedfs (S3 is SeaweedFS, which
has no bucket notifications: the queue is made, and seaweedfs_events.py fills it).

Locally the bucket gets only what the functions and the browser rely on: its CORS rules and its
notification. The template's public access block, default encryption, ownership controls and
lifecycle rule are AWS's business (SeaweedFS 4.48 answers 501 to the public access block; it
accepts the others).
"""

import os
import sys
import time

import boto3
from botocore.config import Config
from botocore.exceptions import ClientError

from cfn_template import TEMPLATE, load_template


def resolve(value, parameters):
    """Resolves `Ref`s to parameters; other intrinsics are not used by the local resources."""
    if isinstance(value, dict):
        if set(value) == {"Ref"} and value["Ref"] in parameters:
            return parameters[value["Ref"]]
        return {k: resolve(v, parameters) for k, v in value.items()}
    if isinstance(value, list):
        return [resolve(v, parameters) for v in value]
    return value


def parameters(template):
    values = {}
    for name, spec in template.get("Parameters", {}).items():
        default = spec.get("Default")
        if spec.get("Type") == "CommaDelimitedList" and isinstance(default, str):
            default = [item.strip() for item in default.split(",")]
        values[name] = default
    origins = os.environ.get("CORS_ALLOWED_ORIGINS")
    if origins:
        values["CorsAllowedOrigins"] = [o.strip() for o in origins.split(",") if o.strip()]
    return values


def resource(template, type_name):
    found = [r for r in template["Resources"].values() if r["Type"] == type_name]
    if len(found) != 1:
        sys.exit(f"expected exactly one {type_name} in {TEMPLATE}, found {len(found)}")
    return found[0]["Properties"]


def create_table(dynamodb, name, props):
    request = {
        "TableName": name,
        "BillingMode": props["BillingMode"],
        "AttributeDefinitions": props["AttributeDefinitions"],
        "KeySchema": props["KeySchema"],
    }
    if props.get("GlobalSecondaryIndexes"):
        request["GlobalSecondaryIndexes"] = props["GlobalSecondaryIndexes"]
    try:
        dynamodb.create_table(**request)
    except ClientError as e:
        if e.response["Error"]["Code"] != "ResourceInUseException":
            raise
    dynamodb.get_waiter("table_exists").wait(TableName=name, WaiterConfig={"Delay": 0.2, "MaxAttempts": 50})


def create_bucket(s3, name, props):
    try:
        s3.create_bucket(Bucket=name)
    except ClientError as e:
        if e.response["Error"]["Code"] not in ("BucketAlreadyOwnedByYou", "BucketAlreadyExists"):
            raise
    rules = []
    # CloudFormation spells two CORS fields differently from the S3 API.
    for rule in props["CorsConfiguration"]["CorsRules"]:
        rules.append({
            "AllowedOrigins": rule["AllowedOrigins"],
            "AllowedMethods": rule["AllowedMethods"],
            "AllowedHeaders": rule.get("AllowedHeaders", []),
            "ExposeHeaders": rule.get("ExposedHeaders", []),
            "MaxAgeSeconds": rule.get("MaxAge", 0),
        })
    try:
        s3.put_bucket_cors(Bucket=name, CORSConfiguration={"CORSRules": rules})
    except ClientError as e:
        if e.response["Error"]["Code"] != "NotImplemented":
            raise
        # MinIO: allowed origins come from MINIO_API_CORS_ALLOW_ORIGIN (docker-compose.yml).
        print("bootstrap: this S3 has no bucket CORS API; configure its CORS origins itself")


def schedule_expression(template, params):
    """The clean-up schedule of the template (CLEANUP_SCHEDULE overrides it locally)."""
    for res in template["Resources"].values():
        for event in res.get("Properties", {}).get("Events", {}).values():
            if event["Type"] == "Schedule":
                return os.environ.get("CLEANUP_SCHEDULE") or resolve(event["Properties"]["Schedule"], params)
    sys.exit(f"no Schedule event in {TEMPLATE}")


def create_queue(sqs, name):
    url = sqs.create_queue(QueueName=name, Attributes={"VisibilityTimeout": "30"})["QueueUrl"]
    arn = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    return url, arn


def create_schedule(events, sqs, expression):
    """LocalStack cannot run Lambda functions without Docker: the rule targets a queue, and the
    local dispatcher hands each `Scheduled Event` to the cleanup function."""
    _, arn = create_queue(sqs, "cleanup-schedule")
    events.put_rule(Name="cleanup-schedule", ScheduleExpression=expression, State="ENABLED")
    events.put_targets(Rule="cleanup-schedule", Targets=[{"Id": "cleanup-queue", "Arn": arn}])


def s3_notification(template):
    """The S3 event source of the template (the classify function's), as (events, filter)."""
    for res in template["Resources"].values():
        for event in res.get("Properties", {}).get("Events", {}).values():
            if event["Type"] == "S3":
                props = event["Properties"]
                events = props["Events"] if isinstance(props["Events"], list) else [props["Events"]]
                return events, props.get("Filter")
    sys.exit(f"no S3 event in {TEMPLATE}")


def create_notification(s3, sqs, bucket, events, key_filter):
    """Locally the bucket notifies a queue; the dispatcher hands each S3 event to classify."""
    _, arn = create_queue(sqs, "classify-events")
    if os.environ.get("STORAGE") == "seaweedfs":
        # PutBucketNotificationConfiguration is not implemented there (SeaweedFS 4.48 even takes
        # it for a CreateBucket and answers 409): the filer's metadata events stand in for it.
        return "filer metadata events (seaweedfs_events.py)"
    config = {"QueueArn": arn, "Events": events}
    if key_filter:
        config["Filter"] = {"Key": {"FilterRules": key_filter["S3Key"]["Rules"]}}
    s3.put_bucket_notification_configuration(
        Bucket=bucket, NotificationConfiguration={"QueueConfigurations": [config]})
    return "the bucket's notification"


def main():
    template = load_template()
    params = parameters(template)
    table_name = os.environ["TABLE_NAME"]
    bucket_name = os.environ["BUCKET_NAME"]
    session = boto3.session.Session(region_name=os.environ.get("AWS_REGION", "us-east-1"))
    config = Config(s3={"addressing_style": "path"}, retries={"max_attempts": 10})
    dynamodb = session.client("dynamodb", endpoint_url=os.environ["AWS_ENDPOINT_URL_DYNAMODB"], config=config)
    s3 = session.client("s3", endpoint_url=os.environ["AWS_ENDPOINT_URL_S3"], config=config)
    sqs = session.client("sqs", endpoint_url=os.environ["AWS_ENDPOINT_URL"], config=config)
    events = session.client("events", endpoint_url=os.environ["AWS_ENDPOINT_URL"], config=config)

    started = time.monotonic()
    create_table(dynamodb, table_name, resolve(resource(template, "AWS::DynamoDB::Table"), params))
    create_bucket(s3, bucket_name, resolve(resource(template, "AWS::S3::Bucket"), params))
    events_, key_filter = s3_notification(template)
    source = create_notification(s3, sqs, bucket_name, events_, key_filter)
    schedule = schedule_expression(template, params)
    create_schedule(events, sqs, schedule)
    print(f"bootstrap: table {table_name!r}, bucket {bucket_name!r} (CORS {params['CorsAllowedOrigins']}), "
          f"{events_} -> classify-events by {source}, clean-up {schedule} ready in {time.monotonic() - started:.2f}s")


if __name__ == "__main__":
    main()
