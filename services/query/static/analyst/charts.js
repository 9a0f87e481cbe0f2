// The page's charts: which worked query each reads, and how its rows become an ECharts option.
// Rows arrive as objects keyed by column name, exactly as POST /v1/sql answers them.
import { day, fullDay, month, number, percent, t, word } from "./i18n.js";

const CHANNEL_COLORS = { phone: "#5470c6", email: "#91cc75", chat: "#fac858", store: "#ee6666", web: "#73c0de", social: "#3ba272", sms: "#fc8452", account: "#9a60b4" };
const unique = (values) => [...new Set(values)];
const grid = { left: 8, right: 16, top: 40, bottom: 8, containLabel: true };
const legend = { top: 0 };
const count = (v) => number(v);

function channelMix(rows) {
  const weeks = unique(rows.map((r) => r.week)).sort();
  const channels = unique(rows.map((r) => r.channel)).sort();
  const at = new Map(rows.map((r) => [`${r.week}|${r.channel}`, r.events]));
  return {
    grid, legend, tooltip: { trigger: "axis", valueFormatter: count },
    xAxis: { type: "category", data: weeks.map(day) },
    yAxis: { type: "value", axisLabel: { formatter: count } },
    series: channels.map((c) => ({
      name: word("channels", c), type: "bar", stack: "events", color: CHANNEL_COLORS[c],
      data: weeks.map((w) => at.get(`${w}|${c}`) ?? 0),
    })),
  };
}

function emailFunnel(rows) {
  const steps = ["sent", "delivered", "opened", "clicked"];
  return {
    grid, legend, tooltip: { trigger: "axis", axisPointer: { type: "shadow" }, valueFormatter: count },
    yAxis: { type: "category", inverse: true, data: rows.map((r) => `${r.campaign_name || r.campaign_id} · ${day(r.first_day)}`) },
    xAxis: { type: "value", axisLabel: { formatter: count } },
    series: steps.map((s) => ({ name: word("steps", s), type: "bar", data: rows.map((r) => r[s]) })),
  };
}

const RECENCY = ["none", "91-365", "31-90", "0-30"];  // bottom to top: the recent are on top
const FREQUENCY = ["0", "1", "2-4", "5+"];
const band = (value) => word("bands", value);

function rfmGrid(rows) {
  const cells = rows.map((r) => ({
    value: [FREQUENCY.indexOf(r.frequency_band), RECENCY.indexOf(r.recency_band), r.customer_count],
    segment: r.segment, monetary: r.monetary,
  }));
  return {
    grid: { ...grid, bottom: 56 },
    tooltip: { formatter: (p) => `${word("segments", p.data.segment)}<br>${t("customers")}: ${count(p.data.value[2])}<br>${t("monetary")}: ${number(p.data.monetary)}` },
    xAxis: { type: "category", name: t("frequency"), nameLocation: "middle", nameGap: 28, data: FREQUENCY.map(band) },
    yAxis: { type: "category", name: t("recency"), data: RECENCY.map(band) },
    // the scale stops at the largest cell of buyers: the prospects' cell would wash the others out
    visualMap: { min: 0, max: Math.max(1, ...rows.filter((r) => r.recency_band !== "none").map((r) => r.customer_count)), orient: "horizontal", left: "center", bottom: 0, itemHeight: 120, inRange: { color: ["#eef4fb", "#14335c"] } },
    series: [{
      type: "heatmap", data: cells,
      label: { show: true, formatter: (p) => `${word("segments", p.data.segment)}\n${count(p.data.value[2])}` },
    }],
  };
}

function deciles(rows) {
  return {
    grid, legend, tooltip: { trigger: "axis", valueFormatter: (v) => percent(v) },
    xAxis: { type: "category", name: t("decile"), data: rows.map((r) => String(r.decile)) },
    yAxis: { type: "value", max: 1, axisLabel: { formatter: (v) => percent(v, 0) } },
    series: [
      { name: t("share"), type: "bar", data: rows.map((r) => r.revenue_share), label: { show: true, position: "top", formatter: (p) => percent(p.value) } },
      { name: t("cumulative"), type: "line", data: rows.map((r) => r.cumulative_share) },
    ],
  };
}

function decileTable(rows) {
  return table(
    [t("decile"), t("customers"), t("revenue"), t("share"), t("cumulative"), t("range")],
    rows.map((r) => [r.decile, count(r.customers), number(r.revenue), percent(r.revenue_share), percent(r.cumulative_share),
                     `${number(r.min_revenue)} – ${number(r.max_revenue)}`]),
  );
}

