/**
 * Interim (1xx) answers from an origin. workerd's fetch (1.20260426) returns
 * the first 1xx it reads (a 103 Early Hints, a 102 Processing) as if it were
 * the response, with the rest of the HTTP/1.1 stream (the final status line,
 * its fields, its framed body) as that response's body. Here the final
 * response is recovered from that stream, so an interim answer never breaks
 * a fill and is never stored. Pure web streams: Node tests run it as is.
 */

const CRLF_CRLF = [13, 10, 13, 10];
const MAX_HEAD_BYTES = 64 * 1024;

function indexOfHeadEnd(bytes: Uint8Array): number {
  outer: for (let i = 0; i + 3 < bytes.byteLength; i++) {
    for (let j = 0; j < 4; j++) if (bytes[i + j] !== CRLF_CRLF[j]) continue outer;
    return i;
  }
  return -1;
}

function concat(a: Uint8Array<ArrayBufferLike>, b: Uint8Array<ArrayBufferLike>): Uint8Array<ArrayBufferLike> {
  const out = new Uint8Array(a.byteLength + b.byteLength);
  out.set(a);
  out.set(b, a.byteLength);
  return out;
}

/** Decodes HTTP/1.1 chunked framing (RFC 9112 §7.1), trailers dropped. */
function dechunk(): TransformStream<Uint8Array, Uint8Array> {
  let buffer: Uint8Array<ArrayBufferLike> = new Uint8Array(0);
  let state: "size" | "data" | "data-end" | "done" = "size";
  let remaining = 0;
  return new TransformStream({
    transform(chunk, controller) {
      buffer = concat(buffer, chunk);
      for (;;) {
        if (state === "done") return;
        if (state === "size") {
          const eol = buffer.indexOf(10);
          if (eol === -1) return;
          const line = new TextDecoder().decode(buffer.subarray(0, eol)).trim();
          buffer = buffer.subarray(eol + 1);
          remaining = parseInt(line.split(";")[0], 16);
          if (!Number.isFinite(remaining) || remaining < 0) throw new Error(`bad chunk size "${line.slice(0, 20)}"`);
          state = remaining === 0 ? "done" : "data";
        } else if (state === "data") {
          if (buffer.byteLength === 0) return;
          const take = Math.min(remaining, buffer.byteLength);
          controller.enqueue(buffer.slice(0, take));
          buffer = buffer.subarray(take);
          remaining -= take;
          if (remaining === 0) state = "data-end";
        } else {
          // The CRLF after a chunk's data.
          if (buffer.byteLength < 2) return;
          buffer = buffer.subarray(2);
          state = "size";
        }
      }
    },
  });
}

/** Passes exactly `length` bytes, then ends (the connection may carry more). */
function limitTo(length: number): TransformStream<Uint8Array, Uint8Array> {
  let left = length;
  return new TransformStream({
    transform(chunk, controller) {
      if (left <= 0) return;
      const part = chunk.byteLength > left ? chunk.subarray(0, left) : chunk;
      left -= part.byteLength;
      controller.enqueue(part);
      if (left === 0) controller.terminate();
    },
  });
}

/**
 * The final response behind an interim one, read from the interim response's
 * body; further interim responses are skipped. Throws when the stream is not
 * an HTTP/1.1 response.
 */
export async function finalResponseAfterInterim(interim: Response): Promise<Response> {
  if (!interim.body) throw new Error(`interim ${interim.status} with nothing after it`);
  const reader = interim.body.getReader();
  let head: Uint8Array<ArrayBufferLike> = new Uint8Array(0);
  for (;;) {
    let end = indexOfHeadEnd(head);
    while (end === -1) {
      const { done, value } = await reader.read();
      if (done) throw new Error("the origin's stream ended before a final response");
      head = concat(head, value);
      if (head.byteLength > MAX_HEAD_BYTES) throw new Error("final response head too large");
      end = indexOfHeadEnd(head);
    }
    const lines = new TextDecoder().decode(head.subarray(0, end)).split("\r\n");
    const rest = head.subarray(end + 4);
    const status = /^HTTP\/1\.[01] (\d{3})/.exec(lines[0] ?? "");
    if (!status) throw new Error(`not an HTTP/1.1 status line: "${(lines[0] ?? "").slice(0, 40)}"`);
    const code = Number(status[1]);
    if (code < 200) {
      head = rest; // another interim response
      continue;
    }
    const headers = new Headers();
    for (const line of lines.slice(1)) {
      const colon = line.indexOf(":");
      if (colon > 0) headers.append(line.slice(0, colon).trim(), line.slice(colon + 1).trim());
    }
    const raw = new ReadableStream<Uint8Array>({
      start(controller) {
        if (rest.byteLength > 0) controller.enqueue(rest);
      },
      async pull(controller) {
        const { done, value } = await reader.read();
        if (done) controller.close();
        else controller.enqueue(value);
      },
      cancel: (reason) => reader.cancel(reason),
    });
    const chunked = /\bchunked\b/i.test(headers.get("transfer-encoding") ?? "");
    const length = Number(headers.get("content-length") ?? NaN);
    const body = chunked ? raw.pipeThrough(dechunk()) : Number.isInteger(length) ? raw.pipeThrough(limitTo(length)) : raw;
    headers.delete("transfer-encoding");
    headers.delete("connection");
    headers.delete("keep-alive");
    const noBody = code === 204 || code === 304 || length === 0;
    return new Response(noBody ? null : body, { status: code, headers });
  }
}
