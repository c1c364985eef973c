/**
 * A reference origin process's two listeners: content (with the fault switch
 * applied) and admin (the switch itself, and request counts). `down` closes
 * the content listener for real, so clients see connections refused.
 */
import { createAdaptorServer, getRequestListener, type Http2Bindings, type HttpBindings } from "@hono/node-server";
import { Hono } from "hono";
import { createServer, type IncomingMessage, type Server, type ServerResponse } from "node:http";
import type { AddressInfo } from "node:net";
import { countRequest, createOriginApp, type OriginIdentity, type OriginStats } from "./app";
import { FaultSchema, listening, NO_FAULT, requestFate, type Fault } from "./faults";
import { fieldProblems } from "../common/zod-issues";

export interface OriginOptions extends OriginIdentity {
  host?: string;
  port?: number;
  adminPort?: number;
}

export interface RunningOrigin {
  id: string;
  port: number;
  adminPort: number;
  close(): Promise<void>;
}

function listen(server: Server, port: number, host: string): Promise<number> {
  return new Promise((resolve, reject) => {
    server.once("error", reject);
    server.listen(port, host, () => {
      server.off("error", reject);
      resolve((server.address() as AddressInfo).port);
    });
  });
}

function closeServer(server: Server): Promise<void> {
  return new Promise((resolve) => {
    if (!server.listening) return resolve();
    server.close(() => resolve());
    server.closeAllConnections();
  });
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/**
 * The response's headers and its first `afterBytes`, then nothing more: the
 * connection stays open and silent (stall) or is reset (truncate). The
 * declared Content-Length stays, as a real origin dying mid-body would send it.
 */
function cutOff(response: Response, afterBytes: number, then: "stall" | "reset", socket: { destroy(): void }): Response {
  // A 304, 204 or HEAD answer has no body to cut: it goes out whole (a never-ending "body" there
  // would leave the connection stuck behind complete headers, a different fault).
  if (response.body === null || response.status === 304 || response.status === 204) return response;
  const source = response.body?.getReader();
  let sent = 0;
  const body = new ReadableStream<Uint8Array>({
    async pull(controller) {
      const next = source ? await source.read() : { done: true as const, value: undefined };
      if (!next.done && sent + next.value.byteLength <= afterBytes) {
        sent += next.value.byteLength;
        return controller.enqueue(next.value);
      }
      if (!next.done && sent < afterBytes) controller.enqueue(next.value.subarray(0, afterBytes - sent));
      sent = afterBytes;
      void source?.cancel();
      if (then === "reset") setTimeout(() => socket.destroy(), 20);
      // stall: never enqueue again, never close
      await new Promise(() => undefined);
    },
  });
  return new Response(body, { status: response.status, headers: response.headers });
}

/** The fault switch's position, and since when. */
interface FaultState {
  fault: Fault;
  since: number;
}

/** The content listener: each request meets the fault switch before the app. */
function faultedListener(app: Hono, state: FaultState, id: string) {
  return getRequestListener(async (request: Request, env: HttpBindings | Http2Bindings) => {
    const fate = requestFate(state.fault);
    if (fate.kind === "reset") {
      env.incoming.socket.destroy();
      return new Response(null, { status: 500 });
    }
    if (fate.kind === "cloudflare") {
      // As Cloudflare's front answers: its server name, a ray id, a short HTML page; no origin fields.
      return new Response(`<!DOCTYPE html><title>error code: ${fate.status}</title>error code: ${fate.status}\n`, {
        status: fate.status,
        headers: {
          "content-type": "text/html; charset=UTF-8",
          server: "cloudflare",
          "cf-ray": `${crypto.randomUUID().replace(/-/g, "").slice(0, 16)}-TST`,
          "cache-control": "private, max-age=0, no-store, no-cache, must-revalidate",
        },
      });
    }
    if (fate.kind === "error") {
      return new Response(`${JSON.stringify({ error: "injected fault", status: fate.status })}\n`, {
        status: fate.status,
        headers: { "content-type": "application/json", "x-origin-id": id, "cache-control": "no-store" },
      });
    }
    // /early-hints answers 103 first, as origins that preload do.
    if (new URL(request.url).pathname === "/early-hints") (env as HttpBindings).outgoing.writeEarlyHints({ link: "</styles/site.css>; rel=preload; as=style" });
    if (fate.kind === "cut") return cutOff(await app.fetch(request, env), fate.afterBytes, fate.then, env.incoming.socket);
    if (fate.delayMs > 0) await sleep(fate.delayMs);
    return app.fetch(request, env);
  });
}

/** Answers no fetch Response can carry, written raw; true when the request was one of them. */
function brokenAnswer(incoming: IncomingMessage, outgoing: ServerResponse, stats: OriginStats, id: string): boolean {
  // A status outside HTTP's 1xx-5xx, as a broken origin sends it.
  if (incoming.url?.startsWith("/invalid-status")) {
    countRequest(stats, "/invalid-status");
    outgoing.writeHead(999, "Not An HTTP Status", { "content-type": "text/plain", "cache-control": "max-age=60", "x-origin-id": id });
    outgoing.end("not http\n");
    return true;
  }
  // A Content-Length shorter than the body, as a broken origin sends it: the bytes past it stay on
  // the connection and are read as the next response there (a pooled connection is poisoned).
  if (incoming.url?.startsWith("/overlong")) {
    countRequest(stats, "/overlong");
    outgoing.writeHead(200, { "content-type": "text/plain", "content-length": "10", "cache-control": "no-store", "x-origin-id": id });
    outgoing.end("0123456789" + "-not-part-of-the-body-\n");
    return true;
  }
  return false;
}

/** The admin port: the fault switch (applied by `apply`) and request counts. */
function createAdminApp(id: string, stats: OriginStats, state: FaultState, apply: () => Promise<void>, listeningNow: () => boolean): Hono {
  const admin = new Hono();
  admin.get("/fault", (c) => c.json({ ...state.fault, since: state.since, listening: listeningNow() }));
  admin.post("/fault", async (c) => {
    let body: unknown;
    try {
      body = await c.req.json();
    } catch {
      return c.json({ error: 'body must be JSON, e.g. {"mode":"down"}' }, 400);
    }
    const parsed = FaultSchema.safeParse(body);
    if (!parsed.success) return c.json({ error: "invalid fault", problems: fieldProblems(parsed.error, "(body)") }, 400);
    state.fault = parsed.data;
    state.since = Date.now();
    await apply();
    return c.json({ ...state.fault, since: state.since, listening: listeningNow() });
  });
  admin.get("/stats", (c) => c.json({ id, ...stats }));
  admin.post("/stats/reset", (c) => {
    stats.requests = 0;
    stats.byPath = {};
    stats.rangesByPath = {};
    return c.json({ id, ...stats });
  });
  return admin;
}

export async function startOrigin(options: OriginOptions): Promise<RunningOrigin> {
  const host = options.host ?? "127.0.0.1";
  const stats: OriginStats = { requests: 0, byPath: {}, rangesByPath: {} };
  const state: FaultState = { fault: NO_FAULT, since: Date.now() };
  const listener = faultedListener(createOriginApp(options, stats), state, options.id);
  const content = createServer((incoming: IncomingMessage, outgoing: ServerResponse) => {
    if (!brokenAnswer(incoming, outgoing, stats, options.id)) void listener(incoming, outgoing);
  });
  content.keepAliveTimeout = 5000;
  const port = await listen(content, options.port ?? 0, host);

  // Keeps the listener's state in line with the fault: down closes it, ok (or a flap's up phase) reopens it.
  let transition = Promise.resolve();
  const applyListening = () => {
    transition = transition.then(async () => {
      const want = listening(state.fault, state.since, Date.now());
      if (want && !content.listening) await listen(content, port, host).catch(() => undefined);
      else if (!want && content.listening) await closeServer(content);
    });
    return transition;
  };
  const flapTimer = setInterval(() => {
    if (state.fault.mode === "flap") void applyListening();
  }, 50);
  flapTimer.unref();

  const admin = createAdminApp(options.id, stats, state, applyListening, () => content.listening);
  const adminServer = createAdaptorServer({ fetch: admin.fetch }) as Server;
  const adminPort = await listen(adminServer, options.adminPort ?? 0, host);

  return {
    id: options.id,
    port,
    adminPort,
    async close() {
      clearInterval(flapTimer);
      await Promise.all([closeServer(content), closeServer(adminServer)]);
    },
  };
}
