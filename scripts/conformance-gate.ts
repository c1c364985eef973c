/**
 * What `npm run conformance` counts and what fails it: the suite's result
 * kinds (as its own results.mjs, behind cache-tests.fyi, has them) and the
 * required tests Outpost is documented not to pass (README, "Conformance").
 */

/** A test's result as the suite's runner records it: true, or [kind, message]. */
export type SuiteResult = true | [string, string];

/**
 * The required tests of the suite's current version that Outpost does not pass, and why: each a
 * limit of the platform or a policy (README, "Conformance"). Any other required failure is a bug.
 */
const REQUIRED_LIMITS: Record<string, string> = {
  "headers-omit-headers-listed-in-Connection": "workerd strips Connection before the worker sees the response, so the fields it names cannot be told apart",
  "headers-store-Transfer-Encoding": "workerd refuses a response with an unknown transfer coding (the suite sends one); the POP answers 502",
  "invalidate-M-SEARCH": "workerd answers the unknown M-SEARCH method with 501 itself; the worker never sees it",
  "interim-not-cached": "a Worker cannot send a 1xx to its client (the final response behind it is stored and reused)",
  "headers-store-Set-Cookie": "policy: a response that sets a cookie is never stored or shared",
};

/**
 * A test's result may be a retry (↻ on cache-tests.fyi, its own kind there, neither pass nor
 * fail): the suite's server saw one request twice. The suite's own Content-Length test leaves
 * bytes past its declared length on a pooled connection; the next GET on that connection reaches
 * the server, then reads them as its answer, and is rightly sent once more (RFC 9110 §9.2.2). One
 * connection can be poisoned at each tier (POP and shard), so at most this many retries are
 * allowed; more would mean requests sent twice for a reason of ours.
 */
export const MAX_RETRIES = 2;

/** The result class a test gets, as the suite's own results.mjs (cache-tests.fyi) counts them. */
export function classify(result: SuiteResult | undefined): "pass" | "fail" | "setup" | "retry" | "harness" {
  if (result === undefined) return "harness";
  if (result === true) return "pass";
  if (result[0] === "Setup") return result[1] === "retry" ? "retry" : "setup";
  if (result[0] !== "Assertion") return "harness";
  return "fail";
}

/** A test that did not pass, as the run lists it. */
export interface SuiteFailure {
  id: string;
  kind: string;
  /** "Kind: message", e.g. "Setup: retry". */
  result: string;
}

/** The tests whose result was a retry (the suite's server saw one request twice). */
export function retriesOf<F extends SuiteFailure>(failures: readonly F[]): F[] {
  return failures.filter((f) => f.result === "Setup: retry");
}

/**
 * The failures that fail the run: a required test beyond REQUIRED_LIMITS
 * that is not a retry, and every retry once there are more than MAX_RETRIES.
 */
export function unexpectedFailures<F extends SuiteFailure>(failures: readonly F[]): F[] {
  const retries = retriesOf(failures);
  const beyondLimits = failures.filter((f) => f.kind === "required" && !(f.id in REQUIRED_LIMITS) && !retries.includes(f));
  return [...beyondLimits, ...(retries.length > MAX_RETRIES ? retries : [])];
}
