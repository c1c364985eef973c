import { join } from "node:path";
import { loadNetworkConfig } from "./network-config";
import { ROOT, startNetwork } from "./network";
(async () => {
  const config = loadNetworkConfig(join(ROOT, "outpost.config.json"));
  config.basePort = 0;
  const network = await startNetwork({ config, buildDir: join(ROOT, ".outpost", "tmp-build"), snapshotRefreshMs: 100, log: () => undefined });
  const t = network.topology;
  const auth = { authorization: `Bearer ${t.control.token}`, "content-type": "application/json" };
  const fra = t.pops[1].url;
  try {
    for (let round = 0; round < 3; round++) {
      const path = `/gen/300?ttl=600&r=${round}-${Date.now()}`;
      await (await fetch(`${fra}${path}`)).arrayBuffer();
      await (await fetch(`${fra}${path}`)).arrayBuffer();
      const r = await fetch(`${t.control.url}/v1/purge`, { method: "POST", headers: auth, body: JSON.stringify({ files: [`http://127.0.0.1${path}`] }) });
      await r.arrayBuffer();
      const t0 = Date.now();
      await network.restartControl(1500);
      const back = Date.now();
      for (let k = 0; k < 100; k++) {
        const res = await fetch(`${fra}${path}`);
        await res.arrayBuffer();
        const cs = res.headers.get("cache-status") ?? "";
        if (!cs.split(", ").at(-1)!.includes(";hit")) {
          console.log(round, "applied", Date.now() - back, "ms after return", back - t0);
          break;
        }
        await new Promise((res) => setTimeout(res, 100));
        if (k === 99) console.log(round, "NOT applied after 10 s");
      }
    }
  } finally {
    await network.stop();
  }
  process.exit(0);
})();
