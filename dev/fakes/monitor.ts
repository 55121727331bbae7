import { json, listen } from "./http";

/**
 * A monitoring receiver on loopback, standing in for a heartbeat monitor (healthchecks.io) and an
 * alerts webhook: it records every call it gets and answers with the status it is told to.
 * `/_control/calls` lists the calls (method, path, JSON body), `/_control/reset` forgets them,
 * `/_control/status {"status": 503}` sets the answer of the calls that follow.
 */
export interface MonitorCall {
  at: number;
  method: string;
  path: string;
  body: unknown;
}

export async function startMonitor(port = 0) {
  let calls: MonitorCall[] = [];
  let status = 200;
  return listen((req, url, body) => {
    if (url.pathname === "/_control/calls") return json({ calls });
    if (url.pathname === "/_control/reset") {
      calls = [];
      status = 200;
      return json({ ok: true });
    }
    if (url.pathname === "/_control/status") {
      status = (JSON.parse(body.toString() || "{}") as { status?: number }).status ?? 200;
      return json({ ok: true });
    }
    let parsed: unknown = null;
    try {
      parsed = body.length ? JSON.parse(body.toString()) : null;
    } catch {
      parsed = body.toString();
    }
    calls.push({ at: Date.now(), method: req.method ?? "GET", path: url.pathname, body: parsed });
    return { status, text: status < 300 ? "OK" : "failing" };
  }, port);
}
