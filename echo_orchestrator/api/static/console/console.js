// Echo Orchestrator console: a page over the service's own REST API and SSE streams, with
// the caller's key (kept in sessionStorage: gone with the browser session). Everything it
// shows or does goes through the same routes, keys, limits and rules as any client.
// No framework and no build: DOM built with textContent only (never HTML from data).

const KEY = "echo-orchestrator.key";
const TERMINAL = new Set(["execution_completed", "execution_failed", "execution_cancelled"]);
const main = document.getElementById("main");
const announce = document.getElementById("announce");
let cleanup = () => {};

// -- small helpers --------------------------------------------------------------------------

function h(tag, attrs = {}, ...children) {
  const element = document.createElementNS(
    ["svg", "g", "rect", "text", "line", "path", "marker", "defs", "polygon"].includes(tag) ? "http://www.w3.org/2000/svg" : "http://www.w3.org/1999/xhtml",
    tag,
  );
  for (const [name, value] of Object.entries(attrs)) {
    if (value === undefined || value === null || value === false) continue;
    if (name.startsWith("on")) element.addEventListener(name.slice(2), value);
    else element.setAttribute(name, value === true ? "" : String(value));
  }
  for (const child of children.flat()) {
    if (child === null || child === undefined || child === false) continue;
    element.append(child instanceof Node ? child : document.createTextNode(String(child)));
  }
  return element;
}

// Every route() bumps this. A page whose fetch ends after the user moved on must draw nothing:
// `show` refuses for it (the page stops there), and its late work writes only to its own nodes.
let navigation = 0;

class Superseded extends Error {}

function show(mine, ...children) {
  if (mine !== navigation) throw new Superseded();
  put(main, ...children);
}

function put(element, ...children) {
  // replaceChildren would write `null` as text: leave out what is not there.
  element.replaceChildren(...children.flat().filter((c) => c !== null && c !== undefined && c !== false));
}

function field(text, control, help) {
  // The label names its control by `for` (not by wrapping it): a select's options must not
  // become part of its name.
  return h("div", { class: "field" }, h("label", { for: control.id }, text), control, help || null);
}

function badge(status) {
  return h("span", { class: `badge s-${status}` }, status ?? "–");
}

function say(text) {
  announce.textContent = text;
}

function when(value) {
  return value ? new Date(value).toLocaleString() : "–";
}

function money(value) {
  return value === null || value === undefined ? "–" : `$${Number(value).toFixed(4)}`;
}

class ApiError extends Error {
  constructor(status, body) {
    super(body?.error?.message || `HTTP ${status}`);
    this.status = status;
    this.body = body;
  }
}

function authHeaders() {
  const key = sessionStorage.getItem(KEY);
  return key ? { Authorization: `Bearer ${key}` } : {};
}

async function api(path, { method = "GET", body } = {}) {
  const headers = { Accept: "application/json", ...authHeaders() };
  if (body !== undefined) headers["Content-Type"] = "application/json";
  const response = await fetch(path, { method, headers, body: body === undefined ? undefined : JSON.stringify(body) });
  const text = await response.text();
  const data = text ? JSON.parse(text) : null;
  if (response.status === 401) {
    showSignIn(data?.error?.message);
    throw new ApiError(401, data);
  }
  if (!response.ok) throw new ApiError(response.status, data);
  return data;
}

function failure(error) {
  return h("p", { class: "error", role: "alert" }, error instanceof ApiError ? `${error.status}: ${error.message}` : String(error));
}

// -- signing in -----------------------------------------------------------------------------

function showSignIn(reason) {
  cleanup();
  cleanup = () => {};
  navigation++; // a page still loading must not draw over the form
  sessionStorage.removeItem(KEY);
  document.getElementById("sign-out").hidden = true;
  const input = h("input", { id: "key", type: "password", autocomplete: "off", required: true });
  const message = h("p", { class: "error", role: "alert" }, reason || "");
  const form = h(
    "form",
    {
      class: "panel",
      onsubmit: async (event) => {
        event.preventDefault();
        sessionStorage.setItem(KEY, input.value.trim());
        try {
          await api("/workflows?limit=1");
          document.getElementById("sign-out").hidden = false;
          route();
        } catch (error) {
          if (!(error instanceof ApiError && error.status === 401)) message.textContent = String(error);
        }
      },
    },
    field("API key or token", input),
    h("p", { class: "muted" }, "Kept for this browser session only."),
    h("button", { type: "submit" }, "Sign in"),
    message,
  );
  put(main, h("h1", {}, "Sign in"), form);
  input.focus();
}

document.getElementById("sign-out").addEventListener("click", () => showSignIn("Signed out."));

// -- the catalogue --------------------------------------------------------------------------

