import { z } from "zod";
/**
 * The worker isolate's own heap, read inside workerd: `wrangler dev --inspector-port P` serves the
 * DevTools protocol, and `Runtime.getHeapUsage` answers for the isolate that runs the worker. A Node
 * process running the same code is a stand-in, not the Worker (workerd's streams and fetch buffer
 * differently), so memory figures in the bench and the tests come from here.
 *
 * The figure is `usedSize + backingStorageSize`: JavaScript objects plus the ArrayBuffers behind
 * them (request bodies, stream chunks), which is what counts against a Worker's memory limit.
 */
import WebSocket from "ws";

/** The memory a Worker's isolate may use on Cloudflare. */
export const ISOLATE_LIMIT_BYTES = 128 * 1024 * 1024;

/**
 * How often the sampler asks: often enough to catch the peak of a request that lasts a second.
 * Each reading costs wrangler's inspector proxy three requests to its Node process, which workerd
 * keeps open (CLOSE-WAIT) for its life: at 10 a second a long run used up workerd's 20,000 files.
 */
const SAMPLE_EVERY_MS = 250;

const heapUsage = z.object({
  usedSize: z.number(),
  totalSize: z.number(),
  backingStorageSize: z.number().optional(),
});

export interface HeapSampler {
  /** One reading now, in bytes. */
  read(): Promise<number>;
  /** Starts sampling in the background; the peak since then comes back from `peak()`. */
  start(): void;
  /** The highest reading since `start()`, in bytes (sampling goes on). */
  peak(): number;
  /** What the peak was made of: JavaScript objects and ArrayBuffers, in bytes. */
  peakParts(): { objects: number; buffers: number };
  /** Stops sampling and returns the peak since `start()`. */
  stopSampling(): Promise<number>;
  /** Closes the inspector connection. */
  close(): void;
}

/** Connects to the inspector of `wrangler dev --inspector-port <port>`. */
export async function connectIsolateHeap(inspectorPort: number): Promise<HeapSampler> {
  const socket = await openInspector(inspectorPort);
  let nextId = 1;
  const waiting = new Map<number, (result: unknown) => void>();
  socket.on("message", (data) => {
    const message = z
      .object({ id: z.number().optional(), result: z.unknown().optional() })
      .parse(JSON.parse(String(data)));
    if (message.id !== undefined) waiting.get(message.id)?.(message.result);
    if (message.id !== undefined) waiting.delete(message.id);
  });
  const call = (method: string) =>
    new Promise<unknown>((resolve, reject) => {
      const id = nextId++;
      const timer = setTimeout(() => reject(new Error(`inspector: ${method} unanswered`)), 10_000);
      waiting.set(id, (result) => {
        clearTimeout(timer);
        resolve(result);
      });
      socket.send(JSON.stringify({ id, method }));
    });
  await call("Runtime.enable");
  // Wrangler's proxy turns on the Network domain for DevTools: then every subrequest and each chunk
  // it receives is an event, relayed to wrangler's Node process as two requests that workerd never
  // closes. A 50,000-product read (a 60 MB download) ran workerd out of files and it stopped
  // answering. The heap reading needs none of it.
  await call("Network.disable");

  const read = async () => {
    const usage = heapUsage.parse(await call("Runtime.getHeapUsage"));
    const total = usage.usedSize + (usage.backingStorageSize ?? 0);
    if (total > peak) peakParts = { objects: usage.usedSize, buffers: usage.backingStorageSize ?? 0 };
    return total;
  };
  let peak = 0;
  let peakParts = { objects: 0, buffers: 0 };
  let timer: NodeJS.Timeout | undefined;
  let inFlight: Promise<void> = Promise.resolve();
  const sample = () => {
    inFlight = read().then(
      (bytes) => void (peak = Math.max(peak, bytes)),
      () => undefined,
    );
  };
  return {
    read,
    start() {
      peak = 0;
      peakParts = { objects: 0, buffers: 0 };
      sample();
      timer = setInterval(sample, SAMPLE_EVERY_MS);
    },
    peak: () => peak,
    peakParts: () => peakParts,
    async stopSampling() {
      clearInterval(timer);
      await inFlight;
      sample();
      await inFlight;
      return peak;
    },
    close: () => socket.close(),
  };
}

/** The worker's isolate target: wrangler lists it at `/json`; retried while wrangler starts. */
async function openInspector(port: number): Promise<WebSocket> {
  const deadline = Date.now() + 30_000;
  for (;;) {
    try {
      const targets = z
        .array(z.object({ webSocketDebuggerUrl: z.string().optional() }))
        .parse(await (await fetch(`http://127.0.0.1:${port}/json`)).json());
      const url = targets.find((t) => t.webSocketDebuggerUrl)?.webSocketDebuggerUrl ?? `ws://127.0.0.1:${port}/ws`;
      const socket = new WebSocket(url);
      await new Promise<void>((resolve, reject) => {
        socket.once("open", () => resolve());
        socket.once("error", reject);
      });
      return socket;
    } catch (err) {
      if (Date.now() > deadline) throw new Error(`no inspector on port ${port}: ${String(err)}`);
      await new Promise((r) => setTimeout(r, 250));
    }
  }
}

/** "12.3 MB of 128 MB": a heap figure next to the Worker's limit. */
export function heapFigure(bytes: number): string {
  const mb = (n: number) => (n / 1024 / 1024).toFixed(1);
  return `${mb(bytes)} MB of ${mb(ISOLATE_LIMIT_BYTES)} MB`;
}
