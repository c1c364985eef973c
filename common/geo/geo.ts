/** Great-circle distance on a spherical Earth (haversine), in kilometres. */
const EARTH_RADIUS_KM = 6371.0088;

export interface GeoPoint {
  latitude: number;
  longitude: number;
}

export function greatCircleKm(a: GeoPoint, b: GeoPoint): number {
  const rad = Math.PI / 180;
  const dLat = (b.latitude - a.latitude) * rad;
  const dLon = (b.longitude - a.longitude) * rad;
  const h = Math.sin(dLat / 2) ** 2 + Math.cos(a.latitude * rad) * Math.cos(b.latitude * rad) * Math.sin(dLon / 2) ** 2;
  return 2 * EARTH_RADIUS_KM * Math.asin(Math.min(1, Math.sqrt(h)));
}

/**
 * Where a request is, from request.cf (numbers arrive as strings there), or
 * undefined when the platform did not say.
 */
export function locationFromCf(cf: { latitude?: unknown; longitude?: unknown } | undefined): GeoPoint | undefined {
  if (!cf) return undefined;
  const latitude = Number(cf.latitude);
  const longitude = Number(cf.longitude);
  if (cf.latitude === undefined || cf.longitude === undefined) return undefined;
  if (!Number.isFinite(latitude) || !Number.isFinite(longitude)) return undefined;
  if (Math.abs(latitude) > 90 || Math.abs(longitude) > 180) return undefined;
  return { latitude, longitude };
}
