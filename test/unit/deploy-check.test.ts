import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { deployFindings, readDeployConfig } from "../../scripts/deploy-check";

const ROOT = join(__dirname, "..", "..");
const dir = mkdtempSync(join(tmpdir(), "outpost-deploy-"));
afterAll(() => rmSync(dir, { recursive: true, force: true }));
const shipped = readFileSync(join(ROOT, "wrangler.toml"), "utf8");

/** The shipped wrangler.toml with `edit` applied, read as wrangler reads it. */
function configWith(edit: (toml: string) => string) {
  const path = join(dir, `wrangler-${Math.random().toString(36).slice(2)}.toml`);
  writeFileSync(path, edit(shipped).replace('main = "worker.ts"', `main = "${join(ROOT, "worker.ts")}"`));
  return readDeployConfig(path);
}

const goodSecrets = { POP_TOKEN: "a".repeat(64), CONTROL_TOKENS: JSON.stringify([{ name: "ops", token: "b".repeat(32), scopes: ["admin"] }]) };

describe("npm run deploy:check", () => {
  it("passes the shipped wrangler.toml, warning what to replace before a real deploy", () => {
    const findings = deployFindings(readDeployConfig(join(ROOT, "wrangler.toml")), goodSecrets);
    expect(findings.errors).toEqual([]);
    expect(findings.warnings.join("\n")).toMatch(/no routes/);
    expect(findings.warnings.join("\n")).toMatch(/example\.com/);
  });

  it("names each problem of a broken configuration", () => {
    const broken = configWith((toml) =>
      toml
        .replace(/OUTPOST_CONFIG = '''[\s\S]*?'''/, `OUTPOST_CONFIG = '{"origins":[{"id":"o","url":"not a url"}],"sites":[]}'`)
        .replace('CONTROL_HOST = "control.internal"', 'CONTROL_HOST = "elsewhere.internal"')
        .replace('SNAPSHOT_LONG_POLL_MS = "20000"', 'SNAPSHOT_LONG_POLL_MS = "90000"')
        .replace(/\[\[durable_objects\.bindings\]\]\nname = "SHIELD"\nclass_name = "Shield"\n/, "")
        .replace('compatibility_date = "2026-04-26"', 'compatibility_date = "2024-01-01"'),
    );
    const errors = deployFindings(broken, { POP_TOKEN: "s3cr3t-v4lue", CONTROL_TOKENS: "[]" }).errors.join("\n");
    expect(errors).toMatch(/OUTPOST_CONFIG: origins\[0\]\.url/);
    expect(errors).toMatch(/OUTPOST_CONFIG: sites/);
    expect(errors).toMatch(/CONTROL_HOST "elsewhere.internal" is not in CONTROL_HOSTS/);
    expect(errors).toMatch(/SNAPSHOT_LONG_POLL_MS/);
    expect(errors).toMatch(/no Durable Object binding SHIELD/);
    expect(errors).toMatch(/compatibility_date 2024-01-01/);
    expect(errors).toMatch(/POP_TOKEN is missing or shorter/);
    expect(errors).not.toContain("s3cr3t-v4lue");
  });

  it("refuses a configuration past Cloudflare's 5 KB a variable", () => {
    const sites = Array.from({ length: 80 }, (_, i) => ({ id: `site-${i}`, hosts: [`www.site-number-${i}.example.org`], origins: ["o"] }));
    const big = JSON.stringify({ origins: [{ id: "o", url: "https://origin.example.org", region: "us-east" }], sites });
    const findings = deployFindings(
      configWith((toml) => toml.replace(/OUTPOST_CONFIG = '''[\s\S]*?'''/, `OUTPOST_CONFIG = '${big}'`)),
      goodSecrets,
    );
    expect(findings.errors.join("\n")).toMatch(/OUTPOST_CONFIG is \d+ bytes; Cloudflare takes at most 5120/);
  });
});
