import { createServer, type IncomingMessage, type Server, type ServerResponse } from "node:http";
import type { AddressInfo } from "node:net";

/** A tiny loopback HTTP server for the platform fakes. */
export type Handler = (req: IncomingMessage, url: URL, body: Buffer) => Promise<FakeResponse> | FakeResponse;

export interface FakeResponse {
  status?: number;
  json?: unknown;
  text?: string;
  headers?: Record<string, string>;
  /** Answer after this many ms (to play a slow platform). */
  delayMs?: number;
  /** `text` holds bytes as latin1 (a proxied answer). */
  binary?: boolean;
}

export async function listen(
  handler: Handler,
  port = 0,
): Promise<{ server: Server; origin: string; close: () => Promise<void> }> {
  const server = createServer(async (req: IncomingMessage, res: ServerResponse) => {
    const chunks: Buffer[] = [];
    for await (const chunk of req) chunks.push(chunk as Buffer);
    const url = new URL(req.url ?? "/", "http://127.0.0.1");
    let out: FakeResponse;
    try {
      out = await handler(req, url, Buffer.concat(chunks));
    } catch (err) {
      out = { status: 500, json: { errors: String(err) } };
    }
    if (out.delayMs) await new Promise((r) => setTimeout(r, out.delayMs));
    const body =
      out.json !== undefined ? JSON.stringify(out.json) : Buffer.from(out.text ?? "", out.binary ? "latin1" : "utf8");
    res.writeHead(out.status ?? 200, {
      "content-type": out.json !== undefined ? "application/json; charset=utf-8" : "text/plain",
      ...out.headers,
    });
    res.end(body);
  });
  // Longer than a client keeps an idle connection: a server that closes first races the client's
  // next request on that connection ("Network connection lost" in workerd after a 1 s pause).
  server.keepAliveTimeout = 30_000;
  await new Promise<void>((resolve) => server.listen(port, "127.0.0.1", resolve));
  const { port: bound } = server.address() as AddressInfo;
  return {
    server,
    origin: `http://127.0.0.1:${bound}`,
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}

export const json = (value: unknown, status = 200, headers?: Record<string, string>): FakeResponse => ({
  json: value,
  status,
  headers,
});
