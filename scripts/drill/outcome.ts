import { GetObjectAclCommand, HeadObjectCommand, S3Client } from "@aws-sdk/client-s3";
import * as objects from "../../src/spaces/keys.ts";
import { cast, check, logLines, sawLog, type Drill, type SpacesObject } from "./stack.ts";

const { shopA, shopB, pageA, pageB, customer } = cast;

/** Every Spaces object at its exact key with the expected content, and private on a real S3 server. */
export async function checkSpacesObjects(drill: Drill, uuidA: string, uuidB: string) {
  const { spaces } = drill;
  console.log("\nSpaces objects (exact keys, readable, expected content)");
  const expected: [string, (v: SpacesObject) => boolean][] = [
    [objects.shopMetadataKey(uuidA, shopA), (v) => v.shop === shopA],
    [objects.shopProductsKey(uuidA, shopA), (v) => v.count === 5],
    [objects.pageMetadataKey(uuidA, pageA), (v) => v.name === "Drill Shoes Renamed"],
    [
      objects.conversationKey(uuidA, pageA, customer),
      // Each message once. Graph's created_time has whole seconds, so a polled message sent within the
      // same second as a webhook's may sort before it: the set is checked, not the order.
      (v) =>
        v
          .messages!.map((m) => m.mid)
          .sort()
          .join() === "m_after,m_before,m_missed",
    ],
    [objects.shopMetadataKey(uuidB, shopB), (v) => v.shop === shopB],
    [objects.shopProductsKey(uuidB, shopB), (v) => v.count === 3],
    [objects.pageMetadataKey(uuidB, pageB), (v) => v.name === "Drill Hats"],
  ];
  for (const [key, ok] of expected) {
    const text = await spaces.getText(key);
    let good = false;
    try {
      good = text !== null && ok(JSON.parse(text));
    } catch {
      good = false;
    }
    check(key, good);
  }
  if (!drill.external) {
    console.log(
      "  (privacy not checked here: the S3 stand-in has no ACLs; .ci/run runs this drill on radosgw, which does)",
    );
    return;
  }
  const client = new S3Client({
    endpoint: drill.s3.endpoint,
    forcePathStyle: true,
    region: "nyc3",
    credentials: { accessKeyId: drill.spacesKey, secretAccessKey: drill.spacesSecret },
  });
  const backups = [
    ...(await spaces.listKeys("backups/d1/tokens/")).slice(-2),
    ...(await spaces.listKeys("backups/journal/")).slice(-1),
  ];
  for (const key of [...expected.map(([k]) => k), ...backups]) {
    const acl = await client.send(new GetObjectAclCommand({ Bucket: drill.bucket, Key: key }));
    const head = await client.send(new HeadObjectCommand({ Bucket: drill.bucket, Key: key }));
    const anonymous = await fetch(`${drill.s3.endpoint}/${drill.bucket}/${key}`);
    check(
      `${key} is private, application/json`,
      anonymous.status === 403 &&
        !acl.Grants?.some((g) => g.Grantee?.URI?.includes("AllUsers")) &&
        head.ContentType === "application/json",
    );
  }
}

/** The contract's log lines were printed, and no secret or the browser's cookie was. */
export function checkLogLines(drill: Drill, uuidA: string, cookie: string) {
  const contractLines = [
    `Webhook registered for ${shopA}: products/update`,
    `Uploaded data to ${objects.shopMetadataKey(uuidA, shopA)} and ${objects.shopProductsKey(uuidA, shopA)} for ${shopA}`,
    `Webhook subscription for 'name,category,messages' already exists for page ${pageA}`,
    `Uploaded ${objects.pageMetadataKey(uuidA, pageA)} to Spaces`,
    `Received webhook event for page ${pageA}: `,
    `New conversation started for sender ${customer} on page ${pageA}`,
    `Received products/update event from ${shopA}: `,
    `Polled metadata for page ${pageA}: Success`,
    `Polled conversations for page ${pageA}: Success`,
  ];
  console.log("\nLog lines of the contract");
  for (const line of contractLines) check(line, sawLog(line));
  const { secrets } = drill;
  const leaked = [
    secrets.SHOPIFY_API_SECRET,
    secrets.FACEBOOK_APP_SECRET,
    secrets.ADMIN_TOKEN,
    secrets.TOKEN_ENCRYPTION_KEY,
    cookie,
  ].filter((s) => logLines.some((l) => l.includes(s)));
  check("no secret or cookie in the worker's log", leaked.length === 0);
}
