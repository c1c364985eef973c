/**
 * `npm run purge -- --tag product-42` (also --url, --prefix, --host,
 * --everything, --soft; each list option may repeat). The control URL and
 * token come from OUTPOST_CONTROL_URL / OUTPOST_TOKEN, or else from
 * .outpost/topology.json. Prints what happened; exits non-zero on failure.
 */
import { existsSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { parseArgs } from "node:util";
import { ROOT } from "./network";

interface PurgeAnswer {
  success?: boolean;
  result?: { id: string; seq: number; targets: number; soft: boolean };
  errors?: { field: string; message: string }[];
  error?: string;
}

async function main(): Promise<number> {
  const { values } = parseArgs({
    options: {
      url: { type: "string", multiple: true },
      tag: { type: "string", multiple: true },
      prefix: { type: "string", multiple: true },
      host: { type: "string", multiple: true },
      everything: { type: "boolean", default: false },
      soft: { type: "boolean", default: false },
      wait: { type: "boolean", default: false },
      control: { type: "string" },
      token: { type: "string" },
    },
  });
  const topologyPath = join(ROOT, ".outpost", "topology.json");
  const topology = existsSync(topologyPath) ? (JSON.parse(readFileSync(topologyPath, "utf8")) as { control: { url: string; token: string } }) : undefined;
  const controlUrl = values.control ?? process.env.OUTPOST_CONTROL_URL ?? topology?.control.url;
  const token = values.token ?? process.env.OUTPOST_TOKEN ?? topology?.control.token;
  if (!controlUrl || !token) {
    console.error("purge: no control URL or token: start the network (npm start), or set OUTPOST_CONTROL_URL and OUTPOST_TOKEN");
    return 2;
  }
  const body: Record<string, unknown> = {};
  if (values.url?.length) body.files = values.url;
  if (values.tag?.length) body.tags = values.tag;
  if (values.prefix?.length) body.prefixes = values.prefix;
  if (values.host?.length) body.hosts = values.host;
  if (values.everything) body.purge_everything = true;
  if (values.soft) body.soft = true;
  if (Object.keys(body).filter((k) => k !== "soft").length === 0) {
    console.error("purge: say what to purge: --url URL, --tag TAG, --prefix HOST/PATH, --host HOST or --everything (add --soft to mark stale)");
    return 2;
  }
  let response: Response;
  try {
    response = await fetch(`${controlUrl.replace(/\/+$/, "")}/v1/purge`, {
      method: "POST",
      headers: { authorization: `Bearer ${token}`, "content-type": "application/json" },
      body: JSON.stringify(body),
      signal: AbortSignal.timeout(10_000),
    });
  } catch (err) {
    console.error(`purge: control plane at ${controlUrl} unreachable: ${(err as Error).message}`);
    return 1;
  }
  const answer = (await response.json().catch(() => ({}))) as PurgeAnswer;
  if (!response.ok || !answer.success || !answer.result) {
    console.error(`purge: failed (${response.status}): ${answer.error ?? "error"}`);
    for (const e of answer.errors ?? []) console.error(`  ${e.field}: ${e.message}`);
    return 1;
  }
  const r = answer.result;
  console.log(`purge ${r.id}: seq ${r.seq}, ${r.targets} target(s)${r.soft ? ", soft" : ""}`);
  if (values.wait) {
    const deadline = Date.now() + 10_000;
    for (;;) {
      const status = (await (await fetch(`${controlUrl}/v1/purge/${r.id}`, { headers: { authorization: `Bearer ${token}` } })).json()) as { pops: { name: string; applied: boolean; idle: boolean }[] };
      // An idle POP syncs before it answers its next request, so it cannot serve what was purged.
      const pending = status.pops.filter((p) => !p.applied && !p.idle).map((p) => p.name);
      if (pending.length === 0) {
        const idle = status.pops.filter((p) => p.idle).map((p) => p.name);
        console.log(`applied at every POP: ${status.pops.filter((p) => p.applied).map((p) => p.name).join(", ") || "none"}${idle.length ? `; idle (apply before their next request): ${idle.join(", ")}` : ""}`);
        break;
      }
      if (Date.now() > deadline) {
        console.error(`not yet applied at: ${pending.join(", ")}`);
        return 1;
      }
      await new Promise((res) => setTimeout(res, 100));
    }
  }
  return 0;
}

main().then(
  (code) => process.exit(code),
  (err) => {
    console.error(`purge: ${(err as Error).message}`);
    process.exit(1);
  },
);
