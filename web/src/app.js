// The page: a list of people with keyset paging, two filters and a detail view, over the REST API.
import { ApiClient, ApiError } from "./api.js";
import { loadConfig } from "./config.js";

const $ = (selector) => document.querySelector(selector);
const MAX_ORGANIZATION_PAGES = 20;

let api;
let config;
let organizationsLoaded = false;
// Each load gets a number; an answer to an older one (the user moved on) is dropped.
let generation = 0;
let inFlight = null;
let retryTimer = null;

function setStatus(state, text, action = null) {
  const status = $("#status");
  status.dataset.state = state;
  delete status.dataset.retryAfter;
  status.textContent = text;
  if (action) {
    const button = $("#sign-in").content.firstElementChild.cloneNode(true);
    button.addEventListener("click", action);
    status.append(" ", button);
  }
}

function cancelPending() {
  generation += 1;
  inFlight?.abort();
  inFlight = null;
  clearInterval(retryTimer);
  retryTimer = null;
}

function personName(person) {
  return [person.given_name, person.family_name].filter(Boolean).join(" ");
}

function cell(text) {
  const td = document.createElement("td");
  td.textContent = text;
  return td;
}

function renderRows(people) {
  const rows = people.map((person) => {
    const tr = document.createElement("tr");
    tr.dataset.id = String(person.id);
    const open = document.createElement("button");
    open.type = "button";
    open.className = "link";
    open.textContent = personName(person);
    open.addEventListener("click", () => showPerson(person.id));
    const name = document.createElement("td");
    name.append(open);
    tr.append(cell(String(person.id)), name, cell(person.email ?? "—"), cell(person.organization?.name ?? "—"));
    return tr;
  });
  $("#people tbody").replaceChildren(...rows);
}

function firstPagePath() {
  const params = new URLSearchParams({ limit: String(config.pageSize) });
  const prefix = $("#name-prefix").value.trim();
  const organization = $("#organization").value;
  if (prefix) params.set("name_prefix", prefix);
  if (organization) params.set("organization_id", organization);
  return `/people?${params}`;
}

// Shows `error`; a 503 counts down its Retry-After and then calls `retry` by itself.
function showError(error, retry) {
  if (!(error instanceof ApiError)) {
    setStatus("error", `Unexpected error: ${error.message}`);
    return;
  }
  switch (error.kind) {
    case "unavailable": {
      let left = error.retryAfter;
      const tick = () => {
        setStatus("unavailable", `Database unavailable, retrying in ${left} s`);
        $("#status").dataset.retryAfter = String(error.retryAfter); // what the server asked for
      };
      tick();
      retryTimer = setInterval(() => {
        left -= 1;
        if (left > 0) return tick();
        clearInterval(retryTimer);
        retryTimer = null;
        retry();
      }, 1000);
      return;
    }
    case "auth":
      setStatus("auth", `Session expired or token rejected (${error.message}).`, async () => {
        try {
          await api.signIn();
          retry();
        } catch (signInError) {
          showError(signInError, retry);
        }
      });
      return;
    case "cors":
      setStatus("cors", `No data: ${error.message}.`);
      return;
    case "unreachable":
      setStatus("unreachable", `No data: ${error.message}.`);
      return;
    case "rejected":
      setStatus("rejected", `Request rejected (${error.status}): ${error.message}`);
      return;
    default:
      setStatus("error", `Server error (${error.status}): ${error.message}`);
  }
}

async function loadPage(path, pageNumber) {
  cancelPending();
  const mine = generation;
  inFlight = new AbortController();
  setStatus("loading", "Loading…");
  $("#next").disabled = true;
  try {
    const page = await api.get(path, { signal: inFlight.signal });
    if (mine !== generation) return;
    renderRows(page.items);
    delete $("#people").dataset.stale;
    $("#page-number").textContent = `page ${pageNumber}`;
    $("#first").disabled = pageNumber === 1;
    const next = $("#next");
    next.disabled = !page.next;
    next.onclick = page.next ? () => loadPage(page.next, pageNumber + 1) : null;
    if (page.items.length === 0) setStatus("empty", "No people match.");
    else setStatus("ready", `${page.items.length} people on page ${pageNumber}`);
    if (!organizationsLoaded) loadOrganizations();
  } catch (error) {
    if (mine !== generation || error.name === "AbortError") return;
    // A 503 is passing (the page retries by itself): the rows already shown stay, marked as
    // not current, rather than an empty table for the length of an outage.
    if (error instanceof ApiError && error.kind === "unavailable") $("#people").dataset.stale = "true";
    else renderRows([]);
    showError(error, () => loadPage(path, pageNumber));
  } finally {
    if (mine === generation) inFlight = null;
  }
}

async function showPerson(id) {
  cancelPending();
  const mine = generation;
  setStatus("loading", "Loading…");
  try {
    const person = await api.get(`/people/${id}`);
    if (mine !== generation) return;
    $("#detail-name").textContent = personName(person);
    $("#detail-id").textContent = String(person.id);
    $("#detail-external-id").textContent = person.external_id;
    $("#detail-email").textContent = person.email ?? "—";
    $("#detail-organization").textContent = person.organization
      ? `${person.organization.name} (id ${person.organization.id})`
      : "—";
    $("#detail-updated").textContent = person.updated_at;
    $("#detail").hidden = false;
    setStatus("ready", `Showing ${personName(person)}`);
  } catch (error) {
    if (mine !== generation) return;
    showError(error, () => showPerson(id));
  }
}

// Fills the organization filter; on failure the list still works, and the next load tries again.
async function loadOrganizations() {
  const select = $("#organization");
  const options = [];
  let path = "/organizations?limit=100";
  try {
    for (let n = 0; path && n < MAX_ORGANIZATION_PAGES; n += 1) {
      const page = await api.get(path);
      for (const organization of page.items) {
        options.push(new Option(organization.name, String(organization.id)));
      }
      path = page.next;
    }
  } catch {
    return;
  }
  organizationsLoaded = true;
  const chosen = select.value;
  select.replaceChildren(select.options[0], ...options);
  select.value = chosen;
}

async function main() {
  config = await loadConfig();
  api = new ApiClient(config);
  $("#api-base").textContent = config.apiBase;
  $("#filters").addEventListener("submit", (event) => {
    event.preventDefault();
    loadPage(firstPagePath(), 1);
  });
  $("#filters").addEventListener("reset", () => setTimeout(() => loadPage(firstPagePath(), 1)));
  $("#organization").addEventListener("change", () => loadPage(firstPagePath(), 1));
  $("#first").addEventListener("click", () => loadPage(firstPagePath(), 1));
  $("#close-detail").addEventListener("click", () => {
    $("#detail").hidden = true;
  });
  document.body.dataset.ready = "true";
  await loadPage(firstPagePath(), 1);
}

main();
