"""The README promise: token -> assume -> a signed S3 call through the gateway, with only the plugin's fixtures."""

import uuid

import boto3
from botocore.config import Config


def test_token_assume_and_signed_s3_call(stsmock, stsmock_s3):
    creds = stsmock.assume(token=stsmock.token("svc-a"))
    s3 = boto3.client(
        "s3",
        endpoint_url=stsmock_s3,
        region_name="us-east-1",
        config=Config(s3={"addressing_style": "path"}),
        **creds,
    )
    bucket = f"data-{uuid.uuid4().hex[:8]}"
    s3.create_bucket(Bucket=bucket)
    s3.put_object(Bucket=bucket, Key="hello.txt", Body=b"hi")
    assert s3.get_object(Bucket=bucket, Key="hello.txt")["Body"].read() == b"hi"
