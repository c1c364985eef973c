/** Request method classes (RFC 9110 §9.2), shared by the pipeline and the origin fetch. */

/** Methods whose answers the cache looks up and stores. */
export const CACHEABLE_METHODS: ReadonlySet<string> = new Set(["GET", "HEAD"]);
/** Safe methods change nothing at the origin, so they never invalidate and may always be retried. */
export const SAFE_METHODS: ReadonlySet<string> = new Set(["GET", "HEAD", "OPTIONS", "TRACE"]);
/** Idempotent methods may be sent again after a failure (§9.2.2). */
export const IDEMPOTENT_METHODS: ReadonlySet<string> = new Set([...SAFE_METHODS, "PUT", "DELETE"]);