async function catalogue() {
  const mine = navigation;
  const search = h("input", { id: "search", type: "search" });
  const category = h("select", { id: "category" }, h("option", { value: "" }, "any"));
  const tag = h("select", { id: "tag" }, h("option", { value: "" }, "any"));
  const body = h("tbody");
  const count = h("p", { class: "muted", "aria-live": "polite" });
  const graphs = h("div", {}, h("p", { class: "muted" }, "Loading…"));
  let all = [];
  const render = () => {
    const words = search.value.trim().toLowerCase();
    const shown = all.filter(
      (w) =>
        (!words || `${w.name} ${w.slug} ${w.description}`.toLowerCase().includes(words)) &&
        (!category.value || w.category === category.value) &&
        (!tag.value || w.tags.includes(tag.value)),
    );
    put(body,
      ...shown.map((w) =>
        h(
          "tr",
          {},
          h("td", {}, h("a", { href: `#/workflows/${encodeURIComponent(w.slug)}` }, w.name || w.slug), h("div", { class: "muted" }, w.description)),
          h("td", {}, badge(w.status)),
          h("td", { class: "hide-narrow" }, w.category || "–"),
          h("td", { class: "hide-narrow" }, w.tags.join(", ") || "–"),
          h("td", {}, w.versions.length ? w.versions.join(", ") : "–"),
          h("td", {}, `${w.execution_count} runs`, w.success_rate === null ? "" : ` · ${Math.round(w.success_rate * 100)}% ok`),
        ),
      ),
    );
    count.textContent = `${shown.length} of ${all.length} workflows`;
  };
  for (const control of [search, category, tag]) control.addEventListener("input", render);
  show(mine,
    h("h1", {}, "Workflows"),
    h("div", { class: "row" }, field("Search", search), field("Category", category), field("Tag", tag)),
    count,
    h("div", { class: "scroll", tabindex: 0 }, h("table", {}, h("thead", {}, h("tr", {}, ...["Workflow", "Status", "Category", "Tags", "Versions", "Runs"].map((t, i) => h("th", { scope: "col", class: i === 2 || i === 3 ? "hide-narrow" : null }, t)))), body)),
    h("h2", {}, "Plugin graphs"),
    graphs,
  );
  const listed = await api("/workflows?limit=200");
  all = listed.workflows;
  const categories = [...new Set(all.map((w) => w.category).filter(Boolean))].sort();
  const tags = [...new Set(all.flatMap((w) => w.tags))].sort();
  category.append(...categories.map((c) => h("option", { value: c }, c)));
  tag.append(...tags.map((t) => h("option", { value: t }, t)));
  render();
  // Plugin graphs; each runnable workflow is listed there too (`workflow:<slug>`), and above.
  const list = (await api("/graphs")).graphs.filter((g) => !g.name.startsWith("workflow:"));
  put(graphs,
    h("ul", {}, ...list.map((g) => h("li", {}, h("strong", {}, g.name), " ", h("span", { class: "muted" }, g.description || "")))),
  );
}

// -- a workflow -----------------------------------------------------------------------------

function layered(nodes, edges) {
  // Longest-path layers: each node one row below the deepest node leading to it.
  const depth = Object.fromEntries(nodes.map((n) => [n.id, 0]));
  for (let pass = 0; pass < nodes.length; pass++) {
    for (const e of edges) if (depth[e.target] !== undefined && depth[e.source] !== undefined && depth[e.target] < depth[e.source] + 1 && e.source !== e.target) depth[e.target] = Math.min(depth[e.source] + 1, nodes.length);
  }
  const rows = {};
  for (const n of nodes) (rows[depth[n.id]] ||= []).push(n);
  return { depth, rows };
}

function drawGraph(graph, states = {}) {
  const { depth, rows } = layered(graph.nodes, graph.edges);
  const width = 170, height = 38, gapX = 30, gapY = 46;
  const widest = Math.max(...Object.values(rows).map((r) => r.length));
  const place = {};
  for (const [row, members] of Object.entries(rows)) {
    const offset = ((widest - members.length) * (width + gapX)) / 2;
    members.forEach((n, i) => (place[n.id] = { x: 10 + offset + i * (width + gapX), y: 10 + Number(row) * (height + gapY) }));
  }
  const svgWidth = 20 + widest * (width + gapX);
  const svgHeight = 20 + (Math.max(...Object.values(depth)) + 1) * (height + gapY);
  const lines = graph.edges
    .filter((e) => place[e.source] && place[e.target])
    .map((e) => {
      const a = place[e.source], b = place[e.target];
      return h("line", { x1: a.x + width / 2, y1: a.y + height, x2: b.x + width / 2, y2: b.y, "stroke-width": 1.5, "marker-end": "url(#arrow)", "stroke-dasharray": e.condition ? "4 3" : null });
    });
  const boxes = graph.nodes.map((n) =>
    h(
      "g",
      { class: states[n.id] || "", "data-node": n.id },
      h("rect", { x: place[n.id].x, y: place[n.id].y, width, height, rx: 6 }),
      h("text", { x: place[n.id].x + width / 2, y: place[n.id].y + height / 2 + 4, "text-anchor": "middle" }, (n.label || n.id).slice(0, 24)),
    ),
  );
  return h(
    "svg",
    { viewBox: `0 0 ${svgWidth} ${svgHeight}`, width: svgWidth, height: svgHeight, role: "img", "aria-label": `Graph: ${graph.nodes.map((n) => n.label || n.id).join(", ")}` },
    h("defs", {}, h("marker", { id: "arrow", viewBox: "0 0 10 10", refX: 9, refY: 5, markerWidth: 7, markerHeight: 7, orient: "auto" }, h("path", { d: "M0,0 L10,5 L0,10 z", fill: "#6b7785" }))),
    ...lines,
    ...boxes,
  );
}

