/**
 * Where a cold miss's time goes, hop by hop, read off the wire: tcpdump on
 * loopback while the raw-workerd miss bench runs (bench-raw-workerd-miss.ts),
 * then, for each shielded miss, when each hop's request left and when its
 * answer's first and last bytes came back, after the POP got the request.
 * The same for bare pass-through workers on the same hops: their figures are
 * the launcher's floor. Timers inside workerd cannot tell this (its clock
 * stands still while JavaScript runs); the wire can. Needs tcpdump and the
 * right to capture on loopback (root, or CAP_NET_RAW): without them the
 * measurement says so and is skipped.
 */
import { type ChildProcess, spawn, spawnSync } from "node:child_process";
import { closeSync, openSync, readFileSync } from "node:fs";
import { measureRawWorkerdMisses } from "./bench-raw-workerd-miss";
import { median } from "./median";

/** One hop of a trip: its request's time, and its answer's first and last bytes (ms after the trip began). */
export interface Hop {
  sentMs: number;
  firstMs?: number;
  lastMs?: number;
}

/** A trip's hops by the name of the listener each went to, its first request to each. */
export type Trip = Record<string, Hop>;

/** A packet with a payload, as tcpdump -A printed it. */
interface Packet {
  at: number;
  from: number;
  to: number;
  /** The request line or status line it starts with, if any. */
  line?: string;
}

const HEADER = /^(\d+\.\d+) IP 127\.0\.0\.1\.(\d+) > 127\.0\.0\.1\.(\d+): .*length (\d+)/;
const START_LINE = /(GET|PUT|POST|HEAD|DELETE) (\S+) HTTP\/1\.1|HTTP\/1\.1 \d{3}[^\r\n.]*/;

/** The packets with a payload in tcpdump's `-tt -n -A` output, each with the HTTP start line it carries. */
export function packetsOf(dump: string): Packet[] {
  const packets: Packet[] = [];
  let current: Packet | undefined;
  let text = "";
  const close = () => {
    if (!current) return;
    const found = START_LINE.exec(text.slice(0, 600));
    if (found) current.line = found[0];
    packets.push(current);
  };
  for (const row of dump.split("\n")) {
    const header = HEADER.exec(row);
    if (!header) {
      if (current && text.length < 600) text += row;
      continue;
    }
    close();
    current = Number(header[4]) > 0 ? { at: Number(header[1]) * 1000, from: Number(header[2]), to: Number(header[3]) } : undefined;
    text = "";
  }
  close();
  return packets;
}

/**
 * The trips that began with a request to `entry` whose line contains `marker`: each hop by the
 * listener's name (`listeners`, port to name), up to the next request to any of `entries` (the
 * bench's trips run one after another).
 */
export function tripsOf(packets: Packet[], listeners: Map<number, string>, entry: string, marker: string, entries: string[]): Trip[] {
  const trips: Trip[] = [];
  let trip: Trip | undefined;
  let began = 0;
  /** Each connection's open hop (client port, server port), reset by each request on it. */
  const open = new Map<string, Hop>();
  for (const p of packets) {
    const server = listeners.get(p.to);
    const isRequest = server !== undefined && p.line !== undefined && !p.line.startsWith("HTTP/");
    if (isRequest && entries.includes(server)) {
      trip = server === entry && p.line?.includes(marker) ? {} : undefined;
      began = p.at;
      if (trip) trips.push(trip);
      open.clear();
    }
    if (!trip) continue;
    if (isRequest) {
      const hop: Hop = { sentMs: p.at - began };
      open.set(`${p.from}>${p.to}`, hop);
      trip[server] ??= hop;
      continue;
    }
    const answered = listeners.get(p.from) !== undefined ? open.get(`${p.to}>${p.from}`) : undefined;
    if (!answered) continue;
    answered.firstMs ??= p.at - began;
    answered.lastMs = p.at - began;
  }
  // A request after the trip's answer has ended (a sync, the next run's start) is not one of its hops.
  return trips.map((t) => Object.fromEntries(Object.entries(t).filter(([, hop]) => hop.sentMs <= (t[entry]?.lastMs ?? Infinity))));
}

/** Each hop's median request, first and last bytes over `trips`, by listener, in the order of their medians' requests. */
export function medianHops(trips: Trip[]): [string, Hop][] {
  const names = new Set(trips.flatMap((t) => Object.keys(t)));
  const medianOf = (xs: (number | undefined)[]) => {
    const known = xs.filter((x): x is number => x !== undefined);
    return known.length === 0 ? undefined : Math.round(median(known) * 100) / 100;
  };
  const hops: [string, Hop][] = [...names].map((name) => {
    const each = trips.map((t) => t[name]).filter((h): h is Hop => h !== undefined);
    return [name, { sentMs: medianOf(each.map((h) => h.sentMs)) ?? 0, firstMs: medianOf(each.map((h) => h.firstMs)), lastMs: medianOf(each.map((h) => h.lastMs)) }];
  });
  return hops.sort((a, b) => a[1].sentMs - b[1].sentMs);
}

