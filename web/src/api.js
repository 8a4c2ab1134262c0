// The REST client: bearer token (when configured), JSON, and one error type the view can show.

export class ApiError extends Error {
  // kind: "unavailable" (503), "auth" (401 or no token), "rejected" (other 4xx),
  //       "server" (5xx), "cors" (the API refused this origin), "unreachable" (no answer).
  constructor(kind, message, { status = null, retryAfter = null } = {}) {
    super(message);
    this.kind = kind;
    this.status = status;
    this.retryAfter = retryAfter;
  }
}

const DEFAULT_RETRY_SECONDS = 5;

function retryAfterSeconds(response) {
  // Readable cross-origin only because the API lists it in Access-Control-Expose-Headers.
  const value = Number.parseInt(response.headers.get("Retry-After") ?? "", 10);
  return Number.isFinite(value) && value > 0 ? value : DEFAULT_RETRY_SECONDS;
}

async function detailOf(response) {
  try {
    const body = await response.json();
    if (typeof body.detail === "string") return body.detail;
    if (Array.isArray(body.detail)) {
      return body.detail.map((item) => `${(item.loc ?? []).slice(1).join(".")}: ${item.msg}`).join("; ");
    }
  } catch {
    // not JSON: the status line says enough
  }
  return response.statusText || `HTTP ${response.status}`;
}

export class ApiClient {
  constructor(config) {
    this.config = config;
    this.token = null; // in memory only: never written to storage
  }

  async signIn() {
    this.token = null;
    const form = new URLSearchParams({ grant_type: "client_credentials", scope: this.config.scope ?? "" });
    if (this.config.tokenExpiresIn) form.set("expires_in", String(this.config.tokenExpiresIn));
    let response;
    try {
      response = await fetch(this.config.tokenUrl, { method: "POST", body: form });
    } catch {
      throw new ApiError("auth", `cannot reach the token issuer at ${this.config.tokenUrl}`);
    }
    if (!response.ok) {
      throw new ApiError("auth", `the token issuer refused: ${await detailOf(response)}`, {
        status: response.status,
      });
    }
    const body = await response.json();
    if (typeof body.access_token !== "string") {
      throw new ApiError("auth", "the token issuer answered without an access_token");
    }
    this.token = body.access_token;
  }

  // `path` is an API path such as "/people?limit=10", or a `next` link the API returned.
  async get(path, { signal } = {}) {
    if (this.config.tokenUrl && !this.token) await this.signIn();
    const url = new URL(path, `${this.config.apiBase}/`);
    const headers = { Accept: "application/json" };
    if (this.token) headers.Authorization = `Bearer ${this.token}`;
    let response;
    try {
      response = await fetch(url, { headers, signal });
    } catch (error) {
      if (error.name === "AbortError") throw error;
      throw await this.explainNetworkFailure();
    }
    if (response.ok) return response.json();
    const detail = await detailOf(response);
    if (response.status === 503) {
      throw new ApiError("unavailable", detail, { status: 503, retryAfter: retryAfterSeconds(response) });
    }
    if (response.status === 401) {
      this.token = null;
      throw new ApiError("auth", detail, { status: 401 });
    }
    throw new ApiError(response.status < 500 ? "rejected" : "server", detail, { status: response.status });
  }

  // A failed CORS request and an unreachable server look the same to a script. An opaque
  // (no-cors) request to the health route tells them apart: it succeeds when the server answers.
  async explainNetworkFailure() {
    const origin = window.location.origin;
    try {
      await fetch(`${this.config.apiBase}/healthz`, { mode: "no-cors", cache: "no-store" });
    } catch {
      return new ApiError("unreachable", `cannot reach the API at ${this.config.apiBase}`);
    }
    return new ApiError(
      "cors",
      `the API at ${this.config.apiBase} does not allow this page's origin (${origin}): CORS refused`,
    );
  }
}