function inputControl(spec) {
  const id = `input-${spec.name}`;
  const common = { id, name: spec.name, required: spec.required || null, "aria-describedby": `${id}-help` };
  let control;
  const options = spec.validation?.enum || spec.options;
  if (options?.length) control = h("select", common, ...options.map((o) => h("option", { value: o }, o)));
  else if (spec.type === "boolean") control = h("input", { ...common, type: "checkbox" });
  else if (spec.type === "number" || spec.type === "integer") control = h("input", { ...common, type: "number", step: spec.type === "integer" ? 1 : "any" });
  else if (spec.type === "object" || spec.type === "array") control = h("textarea", { ...common, placeholder: spec.type === "object" ? "{ }" : "[ ]" });
  else control = h("input", { ...common, type: "text" });
  if (spec.default !== undefined && spec.default !== null) {
    if (spec.type === "boolean") control.checked = Boolean(spec.default);
    else control.value = typeof spec.default === "object" ? JSON.stringify(spec.default) : String(spec.default);
  }
  return field(`${spec.label || spec.name}${spec.required ? " *" : ""}`, control, h("span", { id: `${id}-help`, class: "muted" }, spec.description || spec.type));
}

function readInputs(form, fields) {
  const inputs = {};
  for (const field of fields) {
    const control = form.elements.namedItem(field.name);
    if (field.type === "boolean") inputs[field.name] = control.checked;
    else if (control.value === "") continue;
    else if (field.type === "number" || field.type === "integer") inputs[field.name] = Number(control.value);
    else if (field.type === "object" || field.type === "array") inputs[field.name] = JSON.parse(control.value);
    else inputs[field.name] = control.value;
  }
  return inputs;
}

function lineDiff(before, after) {
  // Longest common subsequence of lines: enough for two versions of one workflow file.
  const a = before.split("\n"), b = after.split("\n");
  const lcs = Array.from({ length: a.length + 1 }, () => new Array(b.length + 1).fill(0));
  for (let i = a.length - 1; i >= 0; i--) for (let j = b.length - 1; j >= 0; j--) lcs[i][j] = a[i] === b[j] ? lcs[i + 1][j + 1] + 1 : Math.max(lcs[i + 1][j], lcs[i][j + 1]);
  const out = [];
  let i = 0, j = 0;
  while (i < a.length || j < b.length) {
    if (i < a.length && j < b.length && a[i] === b[j]) out.push([" ", a[i++]]) && j++;
    else if (j < b.length && (i === a.length || lcs[i][j + 1] >= lcs[i + 1][j])) out.push(["+", b[j++]]);
    else out.push(["-", a[i++]]);
  }
  return out;
}

function bars(points, value, label) {
  const max = Math.max(1, ...points.map(value));
  const w = 28, height = 90;
  return h(
    "svg",
    { class: "bars", viewBox: `0 0 ${points.length * w + 10} ${height + 30}`, width: points.length * w + 10, height: height + 30, role: "img", "aria-label": label },
    ...points.flatMap((p, i) => {
      const v = value(p), bar = (v / max) * height;
      return [h("rect", { x: 5 + i * w, y: 5 + height - bar, width: w - 6, height: bar }), h("text", { x: 5 + i * w, y: height + 20 }, String(v))];
    }),
  );
}

