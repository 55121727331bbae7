import { Agent, request } from "node:http";
import { json, listen } from "./http";

/**
 * A pass-through proxy in front of the S3 stand-in that can play a Spaces outage or a slow Spaces
 * on demand (`POST /_control/mode {"mode":"up"|"down"|"slow","delayMs"}`), and counts requests:
 * writes, and the reads that only check (HEAD of an object, LIST of a prefix).
 */
export async function startFaultProxy(target: string, port?: number) {
  let mode: { mode: "up" | "down" | "slow"; delayMs?: number } = { mode: "up" };
  const counts = { requests: 0, writes: 0, heads: 0, lists: 0, refused: 0 };
  const targetUrl = new URL(target);
  // Connections to the server behind are kept open: one TCP connection per request cost the
  // benchmark as much CPU as the S3 server's own work.
  const agent = new Agent({ keepAlive: true, maxSockets: 64 });

  const proxy = await listen(async (req, url, body) => {
    if (url.pathname.startsWith("/_control/")) {
      if (url.pathname === "/_control/mode") mode = JSON.parse(body.toString());
      const answer = json({ ...mode, ...counts });
      // Answers the counts so far, then starts counting again.
      if (url.pathname === "/_control/reset-counts")
        Object.assign(counts, { requests: 0, writes: 0, heads: 0, lists: 0, refused: 0 });
      return answer;
    }
    counts.requests++;
    if (mode.mode === "down") {
      counts.refused++;
      return {
        status: 503,
        headers: { "content-type": "application/xml" },
        text: `<?xml version="1.0" encoding="UTF-8"?><Error><Code>ServiceUnavailable</Code><Message>Spaces is down (fault proxy)</Message></Error>`,
      };
    }
    if (mode.mode === "slow") await new Promise((r) => setTimeout(r, mode.delayMs ?? 2000));
    if (req.method === "PUT" || req.method === "POST" || req.method === "DELETE") counts.writes++;
    if (req.method === "HEAD") counts.heads++;
    if (req.method === "GET" && url.searchParams.has("list-type")) counts.lists++;
    const { connection: _hop, "keep-alive": _alive, ...headers } = req.headers;
    return new Promise((resolve) => {
      const upstream = request(
        { host: targetUrl.hostname, port: targetUrl.port, method: req.method, path: req.url, headers, agent },
        (res) => {
          const chunks: Buffer[] = [];
          res.on("data", (c: Buffer) => chunks.push(c));
          // A keep-alive connection the stand-in closed mid-answer: answer 502 (the writer retries)
          // rather than leave the caller waiting forever.
          res.on("error", (err) => resolve({ status: 502, text: String(err) }));
          res.on("aborted", () => resolve({ status: 502, text: "upstream closed the connection mid-answer" }));
          res.on("end", () => {
            const headers: Record<string, string> = {};
            for (const [k, v] of Object.entries(res.headers)) {
              if (v !== undefined && k !== "content-length" && k !== "transfer-encoding" && k !== "connection")
                headers[k] = String(v);
            }
            resolve({ status: res.statusCode, headers, text: Buffer.concat(chunks).toString("latin1"), binary: true });
          });
        },
      );
      upstream.on("error", (err) => resolve({ status: 502, text: String(err) }));
      // Never longer than this for an answer from the stand-in (a "slow" delay comes before it).
      upstream.setTimeout(10_000, () => upstream.destroy(new Error("the S3 stand-in did not answer in 10 s")));
      upstream.end(body);
    });
  }, port);
  const close = async () => {
    agent.destroy();
    await proxy.close();
  };
  return { ...proxy, close, counts };
}
