// Delete every object of BUCKET and the bucket (with credentials allowed to).
import { S3Client, ListObjectsV2Command, DeleteObjectsCommand, DeleteBucketCommand } from "@aws-sdk/client-s3";
const bucket = process.argv[2];
const s3 = new S3Client({ region: "us-east-1", endpoint: process.env.AWS_ENDPOINT_URL_S3, forcePathStyle: true, maxAttempts: 1 });
const listed = (await s3.send(new ListObjectsV2Command({ Bucket: bucket }))).Contents || [];
const res = await s3.send(new DeleteObjectsCommand({ Bucket: bucket, Delete: { Objects: listed.map((o) => ({ Key: o.Key })) } }));
await s3.send(new DeleteBucketCommand({ Bucket: bucket }));
process.stdout.write(JSON.stringify({ deleted: (res.Deleted || []).length }) + "\n");
