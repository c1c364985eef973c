/**
 * Node-side calls to the control API, through undici: one Agent with
 * connect, header and body timeouts, and undici's RetryAgent for 429 and 5xx
 * (honouring Retry-After) and refused or reset connections. Used by the
 * purge command; a purge retried is harmless (purging twice purges once).
 */
import { Agent, RetryAgent, request, type Dispatcher } from "undici";

export interface ControlClientOptions {
  baseUrl: string;
  token: string;
  /** Retries after the first attempt (429, 5xx, connection errors). */
  retries?: number;
}

export interface ControlAnswer<T> {
  status: number;
  body: T | undefined;
}

export class ControlClient {
  private readonly dispatcher: Dispatcher;
  private readonly base: string;

  constructor(private readonly options: ControlClientOptions) {
    this.base = options.baseUrl.replace(/\/+$/, "");
    const agent = new Agent({ connectTimeout: 5000, headersTimeout: 10_000, bodyTimeout: 10_000, keepAliveTimeout: 4000 });
    this.dispatcher = new RetryAgent(agent, {
      maxRetries: options.retries ?? 3,
      minTimeout: 250,
      maxTimeout: 5000,
      retryAfter: true,
      methods: ["GET", "POST"],
      statusCodes: [429, 500, 502, 503, 504],
      // After the last retry the answer comes back as it is, so its error body can be shown.
      throwOnError: false,
    });
  }

  async call<T>(method: "GET" | "POST", path: string, body?: unknown): Promise<ControlAnswer<T>> {
    const response = await request(`${this.base}${path}`, {
      method,
      dispatcher: this.dispatcher,
      headers: { authorization: `Bearer ${this.options.token}`, ...(body === undefined ? {} : { "content-type": "application/json" }) },
      body: body === undefined ? undefined : JSON.stringify(body),
    });
    const text = await response.body.text();
    let parsed: T | undefined;
    try {
      parsed = JSON.parse(text) as T;
    } catch {
      parsed = undefined;
    }
    return { status: response.statusCode, body: parsed };
  }

  async close(): Promise<void> {
    await this.dispatcher.close();
  }
}
