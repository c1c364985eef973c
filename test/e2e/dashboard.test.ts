/**
 * The live dashboard in a real browser: headless Chromium (Debian's
 * `chromium` package) driven by puppeteer-core, against the local network.
 * Without a Chromium on the machine these tests skip and say so.
 */
import puppeteer, { type Browser, type Page } from "puppeteer-core";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { Network } from "../../scripts/network";
import { findChromium, setFault, startTestNetwork, unique, waitFor } from "./helpers";

const chromium = findChromium();
if (!chromium) console.warn("dashboard browser tests skipped: no Chromium found (apt-get install chromium, or set CHROMIUM_PATH)");

describe.skipIf(!chromium)("dashboard in headless Chromium", () => {
  let network: Network;
  let browser: Browser;
  let page: Page;
  const consoleErrors: string[] = [];
  const requestedUrls: string[] = [];

  beforeAll(async () => {
    network = await startTestNetwork({ metricsReportMs: 500 });
    browser = await puppeteer.launch({ executablePath: chromium, headless: true, args: ["--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage"] });
    page = await browser.newPage();
    page.on("console", (message) => {
      if (message.type() === "error") consoleErrors.push(message.text());
    });
    page.on("pageerror", (error) => consoleErrors.push(String(error)));
    page.on("request", (request) => requestedUrls.push(request.url()));
    await page.setViewport({ width: 1400, height: 1000 });
  }, 120_000);

  afterAll(async () => {
    await browser?.close();
    await network?.stop();
  });

  const control = () => network.topology.control;
  /** Evaluates `expression` in the page (it runs there, not here) until it is truthy. */
  const waitInPage = <T>(what: string, expression: string, timeoutMs = 15_000) => waitFor(what, async () => ((await page.evaluate(expression)) as T) || undefined, timeoutMs);

  it("asks for a token, and refuses one that is not valid, without showing data", async () => {
    await page.goto(`${control().url}/dashboard`);
    await page.waitForSelector("#signin:not([hidden])");
    await page.type("#token", "opk_not-a-real-token-at-all");
    await page.click("#signin button");
    await waitInPage("the refusal", `document.querySelector("#signin-error").textContent.includes("not accepted")`);
    expect(await page.evaluate(`document.querySelector("#board").hidden`)).toBe(true);
  });

  it("loads from a #token link with no console errors, and forgets the fragment", async () => {
    await page.evaluate(`sessionStorage.clear()`);
    requestedUrls.length = 0;
    consoleErrors.length = 0;
    await page.goto(`${control().url}/dashboard#token=${control().token}`);
    await page.waitForSelector("#board:not([hidden])", { timeout: 10_000 });
    expect(new URL(page.url()).hash).toBe("");
    // The token travels only as a header: never in a URL the browser requests.
    expect(requestedUrls.some((u) => u.includes(control().token))).toBe(false);
    expect(await page.evaluate(`sessionStorage.getItem("outpost-dashboard-token")`)).toBe(control().token);
    expect(consoleErrors).toEqual([]);
  });

  it("shows every POP and origin of the topology, on the map and in the tables", async () => {
    // A POP appears once it has synced: one request each.
    for (const pop of network.topology.pops) await (await fetch(`${pop.url}/index.html`)).arrayBuffer();
    for (const pop of network.topology.pops) {
      await page.waitForSelector(`#map circle[data-pop="${pop.name}"]`, { timeout: 15_000 });
      await page.waitForSelector(`#pops tr[data-pop="${pop.name}"]`);
    }
    for (const origin of network.topology.origins) {
      await page.waitForSelector(`#map rect[data-origin="${origin.id}"][data-healthy="true"]`);
      await page.waitForSelector(`#origins tr[data-origin="${origin.id}"]`);
    }
  });

  it("moves a POP's hit ratio after traffic", async () => {
    const pop = network.topology.pops.find((p) => p.colo === "FRA")!;
    const path = unique("/api/products.json");
    for (let i = 0; i < 20; i++) await (await fetch(`${pop.url}${path}`)).arrayBuffer();
    // Twenty requests for one object: one miss, nineteen hits.
    await waitInPage("FRA's hit ratio to move above one half", `Number(document.querySelector('#pops tr[data-pop="Outpost-FRA"]').getAttribute("data-hit-ratio") || 0) > 0.5`);
  });

  it("turns an origin unhealthy on the map when its fault switch says down, and back", async () => {
    const origin = network.topology.origins.find((o) => o.id === "eu-central")!;
    await setFault(origin.admin, { mode: "down" });
    try {
      await page.waitForSelector('#map rect[data-origin="eu-central"][data-healthy="false"]', { timeout: 20_000 });
      await page.waitForSelector('#origins tr[data-origin="eu-central"][data-healthy="false"]');
      await page.waitForSelector('#events li[data-event="origin-down"][data-event-origin="eu-central"]');
    } finally {
      await setFault(origin.admin, { mode: "ok" });
    }
    await page.waitForSelector('#map rect[data-origin="eu-central"][data-healthy="true"]', { timeout: 20_000 });
  });

  it("lists a purge, with the time it took to reach every POP", async () => {
    const response = await fetch(`${control().url}/v1/purge`, {
      method: "POST",
      headers: { authorization: `Bearer ${control().token}`, "content-type": "application/json" },
      body: JSON.stringify({ files: ["http://127.0.0.1/index.html"] }),
    });
    const { result } = (await response.json()) as { result: { id: string } };
    // Busy POPs take it at once; the rest apply it before their next answer.
    for (const pop of network.topology.pops) await (await fetch(`${pop.url}/index.html`)).arrayBuffer();
    await page.waitForSelector(`#purges li[data-purge-id="${result.id}"]`, { timeout: 15_000 });
    const text = await waitInPage<string>(
      "the purge to reach every POP",
      `(() => { const t = document.querySelector('#purges li[data-purge-id="${result.id}"]').textContent; return t.includes("every POP in") && t; })()`,
    );
    expect(text).toMatch(/url https?:\/\/127\.0\.0\.1\/index\.html/);
    // Beside the heading: the purge sequence, the folded catch-ups served to isolates far behind, and the
    // syncs each regional relay holds.
    const log = await waitInPage<string>("the purge log line", `(() => { const t = document.querySelector("#purge-log").textContent; return t.includes("relay") && t; })()`);
    expect(log).toMatch(/^sequence [1-9]\d* · \d+ catch-ups? served.* · syncs held by relay: (\w+ \d+)(, \w+ \d+)*$/);
    expect(consoleErrors).toEqual([]);
  });
});
