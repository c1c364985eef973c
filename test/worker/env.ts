/** The bindings the worker tests run with, built from the origin global-setup started. */
export const ADMIN_TOKEN = "test-admin-token-0123456789abcdef";
export const READ_TOKEN = "test-read-token-0123456789abcdef";
export const POP_TOKEN = "test-pop-token-0123456789abcdef";
export const LIMITED_TOKEN = "test-limited-token-0123456789abcdef";

export function testBindings(originUrl: string): Record<string, string> {
  return {
    OUTPOST_CONFIG: JSON.stringify({
      origins: [
        { id: "local", url: originUrl, region: "local", latitude: 50.1, longitude: 8.7 },
        // Nothing listens on port 9: connections are refused.
        { id: "dead", url: "http://127.0.0.1:9", region: "nowhere", latitude: 0, longitude: 0 },
        // The same origin under another id, for tests that eject it.
        { id: "flaky", url: originUrl, region: "local", latitude: 50.1, longitude: 8.7 },
        { id: "unreachable", url: originUrl, region: "local", latitude: 50.1, longitude: 8.7 },
        // The same origin again, taking one request at a time from an isolate (circuit breaking).
        { id: "narrow", url: originUrl, region: "local", latitude: 50.1, longitude: 8.7, maxRequests: 1 },
      ],
      sites: [
        { id: "demo", hosts: ["cdn.test"], origins: ["local"] },
        { id: "down", hosts: ["down.test"], origins: ["dead"] },
        { id: "honor", hosts: ["honor.test"], origins: ["local"], honorRequestDirectives: true },
        { id: "flaky", hosts: ["flaky.test"], origins: ["flaky"] },
        { id: "unreachable", hosts: ["unreachable.test"], origins: ["unreachable"] },
        { id: "narrow", hosts: ["narrow.test"], origins: ["narrow"] },
        { id: "spill", hosts: ["spill.test"], origins: ["narrow", "local"], steering: "failover" },
      ],
      originFetch: { timeoutMs: 2000, retries: 1, uploadIdleTimeoutMs: 1000 },
      outlierDetection: { consecutiveFailures: 3, baseEjectionMs: 60_000, maxEjectionMs: 60_000 },
    }),
    OUTPOST_ROLE: "both",
    CONTROL_HOSTS: "control.internal,control.test",
    CONTROL_HOST: "control.internal",
    POP_NAME: "TST",
    POP_TOKEN,
    CONTROL_TOKENS: JSON.stringify([
      { name: "admin", token: ADMIN_TOKEN, scopes: ["admin"] },
      { name: "reader", token: READ_TOKEN, scopes: ["read"] },
      { name: "limited", token: LIMITED_TOKEN, scopes: ["read"] },
    ]),
    SNAPSHOT_REFRESH_MS: "200",
    CONTROL_RATE_LIMIT_PER_MINUTE: "120",
  };
}