function cohorts(rows) {
  const weeks = unique(rows.map((r) => r.cohort_week)).sort();
  const span = Math.max(0, ...rows.map((r) => r.week_number));
  const size = new Map(rows.map((r) => [r.cohort_week, r.cohort_size]));
  return {
    grid: { ...grid, bottom: 56 },
    tooltip: { formatter: (p) => `${day(weeks[p.value[1]])} (${t("cohort_size")} ${count(size.get(weeks[p.value[1]]))})<br>${t("week_number")} ${p.value[0]}: ${percent(p.value[2])}` },
    xAxis: { type: "category", name: t("week_number"), nameLocation: "middle", nameGap: 28, data: [...Array(span + 1).keys()].map(String) },
    yAxis: { type: "category", inverse: true, data: weeks.map((w) => `${day(w)} (${count(size.get(w))})`) },
    visualMap: { min: 0, max: 1, orient: "horizontal", left: "center", bottom: 0, itemHeight: 120, formatter: (v) => percent(v, 0), inRange: { color: ["#fff7e0", "#c2410c"] } },
    series: [{
      type: "heatmap", data: rows.map((r) => [r.week_number, weeks.indexOf(r.cohort_week), r.retention]),
      label: { show: true, fontSize: 10, formatter: (p) => percent(p.value[2], 0) },
    }],
  };
}

function ltv(rows) {
  return {
    grid, legend, tooltip: { trigger: "axis", axisPointer: { type: "shadow" }, valueFormatter: (v) => number(v) },
    xAxis: { type: "category", axisLabel: { interval: 0 }, data: rows.map((r) => word("channels", r.acquisition_channel)) },
    yAxis: { type: "value", axisLabel: { formatter: count } },
    series: [
      { name: t("ltv_30d"), type: "bar", data: rows.map((r) => r.ltv_30d) },
      { name: t("ltv_per_customer"), type: "bar", data: rows.map((r) => r.ltv_per_customer) },
    ],
  };
}

function ctb(rows) {
  const months = unique(rows.map((r) => r.month)).sort();
  const skus = unique(rows.map((r) => r.sku)).sort();
  const name = new Map(rows.map((r) => [r.sku, r.name || r.sku]));
  const cells = rows.map((r) => ({ value: [months.indexOf(r.month), skus.indexOf(r.sku), Number(r.revenue)], row: r }));
  return {
    grid: { ...grid, bottom: 56 },
    tooltip: { formatter: ({ data: { row: r } }) => `${r.name || r.sku} · ${month(r.month)}<br>${t("revenue")}: ${number(r.revenue)}<br>` +
      `${t("buyers")}: ${count(r.customers)} (${t("new_customers")} ${count(r.new_customers)}, ${t("returning_customers")} ${count(r.returning_customers)})<br>` +
      `${t("orders")}: ${count(r.orders)}, ${t("units")}: ${count(r.units)}` },
    xAxis: { type: "category", axisLabel: { interval: 0 }, data: months.map(month) },
    yAxis: { type: "category", data: skus.map((s) => name.get(s)) },
    visualMap: { min: 0, max: Math.max(1, ...cells.map((c) => c.value[2])), orient: "horizontal", left: "center", bottom: 0, itemHeight: 120, formatter: (v) => number(v), inRange: { color: ["#eefaf1", "#166534"] } },
    series: [{ type: "heatmap", data: cells, label: { show: true, fontSize: 10, formatter: (p) => number(p.value[2]) } }],
  };
}

const CONTACTS = ["phone", "email", "sms", "chat", "social", "store", "web"];
const SHOWN = 15;

function churnTable(rows) {
  const head = [t("customer"), t("monetary"), t("frequency"), t("recency_days"), t("last_purchase"),
                ...CONTACTS.map((c) => t("last_contact", { c: word("channels", c) }))];
  const body = rows.slice(0, SHOWN).map((r) => [
    String(r.customer_id).slice(0, 8), number(r.monetary), count(r.frequency), number(r.recency_days, 1),
    fullDay(r.last_purchase_at), ...CONTACTS.map((c) => fullDay(r[`last_${c}`])),
  ]);
  const out = table(head, body);
  if (rows.length > SHOWN) out.caption.textContent = t("more_rows", { n: count(rows.length - SHOWN) });
  return out;
}

/** A plain table; numbers are right-aligned by the stylesheet (class ``num`` on cells after the first). */
export function table(head, body) {
  const el = document.createElement("table");
  el.createCaption();
  const tr = el.createTHead().insertRow();
  for (const h of head) tr.append(Object.assign(document.createElement("th"), { textContent: h }));
  const tbody = el.createTBody();
  for (const cells of body) {
    const row = tbody.insertRow();
    cells.forEach((c, i) => { const td = row.insertCell(); td.textContent = c; if (i) td.className = "num"; });
  }
  return el;
}

// In page order. `query` names a worked query of docs/analytics.md; a slot without one waits for its table.
export const CHARTS = [
  { id: "channel_mix", query: "channel_mix_weekly", draw: channelMix },
  { id: "email_funnel", query: "email_funnel", draw: emailFunnel },
  { id: "rfm_grid", query: "rfm_grid", draw: rfmGrid },
  { id: "ltv", query: "ltv_by_acquisition_channel", draw: ltv },
  { id: "deciles", query: "revenue_deciles", draw: deciles, table: decileTable, wide: true },
  { id: "cohorts", query: "weekly_cohort_retention", draw: cohorts, tall: true, wide: true },
  { id: "ctb", query: "ctb_product_month", draw: ctb },
  { id: "segments_over_time", query: null },
  { id: "churn", query: "churn_risk", table: churnTable, wide: true },
];
