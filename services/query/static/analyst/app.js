// The analyst page: charts over the worked queries, and a free SQL box. No build step.
import { CHARTS, table } from "./charts.js";
import { language, number, setLanguage, t } from "./i18n.js";

const KEY = "touchline.analyst_key";
const $ = (id) => document.getElementById(id);
const state = { key: null, queries: {}, results: new Map(), charts: new Map(), outcome: null };

class SqlError extends Error {
  constructor(status, error) {
    super(error.message || `HTTP ${status}`);
    Object.assign(this, { status, error });
  }
}

/** POST /v1/sql: the answer's JSON, or its CSV text when ``csv`` is set; a SqlError otherwise. */
async function sql(query, csv = false) {
  const response = await fetch("/v1/sql", {
    method: "POST",
    headers: { Authorization: `Bearer ${state.key}`, "Content-Type": "application/json", Accept: csv ? "text/csv" : "application/json" },
    body: JSON.stringify({ query }),
  });
  if (response.ok) return csv ? response.text() : response.json();
  const body = await response.json().catch(() => ({}));
  if (response.status === 401 || response.status === 403) askForKey(response.status === 403 ? t("token_refused") : t("token_needed"));
  throw new SqlError(response.status, body.error || { message: response.statusText });
}

const records = (answer) => answer.rows.map((row) => Object.fromEntries(answer.columns.map((c, i) => [c.name, row[i]])));

function askForKey(why) {
  sessionStorage.removeItem(KEY);
  $("token-box").hidden = false;
  $("token-why").textContent = why;
  $("token").focus();
}

// -- the charts ------------------------------------------------------------------------------

function buildCards() {
  const template = $("card-template");
  for (const spec of CHARTS) {
    const card = template.content.firstElementChild.cloneNode(true);
    card.id = `card-${spec.id}`;
    card.dataset.chart = spec.id;
    if (spec.wide) card.classList.add("wide");
    if (spec.tall) card.classList.add("tall");
    if (!spec.draw) card.querySelector(".plot").remove();
    if (spec.query) card.querySelector(".open-sql").addEventListener("click", () => openInSql(spec.query));
    else { card.classList.add("slot"); card.querySelector(".body").remove(); }
    $("cards").append(card);
  }
}

async function loadCharts() {
  for (const spec of CHARTS.filter((s) => s.query)) {  // one at a time: the store answers one query at a time
    const card = $(`card-${spec.id}`);
    card.querySelector(".sql-text").textContent = state.queries[spec.query] ?? "";
    status(card, t("loading"));
    try {
      state.results.set(spec.id, records(await sql(state.queries[spec.query])));
      drawCard(spec);
    } catch (e) {
      status(card, t("failed", { m: e.message }));
      card.dataset.failed = e.message;
      if (e.status === 401 || e.status === 403) return;  // the other charts would fail the same way
    }
  }
}

function status(card, text) { card.querySelector(".status").textContent = text; }

function drawCard(spec) {
  const card = $(`card-${spec.id}`), rows = state.results.get(spec.id);
  if (!rows) return;
  status(card, rows.length ? "" : t("no_rows"));
  card.dataset.rows = String(rows.length);
  if (spec.draw && window.echarts) {
    const plot = card.querySelector(".plot");
    const chart = state.charts.get(spec.id) || echarts.init(plot);
    state.charts.set(spec.id, chart);
    chart.setOption({ animation: false, ...spec.draw(rows) }, true);
  }
  if (spec.table) card.querySelector(".table").replaceChildren(spec.table(rows));
}

function openInSql(name) {
  $("sql").value = state.queries[name];
  $("worked").value = name;
  $("sql-box").scrollIntoView({ behavior: "instant", block: "start" });
  $("sql").focus();
}

// -- the free SQL box ------------------------------------------------------------------------

const SHOWN_ROWS = 500;

async function runFree() {
  const query = $("sql").value;
  $("sql-error").hidden = true; $("sql-result").replaceChildren(); $("sql-status").textContent = t("loading");
  $("csv").disabled = true;
  try {
    state.outcome = { query, answer: await sql(query) };
  } catch (e) {
    state.outcome = { query, error: e.error || { message: e.message, code: "network" } };
  }
  showOutcome();
}

/** The last free query's rows or refusal, in the page's language (shown again when it changes). */
function showOutcome() {
  const { query, answer, error } = state.outcome;
  $("sql-error").hidden = true; $("sql-result").replaceChildren(); $("sql-status").textContent = "";
  $("csv").disabled = !answer;
  if (error) { showError(query, error); return; }
  $("sql-status").textContent = t("rows", { n: number(answer.row_count), ms: number(answer.elapsed_ms) }) +
    (answer.row_count > SHOWN_ROWS ? ` · ${t("showing", { shown: number(SHOWN_ROWS), n: number(answer.row_count) })}` : "");
  $("sql-result").append(resultTable(answer));
}

