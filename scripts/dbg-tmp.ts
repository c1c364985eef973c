import { startTestNetwork } from "../test/e2e/helpers";
import { runLoad } from "./load";
const network = await startTestNetwork({ snapshotRefreshMs: 100 });
const fra = network.topology.pops[1].url;
const r = await runLoad({ url: `${fra}/gen/16384?ttl=86400&u=[<id>]`, connections: 16, durationSeconds: 3, idReplacement: true });
console.log("load", JSON.stringify(r).slice(0, 200));
await network.stop();