async function workflowPage(slug) {
  const mine = navigation;
  const box = h("div", {}, h("p", { class: "muted" }, "Loading…"));
  const detail = await api(`/workflows/${encodeURIComponent(slug)}`);
  const state = detail.versions.length ? "final" : detail.has_temp ? "temp" : "draft";
  const [graph, fields] = await Promise.all([
    api(`/workflows/${encodeURIComponent(detail.workflow_id)}/graph?state=${state}`).catch(() => null),
    api(`/workflows/${encodeURIComponent(slug)}/input-fields`),
  ]);
  const message = h("p", { role: "alert" });
  const form = h(
    "form",
    {
      class: "panel",
      "aria-label": "Run this workflow",
      onsubmit: async (event) => {
        event.preventDefault();
        message.className = "error";
        let inputs;
        try {
          inputs = readInputs(form, fields.input_fields);
        } catch (error) {
          message.textContent = `Not JSON: ${error.message}`;
          return;
        }
        try {
          const checked = await api(`/workflows/${encodeURIComponent(slug)}/validate-input`, { method: "POST", body: { inputs } });
          if (!checked.valid) {
            message.textContent = checked.message || "The inputs are not valid";
            return;
          }
          const started = await api(`/workflows/${encodeURIComponent(slug)}/execute`, { method: "POST", body: { inputs: checked.normalized_inputs ?? inputs } });
          location.hash = `#/executions/${started.execution_id}`;
        } catch (error) {
          message.textContent = error instanceof ApiError ? `${error.status}: ${error.message}` : String(error);
        }
      },
    },
    h("h2", {}, "Run"),
    h("div", { class: "grid" }, ...fields.input_fields.map(inputControl)),
    h("div", { class: "row" }, h("button", { type: "submit", id: "run" }, "Run")),
    message,
  );
  const agents = graph ? graph.nodes.filter((n) => n.type === "agent") : [];
  const versions = detail.versions;
  // Every state there is, finals by version: any two can be compared.
  const states = [...(detail.has_draft ? ["draft"] : []), ...(detail.has_temp ? ["temp"] : []), ...versions];
  const stateUrl = (v) => `/workflows/${encodeURIComponent(detail.workflow_id)}/${v === "draft" || v === "temp" ? v : `final/${encodeURIComponent(v)}`}`;
  const diffOut = h("div", { class: "diff" });
  const pick = (id) => h("select", { id }, ...states.map((v) => h("option", { value: v }, v === "draft" || v === "temp" ? v : `final ${v}`)));
  const from = pick("diff-from"), to = pick("diff-to");
  if (states.length > 1) to.value = states[states.length - 1];
  const diffButton = h(
    "button",
    {
      type: "button",
      class: "quiet",
      onclick: async () => {
        const [a, b] = await Promise.all([from.value, to.value].map((v) => api(stateUrl(v))));
        const lines = lineDiff(JSON.stringify(a, null, 2), JSON.stringify(b, null, 2));
        const changed = lines.filter(([mark]) => mark !== " ").length;
        put(diffOut, h("p", { class: "muted" }, `${changed} changed lines`), ...lines.filter(([mark]) => mark !== " ").map(([mark, line]) => h("pre", { class: mark === "+" ? "add" : "del" }, `${mark} ${line}`)));
      },
    },
    "Compare",
  );
  show(mine,
    h("p", {}, h("a", { href: "#/" }, "← Catalogue")),
    h("h1", {}, detail.name || slug, " ", badge(detail.status)),
    h("p", { class: "muted" }, detail.description),
    h("p", {}, `Model: ${detail.execution_model} · runs: ${detail.statistics.total_executions} · success: ${detail.statistics.success_rate === null ? "–" : Math.round(detail.statistics.success_rate * 100) + "%"}`),
    h("h2", {}, "Graph"),
    h("div", { class: "graph panel" }, graph ? drawGraph(graph) : h("p", { class: "muted" }, "No graph for this workflow.")),
    h("h2", {}, "Agents"),
    h("div", { class: "scroll", tabindex: 0 }, h("table", {}, h("thead", {}, h("tr", {}, h("th", { scope: "col" }, "Agent"), h("th", { scope: "col" }, "Role"), h("th", { scope: "col" }, "Model"), h("th", { scope: "col" }, "Tools"))), h("tbody", {}, ...agents.map((a) => h("tr", {}, h("td", {}, a.label), h("td", {}, a.metadata.role || "–"), h("td", {}, `${a.metadata.llm.provider} / ${a.metadata.llm.model}`), h("td", {}, a.metadata.tools.join(", ") || "–")))))),
    form,
    h("h2", {}, "Versions"),
    h("p", {}, versions.length ? `Final: ${versions.join(", ")}` : "No final version", detail.has_temp ? " · a temp copy" : "", detail.has_draft ? " · a draft" : ""),
    states.length > 1 ? h("div", { class: "row" }, field("From", from), field("To", to), diffButton) : null,
    diffOut,
    h("h2", {}, "Analytics (last 30 days)"),
    box,
  );
  const analytics = await api(`/workflows/${encodeURIComponent(slug)}/analytics?granularity=day`).catch((error) => ({ error }));
  if (analytics.error) {
    put(box, failure(analytics.error));
    return;
  }
  const series = analytics.timeline;
  const summary = analytics.summary;
  const pct = (v) => (v === null || v === undefined ? "–" : `${Math.round(v * 100)}%`);
  const costs = Object.entries(analytics.cost_breakdown.llm_costs);
  const tokens = analytics.cost_breakdown.tokens_by_model;
  put(box,
    h("p", {}, `Runs: ${summary.total_executions} · success rate: ${pct(summary.success_rate)} · p50 ${summary.median_duration_seconds ?? "–"} s · p95 ${summary.p95_duration_seconds ?? "–"} s · cost ${money(summary.total_cost_usd)} · ${summary.total_tokens} tokens`),
    series.length
      ? h(
          "div",
          { class: "grid" },
          h("figure", {}, bars(series, (p) => p.executions, "Runs per day"), h("figcaption", { class: "muted" }, "Runs per day")),
          h("figure", {}, bars(series, (p) => (p.executions ? Math.round((p.successes / p.executions) * 100) : 0), "Success rate per day, %"), h("figcaption", { class: "muted" }, "Success rate per day (%)")),
        )
      : h("p", { class: "muted" }, "No runs in this period."),
    costs.length
      ? h("table", {}, h("caption", { class: "muted" }, "Cost and tokens by model"), h("thead", {}, h("tr", {}, h("th", { scope: "col" }, "Model"), h("th", { scope: "col" }, "Cost"), h("th", { scope: "col" }, "Tokens"))), h("tbody", {}, ...costs.map(([model, cost]) => h("tr", {}, h("td", {}, model), h("td", {}, money(cost)), h("td", {}, tokens[model] ?? 0)))))
      : null,
  );
}

// -- executions -----------------------------------------------------------------------------

