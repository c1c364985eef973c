import { describe, expect, it } from "vitest";
import { finalResponseAfterInterim } from "../../edge/routing/interim";

/** What workerd's fetch hands back after a 1xx: the rest of the HTTP/1.1 stream, in arbitrary pieces. */
function interimWith(rest: string, pieceSize = 7): Response {
  const bytes = new TextEncoder().encode(rest);
  let offset = 0;
  const body = new ReadableStream<Uint8Array>({
    pull(controller) {
      if (offset >= bytes.byteLength) return controller.close();
      controller.enqueue(bytes.slice(offset, (offset += pieceSize)));
    },
  });
  return new Response(body, { status: 200 });
}

describe("interim responses", () => {
  it("recovers a chunked final response after a 103, whatever the pieces", async () => {
    for (const piece of [1, 3, 7, 64]) {
      const r = await finalResponseAfterInterim(
        interimWith("HTTP/1.1 200 OK\r\ncache-control: max-age=60\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n6\r\n world\r\n0\r\n\r\n", piece),
      );
      expect(r.status).toBe(200);
      expect(r.headers.get("cache-control")).toBe("max-age=60");
      expect(r.headers.get("transfer-encoding")).toBeNull();
      expect(await r.text()).toBe("hello world");
    }
  });
  it("skips further interim responses and honours Content-Length", async () => {
    const r = await finalResponseAfterInterim(interimWith("HTTP/1.1 103 Early Hints\r\nlink: </a.css>\r\n\r\nHTTP/1.1 404 Not Found\r\ncontent-length: 4\r\n\r\nnopeEXTRA"));
    expect(r.status).toBe(404);
    expect(r.headers.get("link")).toBeNull();
    expect(await r.text()).toBe("nope");
  });
  it("refuses what is not HTTP", async () => {
    await expect(finalResponseAfterInterim(interimWith("garbage\r\n\r\n"))).rejects.toThrow(/status line/);
  });
});
