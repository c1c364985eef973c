/**
 * Where a colo is. On Cloudflare, request.cf.latitude/longitude are the
 * client's, not the data centre's; the colo is named by the IATA code of an
 * airport near it (request.cf.colo). The POP's own place, which steering and
 * the dashboard need, is that airport's (airports.generated.ts); the client's
 * coordinates stand in only for a colo the table does not know.
 */
import { AIRPORT_POINTS } from "./airports.generated";
import { locationFromCf, type GeoPoint } from "./geo";

let airports: Map<string, GeoPoint> | undefined;

/** The airport table, parsed once per isolate on first use. */
function airportTable(): Map<string, GeoPoint> {
  if (airports) return airports;
  airports = new Map();
  for (const entry of AIRPORT_POINTS.split(";")) {
    const [latitude, longitude] = entry.slice(3).split(",").map(Number);
    airports.set(entry.slice(0, 3), { latitude, longitude });
  }
  return airports;
}

/** The place of the airport a colo is named after, or undefined for a code the table does not know. */
export function coloPoint(colo: string | undefined): GeoPoint | undefined {
  return colo && /^[A-Z]{3}$/.test(colo) ? airportTable().get(colo) : undefined;
}

/** Where this POP is: its colo's airport; else the coordinates the request carries (the client's on Cloudflare). */
export function popPlace(cf: { colo?: unknown; latitude?: unknown; longitude?: unknown } | undefined): GeoPoint | undefined {
  return coloPoint(typeof cf?.colo === "string" ? cf.colo : undefined) ?? locationFromCf(cf);
}