async function executionsPage() {
  const mine = navigation;
  const params = new URLSearchParams(location.hash.split("?")[1] || "");
  const workflow = h("input", { id: "f-workflow", type: "search", value: params.get("workflow") || "" });
  const status = h("select", { id: "f-status" }, ...["", "initializing", "running", "paused", "completed", "failed", "cancelled"].map((s) => h("option", { value: s }, s || "any")));
  const caller = h("input", { id: "f-caller", type: "search" });
  const body = h("tbody");
  const note = h("p", { class: "muted" });
  let timer = null;
  const load = async () => {
    const query = new URLSearchParams({ limit: "50" });
    if (workflow.value.trim()) query.set("workflow_slug", workflow.value.trim());
    if (status.value) query.set("status", status.value);
    try {
      const listed = await api(`/executions?${query}`);
      const shown = listed.executions.filter((e) => !caller.value.trim() || (e.caller || "").includes(caller.value.trim()));
      put(body,
        ...shown.map((e) =>
          h("tr", { "data-execution": e.execution_id }, h("td", {}, h("a", { href: `#/executions/${e.execution_id}` }, e.execution_id)), h("td", {}, e.workflow_slug || `graph ${e.graph_name}`), h("td", {}, badge(e.status)), h("td", {}, `${Math.round(e.progress)}%`), h("td", { class: "hide-narrow" }, when(e.created_at)), h("td", { class: "hide-narrow" }, e.caller || "–")),
        ),
      );
      note.textContent = `${shown.length} shown of ${listed.total}; refreshed ${new Date().toLocaleTimeString()}`;
    } catch (error) {
      put(note, failure(error));
    }
  };
  for (const control of [workflow, status, caller]) control.addEventListener("change", load);
  show(mine,
    h("h1", {}, "Executions"),
    h("div", { class: "row" }, field("Workflow", workflow), field("Status", status), field("Caller", caller)),
    note,
    h("div", { class: "scroll", tabindex: 0 }, h("table", {}, h("thead", {}, h("tr", {}, ...["Execution", "Workflow", "Status", "Progress", "Started", "Caller"].map((t, i) => h("th", { scope: "col", class: i > 3 ? "hide-narrow" : null }, t)))), body)),
  );
  await load();
  timer = setInterval(load, 2000); // status changes show without a reload
  return () => clearInterval(timer);
}

function summary(event, data) {
  switch (event) {
    case "step_started":
    case "step_completed":
    case "step_failed":
    case "step_cancelled":
      return `step ${data.step_number} ${data.step_name || ""} ${data.duration_seconds != null ? `(${data.duration_seconds} s)` : ""}`;
    case "node_started":
    case "node_completed":
      return `${data.node_name}${data.status ? ` ${data.status}` : ""}`;
    case "llm_call_completed":
      return `${data.provider}/${data.model}: ${data.total_tokens} tokens, ${money(data.cost_usd)}, ${Math.round(data.latency_ms)} ms`;
    case "tool_call_started":
    case "tool_call_completed":
      return data.tool_id;
    case "execution_progress":
      return `${Math.round(data.progress_percentage ?? 0)}% (${data.completed_steps}/${data.total_steps})`;
    case "interactive_prompt":
      return data.message || "";
    case "execution_failed":
      return data.error?.message || "";
    case "execution_cancelled":
      return data.reason || "";
    case "output_file":
      return data.file?.path || "";
    default:
      return "";
  }
}

async function* sse(path, lastId, signal) {
  // EventSource cannot send the Authorization header: the same stream read through fetch.
  const headers = { Accept: "text/event-stream", ...authHeaders() };
  if (lastId) headers["Last-Event-ID"] = String(lastId);
  const response = await fetch(path, { headers, signal });
  if (!response.ok) throw new ApiError(response.status, await response.json().catch(() => null));
  const reader = response.body.pipeThrough(new TextDecoderStream()).getReader();
  let buffer = "", raw = "";
  for (;;) {
    const { value, done } = await reader.read();
    if (done) return;
    // Lines may end in CRLF (as this server sends them), CR or LF; a CR at a chunk's end
    // waits for the next chunk, which may start with its LF.
    raw += value;
    const cut = raw.endsWith("\r") ? raw.length - 1 : raw.length;
    buffer += raw.slice(0, cut).replace(/\r\n?/g, "\n");
    raw = raw.slice(cut);
    let end;
    while ((end = buffer.indexOf("\n\n")) >= 0) {
      const frame = buffer.slice(0, end);
      buffer = buffer.slice(end + 2);
      const message = { event: "message", id: null, data: "" };
      for (const line of frame.split("\n")) {
        if (line.startsWith(":")) continue;
        const colon = line.indexOf(":");
        const name = line.slice(0, colon), text = line.slice(colon + 1).replace(/^ /, "");
        if (name === "event") message.event = text;
        else if (name === "id") message.id = text;
        else if (name === "data") message.data += text;
      }
      if (message.data) yield message;
    }
  }
}

async function download(path, name) {
  const response = await fetch(path, { headers: authHeaders() });
  if (!response.ok) return say(`Download failed: ${response.status}`);
  const url = URL.createObjectURL(await response.blob());
  const link = h("a", { href: url, download: name });
  document.body.append(link);
  link.click();
  link.remove();
  setTimeout(() => URL.revokeObjectURL(url), 10_000);
}

