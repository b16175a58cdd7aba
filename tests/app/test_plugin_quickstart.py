"""The README promise: token -> assume -> an S3-style signed call, with only the plugin's fixtures."""

import boto3
from botocore.config import Config


def test_token_assume_and_signed_s3_call(stsmock):
    creds = stsmock.assume(token=stsmock.token("svc-a"))
    s3 = boto3.client(
        "s3",
        endpoint_url=stsmock.url + "/s3",
        region_name="us-east-1",
        config=Config(s3={"addressing_style": "path"}),
        **creds,
    )
    s3.create_bucket(Bucket="data")
    s3.put_object(Bucket="data", Key="hello.txt", Body=b"hi")
    assert s3.get_object(Bucket="data", Key="hello.txt")["Body"].read() == b"hi"
