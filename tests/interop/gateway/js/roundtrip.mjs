// Round trip through the stsmock S3 gateway with the AWS SDK for JavaScript v3 (default checksums).
// Credentials and endpoint come from the environment (AWS_ACCESS_KEY_ID, ..., AWS_ENDPOINT_URL_S3).
// Usage: node roundtrip.mjs BUCKET   -> prints one JSON line with what happened.
import { createHash, randomBytes } from "node:crypto";
import { Readable } from "node:stream";
import {
  S3Client, CreateBucketCommand, PutObjectCommand, GetObjectCommand, ListObjectsV2Command,
  DeleteObjectCommand, DeleteObjectsCommand, DeleteBucketCommand,
} from "@aws-sdk/client-s3";
import { Upload } from "@aws-sdk/lib-storage";

const bucket = process.argv[2];
const s3 = new S3Client({ region: "us-east-1", endpoint: process.env.AWS_ENDPOINT_URL_S3, forcePathStyle: true, maxAttempts: 1 });
const sha = (buf) => createHash("sha256").update(buf).digest("hex");
const body = async (key) => Buffer.from(await (await s3.send(new GetObjectCommand({ Bucket: bucket, Key: key }))).Body.transformToByteArray());
const out = {};

await s3.send(new CreateBucketCommand({ Bucket: bucket }));
await s3.send(new PutObjectCommand({ Bucket: bucket, Key: "js/small.txt", Body: "hello from js" }));
out.small = (await body("js/small.txt")).toString();

// A stream body: the SDK sends STREAMING-UNSIGNED-PAYLOAD-TRAILER (aws-chunked + crc32 trailer), even over http.
const streamed = randomBytes(3 * 1024 * 1024 + 17);
await s3.send(new PutObjectCommand({ Bucket: bucket, Key: "js/stream.bin", Body: Readable.from([streamed]), ContentLength: streamed.length }));
out.stream = sha(await body("js/stream.bin")) === sha(streamed);

// lib-storage Upload of a stream of unknown length: multipart, 5 MiB parts.
const big = randomBytes(12 * 1024 * 1024 + 5);
const chunks = []; for (let i = 0; i < big.length; i += 1024 * 1024) chunks.push(big.subarray(i, i + 1024 * 1024));
await new Upload({ client: s3, params: { Bucket: bucket, Key: "js/upload.bin", Body: Readable.from(chunks) } }).done();
out.upload = sha(await body("js/upload.bin")) === sha(big);

out.listed = ((await s3.send(new ListObjectsV2Command({ Bucket: bucket, Prefix: "js/" }))).Contents || []).map((o) => o.Key).sort();
await s3.send(new PutObjectCommand({ Bucket: bucket, Key: "protected/keep.txt", Body: "keep" }));
try {
  await s3.send(new DeleteObjectCommand({ Bucket: bucket, Key: "protected/keep.txt" }));
  out.denied = "not denied";
} catch (e) { out.denied = e.name; }
process.stdout.write(JSON.stringify(out) + "\n");