async function executionPage(id) {
  const mine = navigation;
  const abort = new AbortController();
  let info = await api(`/executions/${encodeURIComponent(id)}/info`);
  const head = h("div");
  const actions = h("div", { class: "row" });
  const promptBox = h("div");
  const stream = h("div", { class: "streaming panel", "aria-live": "off", id: "streaming" });
  const timeline = h("ol", { class: "timeline", id: "timeline", "aria-label": "Events", tabindex: 0 });
  const steps = h("div", { class: "scroll", tabindex: 0 });
  const calls = h("tbody");
  const files = h("div");
  const graphBox = h("div", { class: "graph panel" });
  const states = {};
  let graph = null;
  let last = 0;
  let live = "";

  const drawHead = () =>
    put(head,
      h("h1", {}, "Execution ", h("code", {}, id), " ", badge(info.status)),
      h("p", {}, info.workflow_slug ? h("a", { href: `#/workflows/${encodeURIComponent(info.workflow_slug)}` }, info.workflow_slug) : `graph ${info.graph_name}`, ` · started ${when(info.started_at || info.created_at)} · ${info.llm_calls?.total ?? 0} LLM calls · ${info.llm_calls?.total_tokens ?? 0} tokens · ${money(info.llm_calls?.estimated_cost_usd)}`, info.caller ? ` · by ${info.caller}` : ""),
      info.error ? h("p", { class: "error" }, info.error.message) : null,
    );

  const act = async (label, path, body) => {
    try {
      await api(path, { method: "POST", body });
      say(`${label}: sent`);
      await refresh();
    } catch (error) {
      put(promptBox, failure(error));
    }
  };

  const drawActions = () => {
    const running = ["initializing", "running", "paused"].includes(info.status);
    put(actions,
      running ? h("button", { type: "button", class: "quiet", id: "cancel-graceful", onclick: () => act("Cancel after this step", `/executions/${id}/cancel`, { graceful: true, reason: "cancelled from the console" }) }, "Cancel after this step") : null,
      running ? h("button", { type: "button", class: "danger", id: "cancel-now", onclick: () => act("Cancel now", `/executions/${id}/cancel`, { graceful: false, reason: "cancelled from the console" }) }, "Cancel now") : null,
      ["failed", "cancelled"].includes(info.status) ? h("button", { type: "button", id: "resume", onclick: () => act("Resume", `/executions/${id}/resume`, {}) }, "Resume") : null,
    );
  };

  const drawPrompt = () => {
    const prompt = info.status === "paused" ? info.pending_prompt : null;
    if (!prompt) return put(promptBox);
    const changes = h("textarea", { id: "changes" }, "{}");
    const reason = h("input", { id: "reason", type: "text" });
    const answer = (response) => {
      let parsed = {};
      if (response === "modify") {
        try {
          parsed = JSON.parse(changes.value || "{}");
        } catch (error) {
          return say(`Not JSON: ${error.message}`);
        }
      }
      act(`Answer ${response}`, `/executions/${id}/respond`, { prompt_id: prompt.prompt_id, response, changes: parsed, reason: reason.value || undefined });
    };
    const options = prompt.options?.length ? prompt.options : ["approve", "reject", "modify"];
    put(promptBox,
      h(
        "section",
        { class: "panel", "aria-label": "Waiting for your answer", id: "prompt" },
        h("h2", {}, prompt.message || "Your answer is needed"),
        prompt.output !== undefined ? h("pre", {}, typeof prompt.output === "string" ? prompt.output : JSON.stringify(prompt.output, null, 2)) : null,
        options.includes("modify") ? field("Changes (JSON, for modify)", changes) : null,
        options.includes("reject") ? field("Reason (for reject)", reason) : null,
        h("div", { class: "row" }, ...options.map((o) => h("button", { type: "button", "data-answer": o, onclick: () => answer(o) }, o))),
      ),
    );
  };

  const drawSteps = async () => {
    const [listed, nodes] = await Promise.all([
      api(`/executions/${encodeURIComponent(id)}/steps`).catch(() => null),
      api(`/executions/${encodeURIComponent(id)}/node-executions`).catch(() => null),
    ]);
    if (!listed) return;
    const byStep = {};
    for (const n of nodes?.node_executions || []) (byStep[n.step_number] ||= []).push(`${n.node_name} (${n.status})`);
    const rows = listed.step_executions.map((s) => h("tr", {}, h("td", {}, s.step_number), h("td", {}, s.step_name), h("td", {}, badge(s.status)), h("td", { class: "hide-narrow" }, (byStep[s.step_number] || []).join(", ") || "–"), h("td", {}, s.llm_calls ?? 0), h("td", {}, s.tokens_used ?? 0), h("td", {}, money(s.cost_usd)), h("td", { class: "hide-narrow" }, (s.mcp_tools_used || []).join(", ") || "–")));
    put(steps, h("table", {}, h("thead", {}, h("tr", {}, ...["#", "Step", "Status", "Nodes", "LLM calls", "Tokens", "Cost", "Tools"].map((t, i) => h("th", { scope: "col", class: i === 3 || i === 7 ? "hide-narrow" : null }, t)))), h("tbody", {}, ...rows)));
  };

  const checkpoints = h("div");
  const drawCheckpoints = () =>
    put(checkpoints,
      info.checkpoints.length ? h("ul", {}, ...info.checkpoints.map((c) => h("li", {}, `${when(c.created_at)} · after step ${c.step_number ?? "–"} · `, h("code", {}, c.checkpoint_id)))) : h("p", { class: "muted" }, "No checkpoints."),
    );

  const drawFiles = () => {
    const listed = info.output_files || [];
    put(files,
      listed.length
        ? h("ul", {}, ...listed.map((f) => h("li", {}, h("button", { type: "button", class: "quiet", onclick: () => download(`/service/workspaces/${encodeURIComponent(info.workspace)}/files/content?file_path=${encodeURIComponent(f.path)}`, f.name) }, `Download ${f.path}`), ` (${f.size_bytes} bytes)`)))
        : h("p", { class: "muted" }, "No files."),
    );
  };

  const redrawGraph = () => {
    if (graph) put(graphBox, drawGraph(graph, states));
  };

  const webhooks = h("div");
  const drawWebhooks = async () => {
    const listed = (await api(`/executions/${encodeURIComponent(id)}/webhooks`)).deliveries;
    put(webhooks,
      listed.length
        ? h("ul", {}, ...listed.map((d) => h("li", { "data-delivery": d.delivery_id }, `${d.event} → ${d.url} · `, badge(d.status), ` · ${d.attempts} attempt(s)`, d.history.length ? ` · last: ${d.history[d.history.length - 1].status_code ?? d.history[d.history.length - 1].error}` : "")))
        : h("p", { class: "muted" }, "No completion webhooks."),
    );
  };

  const refresh = async () => {
    info = await api(`/executions/${encodeURIComponent(id)}/info`);
    drawHead();
    drawActions();
    drawPrompt();
    drawFiles();
    drawCheckpoints();
    await drawSteps();
    await drawWebhooks();
  };

  const seen = (event, data) => {
    if (event === "llm_token") {
      live += data.delta;
      stream.textContent = live;
      return;
    }
    if (event === "llm_call_started") {
      live = "";
      stream.textContent = "";
    }
    if (event === "llm_call_completed") calls.append(h("tr", {}, h("td", {}, data.step_number ?? "–"), h("td", {}, `${data.provider}/${data.model}`), h("td", {}, data.prompt_tokens), h("td", {}, data.completion_tokens), h("td", {}, money(data.cost_usd)), h("td", {}, `${Math.round(data.latency_ms)} ms`)));
    if (event === "node_started") states[data.node_name] = "running";
    if (event === "node_completed") states[data.node_name] = "done";
    const item = h("li", { "data-seq": data.seq }, h("span", { class: "seq" }, data.seq), h("strong", {}, event), h("span", {}, summary(event, data)));
    timeline.append(item);
    item.scrollIntoView({ block: "nearest" });
    if (event.startsWith("node_")) redrawGraph();
  };

  show(mine,
    h("p", {}, h("a", { href: "#/executions" }, "← Executions")),
    head,
    actions,
    promptBox,
    h("h2", {}, "Graph"),
    graphBox,
    h("h2", {}, "Live reply"),
    stream,
    h("h2", {}, "Timeline"),
    timeline,
    h("h2", {}, "Steps"),
    steps,
    h("h2", {}, "LLM calls"),
    h("div", { class: "scroll", tabindex: 0 }, h("table", {}, h("thead", {}, h("tr", {}, ...["Step", "Model", "In", "Out", "Cost", "Latency"].map((t) => h("th", { scope: "col" }, t)))), calls)),
    h("h2", {}, "Files"),
    files,
    h("h2", {}, "Checkpoints"),
    checkpoints,
    h("h2", {}, "Completion webhooks"),
    webhooks,
  );
  await refresh();
  if (info.workflow_id) {
    const state = info.workflow_version ? `final&version=${encodeURIComponent(info.workflow_version)}` : "temp";
    graph = await api(`/workflows/${encodeURIComponent(info.workflow_id)}/graph?state=${state}`).catch(() => null);
    redrawGraph();
  }

  (async () => {
    // Replay from the start, then live; after a dropped connection, on from the last seq.
    for (let attempt = 0; attempt < 20 && !abort.signal.aborted; attempt++) {
      try {
        for await (const message of sse(`/executions/${encodeURIComponent(id)}/stream?tokens=true`, last, abort.signal)) {
          const data = JSON.parse(message.data);
          if (message.id) last = Number(message.id);
          seen(message.event, data);
          if (["step_completed", "step_failed", "execution_paused", "interactive_prompt", "execution_resumed", "output_file"].includes(message.event) || TERMINAL.has(message.event)) await refresh();
          if (TERMINAL.has(message.event)) {
            say(`Execution ${message.event.replace("execution_", "")}`);
            stream.textContent = live;
            return;
          }
        }
        if (["completed", "failed", "cancelled"].includes(info.status) || info.status === "paused") return;
      } catch (error) {
        if (abort.signal.aborted) return;
        await new Promise((resolve) => setTimeout(resolve, 500 * (attempt + 1)));
      }
    }
  })();
  return () => abort.abort();
}

