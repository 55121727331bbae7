/** The part of autocannon's API the benchmark uses (the package ships no types). */
declare module "autocannon" {
  interface Result {
    requests: { average: number; total: number };
    latency: { p50: number; p99: number };
    non2xx: number;
    errors: number;
    timeouts: number;
  }
  interface Options {
    url: string;
    connections?: number;
    amount?: number;
    timeout?: number;
    requests?: { setupRequest?: (req: Record<string, unknown>) => Record<string, unknown> }[];
  }
  /** The running load: a promise of its result that also reports each response. */
  interface Instance extends Promise<Result> {
    on(event: "response", listener: () => void): Instance;
  }
  export default function autocannon(opts: Options): Instance;
}
