/**
 * Which configuration an isolate runs. The OUTPOST_CONFIG variable only
 * bootstraps (Cloudflare holds a variable to 5 KB, far below a real
 * multi-site configuration): once an operator puts one to the control plane
 * (PUT /v1/config), every isolate runs that, fetched when its sync says the
 * control plane's configuration version changed. Per isolate, as all
 * isolate state is; a new isolate runs the variable until its first sync.
 */

/** The control plane's configuration, as this isolate last fetched it. */
let held: { version: number; text: string } | undefined;

/** The configuration's text this isolate runs now. */
export function configText(env: { OUTPOST_CONFIG: string }): string {
  return held?.text ?? env.OUTPOST_CONFIG;
}

/** The control plane's configuration version this isolate runs (0: the variable). */
export function heldConfigVersion(): number {
  return held?.version ?? 0;
}

/** Runs the control plane's configuration `version` (0: back to the variable, as a control plane without one says). */
export function holdConfig(version: number, text: string | undefined): void {
  held = version > 0 && text !== undefined ? { version, text } : undefined;
}
