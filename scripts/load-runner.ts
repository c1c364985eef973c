/**
 * The load generator's own process: autocannon driven through its API (its
 * CLI refuses URLs with the [<id>] placeholder). Reads LoadOptions as JSON in
 * argv[2], prints one JSON line of results.
 */
import autocannon from "autocannon";
import type { LoadOptions } from "./load";

const options = JSON.parse(process.argv[2]) as LoadOptions;
const result = await autocannon({
  url: options.url,
  connections: options.connections,
  duration: options.durationSeconds,
  headers: options.headers,
  idReplacement: options.idReplacement ?? false,
});
process.stdout.write(`${JSON.stringify(result)}\n`);
