/** Errors Outpost itself answers with: a status, and a short JSON body saying what was wrong. */
export function errorResponse(status: number, error: string, extra: Record<string, unknown> = {}): Response {
  return new Response(`${JSON.stringify({ error, status, ...extra })}\n`, {
    status,
    headers: { "content-type": "application/json; charset=utf-8", "cache-control": "no-store" },
  });
}
