/** The control API described for tools (OpenAPI 3.1), served at /v1/openapi.json. */
const bearer = [{ bearer: [] }];
const error = { $ref: "#/components/schemas/Error" };
const errors = {
  "400": { description: "Invalid request; the body names each bad field", content: { "application/json": { schema: error } } },
  "401": { description: "Missing or invalid token", content: { "application/json": { schema: error } } },
  "403": { description: "Token lacks the scope", content: { "application/json": { schema: error } } },
  "429": { description: "Rate limit; see Retry-After", content: { "application/json": { schema: error } } },
};

export const OPENAPI_DOCUMENT = {
  openapi: "3.1.0",
  info: { title: "Outpost control API", version: "1.0.0", description: "Purge, origins, health and POP state of an Outpost CDN." },
  components: {
    securitySchemes: { bearer: { type: "http", scheme: "bearer", description: "Scopes: read, purge, admin (admin implies the others)." } },
    schemas: {
      Error: { type: "object", properties: { error: { type: "string" }, status: { type: "integer" }, problems: { type: "array", items: { type: "object", properties: { field: { type: "string" }, message: { type: "string" } } } } }, required: ["error"] },
      PurgeRequest: {
        type: "object",
        additionalProperties: false,
        description: "Cloudflare's purge body plus soft. At most 100 items per call; URLs, prefixes and hosts must belong to configured hosts.",
        properties: {
          files: { type: "array", items: { oneOf: [{ type: "string", format: "uri" }, { type: "object", properties: { url: { type: "string" }, headers: { type: "object" } }, required: ["url"] }] } },
          tags: { type: "array", items: { type: "string", maxLength: 128 } },
          prefixes: { type: "array", items: { type: "string", description: "host/path, scheme optional" } },
          hosts: { type: "array", items: { type: "string" } },
          purge_everything: { type: "boolean", enum: [true] },
          soft: { type: "boolean", description: "Mark stale instead of removing: served under the stale rules while it revalidates." },
        },
      },
      OriginPatch: { type: "object", additionalProperties: false, properties: { weight: { type: "integer", minimum: 0, maximum: 1000 }, enabled: { type: "boolean" }, draining: { type: "boolean" } } },
    },
  },
  paths: {
    "/v1/purge": {
      post: {
        summary: "Purge by URL, prefix, tag, host, or everything; hard or soft",
        security: bearer,
        requestBody: { required: true, content: { "application/json": { schema: { $ref: "#/components/schemas/PurgeRequest" } } } },
        responses: { "200": { description: "Accepted: purge id and sequence number" }, ...errors, "413": { description: "Body too large" } },
      },
    },
    "/v1/purge/{id}": {
      get: { summary: "Which POPs have applied a purge", security: bearer, parameters: [{ name: "id", in: "path", required: true, schema: { type: "string" } }], responses: { "200": { description: "Purge status" }, ...errors, "404": { description: "Unknown purge" } } },
    },
    "/v1/origins": { get: { summary: "Origins with run-time overrides", security: bearer, responses: { "200": { description: "Origins" }, ...errors } } },
    "/v1/origins/{id}": {
      patch: {
        summary: "Change an origin's weight, enabled or draining at every POP",
        security: bearer,
        parameters: [{ name: "id", in: "path", required: true, schema: { type: "string" } }],
        requestBody: { required: true, content: { "application/json": { schema: { $ref: "#/components/schemas/OriginPatch" } } } },
        responses: { "200": { description: "New override and version" }, ...errors, "404": { description: "Unknown origin" } },
      },
    },
    "/v1/health": { get: { summary: "Each origin's health: probes, POP ejections, transitions", security: bearer, responses: { "200": { description: "Health" }, ...errors } } },
    "/v1/pops": { get: { summary: "POPs: last sync, version and purge sequence applied", security: bearer, responses: { "200": { description: "POPs" }, ...errors } } },
    "/metrics": { get: { summary: "Prometheus metrics per POP and origin", security: bearer, responses: { "200": { description: "text/plain; version=0.0.4" }, ...errors } } },
    "/v1/openapi.json": { get: { summary: "This document", responses: { "200": { description: "OpenAPI 3.1" } } } },
  },
} as const;
