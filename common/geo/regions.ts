/**
 * Named regions an origin may give instead of coordinates: each at a city
 * where the big clouds run a region.
 */
import type { GeoPoint } from "./geo";

export const REGIONS: Readonly<Record<string, GeoPoint>> = {
  "us-east": { latitude: 39.0438, longitude: -77.4874 }, // Ashburn
  "us-central": { latitude: 41.2619, longitude: -95.8608 }, // Council Bluffs
  "us-west": { latitude: 37.3382, longitude: -121.8863 }, // San Jose
  "ca-central": { latitude: 45.5019, longitude: -73.5674 }, // Montréal
  "sa-east": { latitude: -23.5505, longitude: -46.6333 }, // São Paulo
  "eu-west": { latitude: 51.5072, longitude: -0.1276 }, // London
  "eu-central": { latitude: 50.1109, longitude: 8.6821 }, // Frankfurt
  "eu-north": { latitude: 59.3293, longitude: 18.0686 }, // Stockholm
  "me-central": { latitude: 25.2048, longitude: 55.2708 }, // Dubai
  "af-south": { latitude: -26.2041, longitude: 28.0473 }, // Johannesburg
  "ap-south": { latitude: 19.076, longitude: 72.8777 }, // Mumbai
  "ap-southeast": { latitude: 1.3521, longitude: 103.8198 }, // Singapore
  "ap-northeast": { latitude: 35.6762, longitude: 139.6503 }, // Tokyo
  "ap-east": { latitude: 22.3193, longitude: 114.1694 }, // Hong Kong
  "oc-southeast": { latitude: -33.8688, longitude: 151.2093 }, // Sydney
};
