// Where the page finds its API and (optionally) its token issuer.
// `config.json` next to index.html is what a deployment edits; query parameters override it,
// so one copy of the page can be pointed at another API without a rebuild:
//   index.html?apiBase=http://127.0.0.1:8000&tokenUrl=http://127.0.0.1:9000/token

const DEFAULTS = Object.freeze({
  apiBase: "http://127.0.0.1:8000",
  tokenUrl: null,
  scope: "people:read",
  // Only tests set this: asks the issuer for a token that expires early.
  tokenExpiresIn: null,
  pageSize: 10,
});

const KEYS = Object.keys(DEFAULTS);

async function fromFile() {
  try {
    const response = await fetch("config.json", { cache: "no-store" });
    if (!response.ok) return {};
    return await response.json();
  } catch {
    return {}; // no config.json: the defaults and the query string decide
  }
}

function fromQuery(search) {
  const params = new URLSearchParams(search);
  const values = {};
  for (const key of KEYS) {
    if (params.has(key)) values[key] = params.get(key) || null;
  }
  return values;
}

export async function loadConfig(search = window.location.search) {
  const merged = { ...DEFAULTS, ...(await fromFile()), ...fromQuery(search) };
  const config = {};
  for (const key of KEYS) config[key] = merged[key];
  config.apiBase = String(config.apiBase).replace(/\/+$/, "");
  config.pageSize = Number(config.pageSize) || DEFAULTS.pageSize;
  return Object.freeze(config);
}