/** A capture of loopback's TCP payloads into `file`, or why there can be none. */
export function captureLoopback(file: string): { listening: Promise<void>; stop(): Promise<void> } | { unavailable: string } {
  const found = spawnSync("tcpdump", ["--version"], { stdio: "ignore" });
  if (found.error || found.status !== 0) return { unavailable: "tcpdump is not installed (apt-get install tcpdump)" };
  const out = openSync(file, "w");
  // Packets with a payload only: the TCP header's own length taken from the IP packet's.
  const filter = "tcp and (((ip[2:2] - ((ip[0]&0xf)<<2)) - ((tcp[12]&0xf0)>>2)) != 0)";
  const child: ChildProcess = spawn("tcpdump", ["-i", "lo", "-tt", "-n", "-A", "-s", "600", "-U", filter], { stdio: ["ignore", out, "pipe"] });
  let stderr = "";
  const exited = new Promise<void>((resolve) => child.once("exit", () => resolve()));
  // Packets before tcpdump says it listens are not captured.
  const listening = new Promise<void>((resolve) => {
    child.stderr?.on("data", (chunk: Buffer) => {
      stderr += chunk.toString();
      if (stderr.includes("listening on")) resolve();
    });
    void exited.then(() => resolve());
  });
  return {
    listening: Promise.race([listening, new Promise<void>((r) => setTimeout(r, 3000))]),
    async stop() {
      child.kill("SIGINT");
      await Promise.race([exited, new Promise((r) => setTimeout(r, 2000))]);
      closeSync(out);
      if (child.exitCode !== 0 && child.exitCode !== null && readFileSync(file).byteLength === 0) throw new Error(`tcpdump failed: ${stderr.trim()}`);
    },
  };
}

/** What the hop timeline needs to run the raw-workerd miss bench. */
export interface MissHopsSetup {
  bundle: string;
  /** The origin the tiers and the direct trips use (its port names its hop). */
  originUrl: string;
  outpostConfig: unknown;
  cf: Record<string, unknown>;
  sizes: number[];
  rounds: number;
  /** Where the capture is written. */
  dumpFile: string;
}

/** Each size's median hops of a stored miss, a miss stored nowhere, and bare pass-through workers. */
export interface MissHops {
  bytes: number;
  stored: [string, Hop][];
  notStored: [string, Hop][];
  bare: [string, Hop][];
}

/** The listeners' names in the timeline, by the raw-workerd bench's ports. */
const HOP_NAMES: Record<string, string> = {
  pop: "POP",
  popCache: "POP's Cache API",
  control: "shield",
  controlCache: "shield's Cache API",
  barePop: "bare POP",
  bareShard: "bare shield",
};

export async function measureMissHops(setup: MissHopsSetup): Promise<MissHops[] | { unavailable: string }> {
  const capture = captureLoopback(setup.dumpFile);
  if ("unavailable" in capture) return capture;
  await capture.listening;
  const listeners = new Map<number, string>([[Number(new URL(setup.originUrl).port), "origin"]]);
  try {
    const onListening = (ports: Record<string, number>) => {
      for (const [key, port] of Object.entries(ports)) listeners.set(port, HOP_NAMES[key] ?? key);
    };
    await measureRawWorkerdMisses({ ...setup, onListening });
  } finally {
    await capture.stop();
  }
  const packets = packetsOf(readFileSync(setup.dumpFile, "utf8"));
  const entries = ["POP", "bare POP"];
  return setup.sizes.map((bytes) => ({
    bytes,
    stored: medianHops(tripsOf(packets, listeners, "POP", `/gen/${bytes}?ttl=600&miss=`, entries)),
    notStored: medianHops(tripsOf(packets, listeners, "POP", `/gen/${bytes}?ttl=0&pass=`, entries)),
    bare: medianHops(tripsOf(packets, listeners, "bare POP", `/gen/${bytes}?ttl=600&miss=`, entries)),
  }));
}

/** One line a hop: when its request left, when its answer's first and last bytes came. */
export function printMissHops(all: MissHops[]): void {
  console.log("\nwhere a cold miss's time goes (raw workerd, tcpdump on loopback): median ms after the POP got the request");
  for (const m of all) {
    for (const [label, hops] of [
      ["stored", m.stored],
      ["nothing stored", m.notStored],
      ["bare pass-through workers", m.bare],
    ] as const) {
      console.log(`  ${m.bytes} B, ${label}:`);
      for (const [name, hop] of hops) {
        const answered = hop.firstMs === undefined ? "no answer seen" : `first bytes ${hop.firstMs}, last ${hop.lastMs}`;
        console.log(`    ${name.padEnd(20)} asked at ${String(hop.sentMs).padStart(6)}   ${answered}`);
      }
    }
  }
}
