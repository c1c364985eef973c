import { describe, expect, it } from "vitest";
import { medianHops, packetsOf, tripsOf } from "../../scripts/bench-miss-hops";

/** One packet as tcpdump -tt -n -A prints it: its header line, then its payload's rows. */
function packet(at: number, from: number, to: number, payload: string): string {
  return `${at.toFixed(6)} IP 127.0.0.1.${from} > 127.0.0.1.${to}: Flags [P.], seq 1:2, ack 1, win 64, length ${payload.length}\nE..4..@.@.........${payload}\n`;
}

// Ports: 8000 the POP, 8001 the shield, 9000 the origin; 5xxxx the clients' ends.
const listeners = new Map([
  [8000, "POP"],
  [8001, "shield"],
  [9000, "origin"],
  [8002, "relay"],
]);

const dump = [
  packet(1000.0, 50001, 8000, "GET /gen/10?ttl=600&miss=1 HTTP/1.1\r\nhost: x"),
  packet(1000.002, 50002, 8001, "GET /__shield/eu/0 HTTP/1.1\r\n"),
  packet(1000.003, 50003, 9000, "GET /gen/10?ttl=600&miss=1 HTTP/1.1\r\n"),
  packet(1000.004, 9000, 50003, "HTTP/1.1 200 OK\r\ncontent-length: 10"),
  packet(1000.0045, 9000, 50003, "0123456789"),
  packet(1000.006, 8001, 50002, "HTTP/1.1 200 OK\r\n"),
  packet(1000.007, 8001, 50002, "0123456789"),
  packet(1000.008, 8000, 50001, "HTTP/1.1 200 OK\r\n"),
  packet(1000.01, 8000, 50001, "0123456789"),
  // Asked after the POP's answer ended (a sync, say): not one of the trip's hops.
  packet(1000.015, 50005, 8002, "POST /v1/sync HTTP/1.1\r\n"),
  // The next trip begins: nothing after this is the first one's.
  packet(1000.02, 50004, 8000, "GET /gen/10?ttl=0&pass=2 HTTP/1.1\r\n"),
  packet(1000.021, 50002, 8001, "GET /__shield/eu/0 HTTP/1.1\r\n"),
  packet(1000.03, 8001, 50002, "HTTP/1.1 200 OK\r\n"),
].join("");

describe("the miss hops read off the wire", () => {
  it("times each hop of a trip after the POP got its request, and stops at the next trip", () => {
    const trips = tripsOf(packetsOf(dump), listeners, "POP", "ttl=600&miss=", ["POP"]);
    expect(trips).toHaveLength(1);
    const hop = (name: string) => {
      const h = trips[0][name];
      return h && { sentMs: Math.round(h.sentMs * 10) / 10, firstMs: Math.round((h.firstMs ?? -1) * 10) / 10, lastMs: Math.round((h.lastMs ?? -1) * 10) / 10 };
    };
    expect(hop("POP")).toEqual({ sentMs: 0, firstMs: 8, lastMs: 10 });
    expect(hop("shield")).toEqual({ sentMs: 2, firstMs: 6, lastMs: 7 });
    expect(hop("origin")).toEqual({ sentMs: 3, firstMs: 4, lastMs: 4.5 });
    expect(Object.keys(trips[0]).sort()).toEqual(["POP", "origin", "shield"]);
  });

  it("takes each hop's median over trips, in the order the hops were asked", () => {
    const trip = (shift: number) => ({ POP: { sentMs: 0, firstMs: 8 + shift, lastMs: 10 + shift }, origin: { sentMs: 3 + shift, firstMs: 4 + shift, lastMs: 5 + shift } });
    const hops = medianHops([trip(0), trip(2), trip(1)]);
    expect(hops.map(([name]) => name)).toEqual(["POP", "origin"]);
    expect(hops[1][1]).toEqual({ sentMs: 4, firstMs: 5, lastMs: 6 });
  });
});