// -- MCP servers and plugins ----------------------------------------------------------------

async function schedulesPage() {
  const mine = navigation;
  const body = h("tbody");
  const note = h("p", { class: "muted" });
  const load = async () => {
    const listed = await api("/schedules");
    put(body,
      ...listed.schedules.map((view) => {
        const s = view.schedule;
        const last = view.recent_fires[0];
        const toggle = h("button", { type: "button", "data-schedule": s.schedule_id }, s.enabled ? "Pause" : "Resume");
        toggle.addEventListener("click", async () => {
          try {
            await api(`/schedules/${encodeURIComponent(s.schedule_id)}/${s.enabled ? "pause" : "resume"}`, { method: "POST" });
            say(`${s.schedule_id} ${s.enabled ? "paused" : "resumed"}`);
            await load();
          } catch (error) {
            put(note, failure(error));
          }
        });
        const runs = s.workflow ? h("a", { href: `#/workflows/${encodeURIComponent(s.workflow)}` }, s.workflow) : `graph ${s.graph}`;
        const lastCell = !last ? "–" : last.execution_id ? h("span", {}, when(last.fire_at), " ", h("a", { href: `#/executions/${last.execution_id}` }, last.execution_status || last.outcome)) : `${when(last.fire_at)} ${last.outcome}`;
        return h("tr", { "data-schedule-row": s.schedule_id },
          h("td", {}, s.name || s.schedule_id, h("div", { class: "muted" }, view.file)),
          h("td", {}, runs),
          h("td", {}, s.cron ? `${s.cron} (${s.timezone})` : `every ${s.interval_seconds} s`),
          h("td", {}, badge(s.enabled ? "enabled" : "paused")),
          h("td", { class: "hide-narrow" }, view.next_fire_times[0] ? when(view.next_fire_times[0]) : "–"),
          h("td", { class: "hide-narrow" }, lastCell),
          h("td", {}, toggle));
      }),
    );
    note.textContent = `${listed.total} schedule(s); refreshed ${new Date().toLocaleTimeString()}`;
  };
  show(mine,
    h("h1", {}, "Schedules"),
    h("p", { class: "muted" }, "Files under storage/schedules/; each fire starts one run (docs/triggers.md)."),
    note,
    h("div", { class: "scroll", tabindex: 0 }, h("table", {}, h("thead", {}, h("tr", {}, ...["Schedule", "Runs", "When", "State", "Next fire", "Last fire", ""].map((t, i) => h("th", { scope: "col", class: i === 4 || i === 5 ? "hide-narrow" : null }, t)))), body)),
  );
  await load();
  const timer = setInterval(() => load().catch((error) => put(note, failure(error))), 5000);
  return () => clearInterval(timer);
}

