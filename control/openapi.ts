/**
 * The control API's OpenAPI 3.1 document, generated from the route
 * declarations (control/routes.ts) and their zod schemas: every route, its
 * scope, limits and every status it can answer. Served at /v1/openapi.json.
 */
import { z } from "zod";
import { errorSchema, MAX_BODY_BYTES, ROUTES, type RouteSpec } from "./routes";

type JsonSchema = Record<string, unknown>;

function jsonSchema(schema: z.ZodType, io: "input" | "output"): JsonSchema {
  const out = z.toJSONSchema(schema, { target: "draft-2020-12", io, unrepresentable: "any" }) as JsonSchema;
  delete out.$schema;
  return out;
}

/** OpenAPI's path form: /v1/purge/{id}. */
export function openApiPath(honoPath: string): string {
  return honoPath.replace(/:([A-Za-z_]+)/g, "{$1}");
}

/** The method a declaration is documented under ("all" routes serve GET for clients). */
export function documentedMethod(spec: Pick<RouteSpec, "method">): "get" | "post" | "put" | "patch" {
  return spec.method === "all" ? "get" : spec.method;
}

const SCOPE_WORDS = { read: "read", purge: "purge", admin: "admin", pop: "pop (POPs and shield shards only)" } as const;

function operation(name: string, spec: RouteSpec): JsonSchema {
  const error = (description: string) => ({ description, content: { "application/json": { schema: jsonSchema(errorSchema(spec.errors), "output") } } });
  const responses: Record<string, unknown> = {};
  for (const [status, answer] of Object.entries(spec.answers)) {
    responses[status] =
      "schema" in answer
        ? { description: answer.description, content: { "application/json": { schema: jsonSchema(answer.schema, "output") } } }
        : { description: answer.description, content: { [answer.mediaType]: {} } };
  }
  if (spec.body) {
    responses["400"] = error("Invalid body: each problem names its field");
    responses["413"] = error(`Body larger than ${MAX_BODY_BYTES} bytes`);
    responses["415"] = error("Content-Type is not application/json");
  } else if (spec.query) responses["400"] = error("Invalid query parameter");
  for (const [status, description] of Object.entries(spec.refusals ?? {})) responses[status] = error(description);
  if (spec.scope) {
    responses["401"] = error("Missing or invalid bearer token");
    responses["403"] = error(`The token lacks the ${spec.scope} scope`);
    responses["429"] = {
      ...error("Rate limit (per token; failed authentications per client address): see Retry-After"),
      headers: { "Retry-After": { schema: { type: "integer" }, description: "Seconds to wait" } },
    };
  }
  responses["500"] = error("Internal error");

  const parameters: JsonSchema[] = [];
  for (const [param, description] of Object.entries(spec.params ?? {})) parameters.push({ name: param, in: "path", required: true, description, schema: { type: "string" } });
  if (spec.query) {
    for (const [param, field] of Object.entries(spec.query.shape as Record<string, z.ZodType>)) {
      parameters.push({ name: param, in: "query", required: !field.safeParse(undefined).success, schema: jsonSchema(field, "input") });
    }
  }
  const description = [spec.scope ? `Needs a token with the ${SCOPE_WORDS[spec.scope]} scope (admin implies read and purge).` : "No token needed.", spec.limits]
    .filter(Boolean)
    .join(" ");
  return {
    operationId: name,
    summary: spec.summary,
    description,
    tags: [spec.internal ? "Internal" : spec.errors === "cloudflare" ? "Cloudflare-compatible" : "Outpost"],
    ...(spec.scope ? { security: [{ bearer: [] }], "x-scope": spec.scope } : { security: [] }),
    ...(parameters.length ? { parameters } : {}),
    ...(spec.body ? { requestBody: { required: true, content: { "application/json": { schema: jsonSchema(spec.body, "input") } } } } : {}),
    responses,
  };
}

export function buildOpenApiDocument(): JsonSchema {
  const paths: Record<string, Record<string, unknown>> = {};
  for (const [name, spec] of Object.entries(ROUTES) as [string, RouteSpec][]) {
    (paths[openApiPath(spec.path)] ??= {})[documentedMethod(spec)] = operation(name, spec);
  }
  return {
    openapi: "3.1.0",
    info: {
      title: "Outpost control API",
      version: "1.0.0",
      description:
        "Purge, origins, health, metrics and POP state of an Outpost CDN. Cloudflare-compatible routes under /client/v4 answer in Cloudflare's envelope, so Cloudflare's SDKs and scripts work with this base URL.",
    },
    tags: [
      { name: "Outpost", description: "Outpost's own API" },
      { name: "Cloudflare-compatible", description: "Cloudflare's paths, bodies and error shapes (base URL: /client/v4)" },
      { name: "Internal", description: "Between Outpost's POPs, shield shards and control plane" },
    ],
    components: { securitySchemes: { bearer: { type: "http", scheme: "bearer", description: "Scopes: read, purge, admin (admin implies the others); pop for POPs." } } },
    paths,
  };
}

let memo: JsonSchema | undefined;
/** Built once per isolate, on first request. */
export function openApiDocument(): JsonSchema {
  return (memo ??= buildOpenApiDocument());
}