function resultTable(answer) {
  const numeric = answer.columns.map((c) => /int|float|double|decimal/.test(c.type));
  const shown = (v, i) => (v === null ? t("null") : typeof v === "object" ? JSON.stringify(v)
                           : numeric[i] && typeof v === "number" ? number(v, 6) : String(v));
  const el = table(answer.columns.map((c) => c.name), answer.rows.slice(0, SHOWN_ROWS).map((r) => r.map(shown)));
  el.querySelectorAll("td").forEach((td, n) => td.classList.toggle("num", numeric[n % answer.columns.length]));
  return el;
}

/** The refusal, where it was (line, column, the line itself with a caret), and the cursor put there. */
function showError(query, error) {
  const box = $("sql-error");
  box.hidden = false;
  $("error-code").textContent = t("refused", { code: error.code });
  $("error-message").textContent = error.message;
  const where = [];
  if (error.line != null) where.push(t("at", { line: error.line, column: error.column }));
  if (error.limit) where.push(t("limit", { limit: error.limit }));
  $("error-where").textContent = where.join(" · ");
  $("error-line").hidden = error.line == null;
  if (error.line == null) return;
  const lines = query.split("\n"), line = lines[error.line - 1] ?? "";
  $("error-line").textContent = `${line}\n${" ".repeat(Math.max(0, (error.column ?? 1) - 1))}^`;
  const offset = lines.slice(0, error.line - 1).reduce((n, l) => n + l.length + 1, 0) + Math.max(0, (error.column ?? 1) - 1);
  $("sql").setSelectionRange(offset, offset);
}

async function downloadCsv() {
  try {
    const text = await sql(state.outcome.query, true);
    const link = Object.assign(document.createElement("a"), {
      href: URL.createObjectURL(new Blob([text], { type: "text/csv" })), download: "touchline-query.csv",
    });
    document.body.append(link); link.click(); link.remove();
    setTimeout(() => URL.revokeObjectURL(link.href), 1000);
  } catch (e) { showError(state.outcome.query, e.error || { message: e.message, code: "network" }); }
}

// -- language and start ----------------------------------------------------------------------

function applyLanguage() {
  document.documentElement.lang = language();
  $("lang").value = language();
  for (const el of document.querySelectorAll("[data-i18n]")) el.textContent = t(el.dataset.i18n);
  for (const spec of CHARTS) {
    const card = $(`card-${spec.id}`);
    card.querySelector("h2").textContent = t(`c_${spec.id}`);
    card.querySelector(".about").textContent = t(`d_${spec.id}`);
    if (!spec.query) continue;
    card.querySelector(".open-sql").textContent = t("open_in_sql");
    card.querySelector("summary").textContent = t("show_sql");
    drawCard(spec);
  }
  if (state.outcome) showOutcome();
}

function fillWorked() {
  const select = $("worked");
  select.replaceChildren(new Option(t("worked_pick"), ""));
  for (const name of Object.keys(state.queries)) select.append(new Option(name, name));
}

async function init() {
  const fromUrl = new URLSearchParams(location.search).get("token");
  if (fromUrl) { sessionStorage.setItem(KEY, fromUrl); history.replaceState(null, "", location.pathname); }
  state.key = sessionStorage.getItem(KEY);
  buildCards();
  if (!window.echarts) $("message").textContent = t("no_charts");
  $("lang").addEventListener("change", (e) => { setLanguage(e.target.value); applyLanguage(); fillWorked(); });
  $("token-save").addEventListener("click", () => {
    state.key = $("token").value.trim(); sessionStorage.setItem(KEY, state.key);
    $("token-box").hidden = true; loadCharts();
  });
  $("token").addEventListener("keydown", (e) => { if (e.key === "Enter") $("token-save").click(); });
  $("run").addEventListener("click", runFree);
  $("sql").addEventListener("keydown", (e) => { if (e.key === "Enter" && (e.ctrlKey || e.metaKey)) { e.preventDefault(); runFree(); } });
  $("csv").addEventListener("click", downloadCsv);
  $("sql").addEventListener("input", () => { $("worked").value = ""; });  // no longer the worked query
  $("worked").addEventListener("change", (e) => { if (e.target.value) $("sql").value = state.queries[e.target.value]; });
  window.addEventListener("resize", () => state.charts.forEach((c) => c.resize()));
  state.queries = await (await fetch("/analyst/queries")).json();
  fillWorked();
  applyLanguage();
  if (state.key) loadCharts(); else askForKey(t("token_needed"));
}

init();
