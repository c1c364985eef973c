/**
 * Runs one reference origin: `tsx origin/main.ts --id us-east --region us-east --port 0 --admin-port 0`.
 * Prints one JSON line {"ready":true,"id","port","adminPort"} when listening,
 * so a launcher learns the ports it picked; stops on SIGINT/SIGTERM.
 */
import { parseArgs } from "node:util";
import { startOrigin } from "./server";

const { values } = parseArgs({
  options: {
    id: { type: "string", default: "origin" },
    region: { type: "string", default: "local" },
    host: { type: "string", default: "127.0.0.1" },
    port: { type: "string", default: "0" },
    "admin-port": { type: "string", default: "0" },
  },
});

const origin = await startOrigin({
  id: values.id!,
  region: values.region!,
  host: values.host,
  port: Number(values.port),
  adminPort: Number(values["admin-port"]),
});
process.stdout.write(`${JSON.stringify({ ready: true, id: origin.id, port: origin.port, adminPort: origin.adminPort })}\n`);

let stopping = false;
const stop = async () => {
  if (stopping) return;
  stopping = true;
  await origin.close();
  process.exit(0);
};
process.on("SIGINT", stop);
process.on("SIGTERM", stop);
// If the launcher dies, stdin closes: go with it rather than linger holding ports.
process.stdin.on("end", stop);
process.stdin.resume();