async function mcpPage() {
  const mine = navigation;
  const [servers, tools, health] = await Promise.all([api("/mcp-servers"), api("/mcp-servers/tools"), api("/service/health")]);
  const byServer = {};
  for (const tool of tools.tools) (byServer[tool.server] ||= []).push(tool.name);
  const plugins = health.plugins;
  show(mine,
    h("h1", {}, "MCP servers and plugins"),
    h("h2", {}, "MCP servers"),
    h("p", { class: "muted" }, `${servers.available} available of ${servers.total}`),
    h("div", { class: "scroll", tabindex: 0 }, h("table", {}, h("thead", {}, h("tr", {}, ...["Server", "Status", "Transport", "Tools", "Error"].map((t) => h("th", { scope: "col" }, t)))), h("tbody", {}, ...servers.mcp_servers.map((s) => h("tr", {}, h("td", {}, s.display_name || s.name, h("div", { class: "muted" }, s.description)), h("td", {}, badge(s.status)), h("td", {}, `${s.transport} (${s.source})`), h("td", {}, (byServer[s.name] || []).join(", ") || String(s.tools_count)), h("td", {}, s.error || "–")))))),
    h("h2", {}, "Plugins"),
    h("p", {}, `Status: `, badge(plugins.status), plugins.following_changes ? " · reloading on change" : ""),
    h("dl", {}, ...[["Graphs", plugins.graphs], ["Tools", plugins.tools], ["LLM providers", plugins.llm_providers], ["MCP servers", plugins.mcp_servers]].flatMap(([name, list]) => [h("dt", {}, name), h("dd", {}, list.join(", ") || "–")])),
    h("h2", {}, "Plugin problems"),
    plugins.problems.length ? h("ul", {}, ...plugins.problems.map((p) => h("li", { class: "error" }, `${p.plugin} (${p.origin}${p.path ? `, ${p.path}` : ""}): ${p.error}`))) : h("p", { class: "muted" }, "None."),
  );
}

// -- routing --------------------------------------------------------------------------------

async function route() {
  cleanup();
  cleanup = () => {};
  const mine = ++navigation;
  const path = location.hash.replace(/^#/, "").split("?")[0] || "/";
  const parts = path.split("/").filter(Boolean).map(decodeURIComponent);
  for (const link of document.querySelectorAll(".top nav a")) {
    const target = link.getAttribute("href").slice(1);
    link.setAttribute("aria-current", (target === "/" ? path === "/" || parts[0] === "workflows" : path.startsWith(target)) ? "page" : "false");
  }
  try {
    let done;
    if (parts[0] === "workflows" && parts[1]) done = await workflowPage(parts[1]);
    else if (parts[0] === "executions" && parts[1]) done = await executionPage(parts[1]);
    else if (parts[0] === "executions") done = await executionsPage();
    else if (parts[0] === "mcp") done = await mcpPage();
    else if (parts[0] === "schedules") done = await schedulesPage();
    else done = await catalogue();
    if (typeof done === "function") {
      if (mine !== navigation) done(); // moved on while it loaded: stop its timers now
      else cleanup = done;
    }
    if (mine !== navigation) return;
    const heading = main.querySelector("h1");
    document.title = heading ? `${heading.textContent} · Echo Orchestrator` : "Echo Orchestrator";
  } catch (error) {
    if (error instanceof Superseded || mine !== navigation) return;
    if (error instanceof ApiError && error.status === 401) return;
    put(main, h("h1", {}, "Something went wrong"), failure(error));
  }
}

window.addEventListener("hashchange", () => {
  route();
  main.focus();
});
document.getElementById("sign-out").hidden = !sessionStorage.getItem(KEY);
route();
