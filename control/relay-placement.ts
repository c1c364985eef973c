/**
 * Which regional relay holds a POP's syncs: the one named after the Durable
 * Object location hint of the region nearest the POP's colo (its airport), so
 * an isolate's held sync travels within its region and only the relay's own
 * sync crosses to the global object. A POP name the table does not know goes
 * to eastern North America's (where the global object usually lives). Pure.
 */
import { coloPoint } from "../common/geo/colo";
import { HONOURED_LOCATION_HINTS, locationHint, nearestRegion } from "../common/shield/placement";

export type RelayName = (typeof HONOURED_LOCATION_HINTS)[number];

/** The relay for a POP named `Outpost-<colo>` (or a bare colo code). */
export function relayFor(pop: string): RelayName {
  const point = coloPoint(pop.replace(/^Outpost-/, ""));
  const hint = point ? locationHint(nearestRegion(point)) : undefined;
  return (HONOURED_LOCATION_HINTS as readonly string[]).includes(hint ?? "") ? (hint as RelayName) : "enam";
}
