/**
 * `npm run purge -- --tag product-42` (also --url, --prefix, --host,
 * --everything, --soft; each list option may repeat). The control URL and
 * token come from --control / --token, OUTPOST_CONTROL_URL / OUTPOST_TOKEN,
 * or else from .outpost/topology.json. --wait waits until every POP with
 * traffic has the purge and says where it stands at each; --json prints one
 * JSON object instead of sentences. Exits non-zero on failure.
 */
import { existsSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { parseArgs } from "node:util";
import { ControlClient, type ControlAnswer } from "./control-client";
import { ROOT } from "./network";
import { describeReach, purgeReach, type PurgeStatusAnswer } from "./purge-reach";

interface PurgeAnswer {
  success?: boolean;
  result?: { id: string; seq: number; targets: number; soft: boolean; at: string };
  errors?: { field: string; message: string }[];
  error?: string;
}

function controlFromTopology(): { url: string; token: string; pops: string[] } | undefined {
  const path = join(ROOT, ".outpost", "topology.json");
  if (!existsSync(path)) return undefined;
  const topology = JSON.parse(readFileSync(path, "utf8")) as { control: { url: string; token: string }; pops?: { name: string }[]; shields?: { name: string }[] };
  return { ...topology.control, pops: [...(topology.pops ?? []), ...(topology.shields ?? [])].map((p) => p.name) };
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
      json: { type: "boolean", default: false },
      control: { type: "string" },
      token: { type: "string" },
    },
  });
  const topology = controlFromTopology();
  const controlUrl = values.control ?? process.env.OUTPOST_CONTROL_URL ?? topology?.url;
  const token = values.token ?? process.env.OUTPOST_TOKEN ?? topology?.token;
  // The topology's POP list is only this network's: with another control plane, only what it knows counts.
  const topologyPops = topology && (values.control ?? process.env.OUTPOST_CONTROL_URL ?? topology.url) === topology.url ? topology.pops : [];
  const fail = (message: string, extra: Record<string, unknown> = {}, code = 1) => {
    if (values.json) console.log(JSON.stringify({ ok: false, error: message, ...extra }));
    else console.error(`purge: ${message}`);
    return code;
  };
  if (!controlUrl || !token) return fail("no control URL or token: start the network (npm start), or set OUTPOST_CONTROL_URL and OUTPOST_TOKEN", {}, 2);
  const body: Record<string, unknown> = {};
  if (values.url?.length) body.files = values.url;
  if (values.tag?.length) body.tags = values.tag;
  if (values.prefix?.length) body.prefixes = values.prefix;
  if (values.host?.length) body.hosts = values.host;
  if (values.everything) body.purge_everything = true;
  if (values.soft) body.soft = true;
  if (Object.keys(body).filter((k) => k !== "soft").length === 0) {
    return fail("say what to purge: --url URL, --tag TAG, --prefix HOST/PATH, --host HOST or --everything (add --soft to mark stale)", {}, 2);
  }

  const client = new ControlClient({ baseUrl: controlUrl, token });
  try {
    let answer: ControlAnswer<PurgeAnswer>;
    try {
      answer = await client.call<PurgeAnswer>("POST", "/v1/purge", body);
    } catch (err) {
      return fail(`control plane at ${controlUrl} unreachable: ${(err as Error).message}`);
    }
    const purge = answer.body;
    if (answer.status !== 200 || !purge?.success || !purge.result) {
      if (!values.json) for (const e of purge?.errors ?? []) console.error(`  ${e.field}: ${e.message}`);
      return fail(`refused (${answer.status}): ${purge?.error ?? "error"}`, { status: answer.status, errors: purge?.errors ?? [] });
    }
    const r = purge.result;
    if (!values.json) console.log(`purge ${r.id}: seq ${r.seq}, ${r.targets} target(s)${r.soft ? ", soft" : ""}`);
    if (!values.wait) {
      if (values.json) console.log(JSON.stringify({ ok: true, ...r }));
      return 0;
    }
    const started = Date.now();
    const deadline = started + 10_000;
    for (;;) {
      const status = await client.call<PurgeStatusAnswer>("GET", `/v1/purge/${r.id}`);
      if (status.status !== 200 || !status.body) return fail(`cannot read the purge's status (${status.status})`, { id: r.id });
      const reach = purgeReach(status.body, topologyPops);
      const waitedMs = Date.now() - started;
      if (reach.pending.length === 0 || Date.now() > deadline) {
        const done = reach.pending.length === 0;
        if (values.json) console.log(JSON.stringify({ ok: done, ...r, waitedMs, reach }));
        else for (const line of describeReach(reach, waitedMs)) (done ? console.log : console.error)(line);
        return done ? 0 : 1;
      }
      await new Promise((resolve) => setTimeout(resolve, 50));
    }
  } finally {
    await client.close();
  }
}

main().then(
  (code) => process.exit(code),
  (err) => {
    console.error(`purge: ${(err as Error).message}`);
    process.exit(1);
  },
);
