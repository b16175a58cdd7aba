// A drill client process: the AWS SDK for JavaScript v3 with its default credential chain
// (no code for the delivery pattern), calling continuously, one JSON line per call.
// Usage: node client.mjs --target sts|s3 --seconds N [--interval S]
import { STSClient, GetCallerIdentityCommand } from "@aws-sdk/client-sts";
import { S3Client, ListObjectsV2Command } from "@aws-sdk/client-s3";

const args = Object.fromEntries(
  process.argv.slice(2).reduce((acc, v, i, all) => (v.startsWith("--") ? [...acc, [v.slice(2), all[i + 1]]] : acc), [])
);
const target = args.target || "sts";
const seconds = Number(args.seconds || 60);
const interval = Number(args.interval || 0.5) * 1000;
let lastKey = null;

const keySpy = (next) => async (a) => {
  const auth = a.request && a.request.headers ? a.request.headers.authorization || "" : "";
  const m = /Credential=([A-Z0-9]+)\//.exec(auth);
  lastKey = m ? m[1] : null;
  return next(a);
};

function makeClient() {
  const common = { maxAttempts: 1 };
  if (target === "s3") {
    const client = new S3Client({ ...common, forcePathStyle: true });
    client.middlewareStack.add(keySpy, { step: "deserialize", name: "stsmockDrillKeySpy" });
    return () => client.send(new ListObjectsV2Command({ Bucket: process.env.STSMOCK_DRILL_BUCKET, MaxKeys: 1 }));
  }
  const client = new STSClient(common);
  client.middlewareStack.add(keySpy, { step: "deserialize", name: "stsmockDrillKeySpy" });
  return () => client.send(new GetCallerIdentityCommand({}));
}

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
const minCalls = Number(args["min-calls"] || 0);
const end = Date.now() + seconds * 1000;
const hardEnd = end + 4 * seconds * 1000; // a slow machine may stretch a run, never without bound
let calls = 0;
const call = makeClient(); // built once: a long-running process, as in production
while (Date.now() < end || (calls < minCalls && Date.now() < hardEnd)) {
  calls += 1;
  const started = Date.now();
  let line;
  try {
    lastKey = null;
    await call();
    line = { ok: true, key: lastKey, error: null };
  } catch (err) {
    const code = err.Code || err.name || "Error";
    line = { ok: false, key: null, error: `${code}${err.message ? ": " + String(err.message).slice(0, 120) : ""}` };
  }
  const now = Date.now();
  process.stdout.write(JSON.stringify({ t: now / 1000, ...line, ms: now - started }) + "\n");
  await sleep(Math.max(0, interval - (now - started)));
}
