import { z } from "zod";
import { createHash } from "node:crypto";
import { conversationFolder } from "../../src/spaces/keys.ts";
import { control, delivery, messengerWebhookRequest } from "../../dev/platform-client.ts";
import { add, percentile, waitFor } from "./report.ts";
import type { Bench } from "./stack.ts";

/** Attachments a run sends, and the size of each (BENCH_ATTACHMENTS, BENCH_ATTACHMENT_BYTES). */
const COUNT = Number(process.env.BENCH_ATTACHMENTS ?? 30);
const BYTES = Number(process.env.BENCH_ATTACHMENT_BYTES ?? 2 * 1024 * 1024);

/**
 * Bench section "attachments": customers each send an image (on the Graph fake's CDN) in one burst
 * of webhooks; reports the bytes copied into Spaces and the lag from each webhook's answer to its
 * copy being readable there (the upload delay, the queue, the download and the upload together).
 */
export async function benchAttachments(bench: Bench) {
  const { worker, secrets, spaces, uuid, benchPage, graph, started } = bench;
  console.log(`\nAttachments (${COUNT} images of ${(BYTES / 1024 / 1024).toFixed(1)} MiB, sent at once)`);
  const mediaServed = async () =>
    z
      .object({ media_bytes: z.number() })
      .parse(await (await fetch(`${graph.origin}/_control/state?page=${benchPage}`)).json()).media_bytes;
  const servedBefore = await mediaServed();
  const sends = Array.from({ length: COUNT }, async (_, i) => {
    // Customers of their own (the writes section counts the messages of 93000000000000x).
    const customer = String(940000000000000 + i);
    const mid = `m_att_${i}_${started}`;
    const media = z
      .object({ url: z.string() })
      .parse(await control(graph.origin, "media", { size: BYTES, seed: mid, content_type: "image/jpeg" }));
    const event = {
      sender: { id: customer },
      recipient: { id: benchPage },
      timestamp: Date.now(),
      message: { mid, attachments: [{ type: "image", payload: { url: media.url } }] },
    };
    const res = await fetch(await messengerWebhookRequest(worker, secrets, delivery(benchPage, [event])));
    const answered = Date.now();
    if (res.status !== 200) throw new Error(`Messenger webhook answered ${res.status}`);
    // The key the worker gives the copy: the message id's hash and the attachment's position.
    const name = `${createHash("sha256").update(mid).digest("hex").slice(0, 32)}-0.jpg`;
    const key = `${conversationFolder(uuid, benchPage, customer)}attachments/${name}`;
    await waitFor("attachment copy", async () => (await spaces.storedHashes(key)) !== null, 120_000, 20);
    return Date.now() - answered;
  });
  const lags = await Promise.all(sends);
  const copied = (await mediaServed()) - servedBefore;
  add("attachments", "attachment bytes copied", (copied / 1024 / 1024).toFixed(1), "MiB", `${COUNT} attachments`);
  add(
    "attachments",
    "Messenger webhook → attachment in Spaces p50 / p99",
    `${percentile(lags, 50)} / ${percentile(lags, 99)}`,
    "ms",
    "the upload delay, the queue, the download and the upload",
  );
  add(
    "attachments",
    "copy throughput",
    (copied / 1024 / 1024 / (Math.max(...lags) / 1000)).toFixed(1),
    "MiB/s",
    "bytes copied / time to the last copy",
  );
}
