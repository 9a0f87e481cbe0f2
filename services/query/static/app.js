// The agent page: search, the 360 header, the timeline, live updates. No build step.
"use strict";

const TEXT = {
  en: {
    search_label: "Find a customer", search_placeholder: "Name, phone, email, loyalty id or handle",
    purposes: { marketing: "marketing", service: "service", profiling: "profiling" },
    undeliverable: "{a}: undeliverable", merges_title: "Merge history", merged_one: "{id} merged {when}: {why}",
    consent_none: "no consent recorded", name_match: "name", detached_one: "{kind} detached {when}",
    search_button: "Search", language: "Language", token_label: "Agent token", token_save: "Use token",
    score_label: "engagement", segment: "Segment", churn: "Churn risk", last_contact: "Last contact",
    more: "Older events", all: "All", no_results: "No customer found for “{q}”.",
    results: "{n} customer(s)", fresh: "Up to date", behind: "{n} events behind",
    consent_on: "{c}: yes", consent_off: "{c}: withdrawn", unknown: "unknown", none: "none",
    exact: "exact match", prefix: "starts with", erased: "Erased customer", customer: "Customer",
    merged: "merged from {n} profiles", new_event: "New event", error: "Error: {m}",
    token_needed: "Enter an agent token (touchline keys create --tenant T --role agent).",
    channels: { phone: "Phone", email: "Email", chat: "Chat", store: "Store", web: "Web", social: "Social", sms: "SMS", online: "Online", account: "Profile", post: "Post", line: "LINE", push: "Push" },
    segments: { champion: "Champion", loyal: "Loyal", new: "New", at_risk: "At risk", hibernating: "Hibernating", prospect: "Prospect" },
    risk: { low: "low", medium: "medium", high: "high", unknown: "unknown" },
    calls: (p, d) => `${p.direction === "outbound" ? "Called out" : "Called in"}${d ? ", " + d : ""}${p.disposition ? ", " + p.disposition.replace("_", " ") : ""}${p.agent ? " by agent " + p.agent : ""}`,
    opened: (p) => `Opened email ‘${p.campaign_name || p.subject || ""}’`,
    clicked: (p) => `Clicked a link in ‘${p.campaign_name || p.subject || ""}’`,
    sent: (p) => `Was sent email ‘${p.campaign_name || p.subject || ""}’`,
    bought: (n, money, where) => `Bought ${n} item${n === 1 ? "" : "s"}, ${money}${where ? " at " + where : ""}`,
    visited: (where) => `Visited ${where || "a store"}`,
    chat: (p) => p.topic ? `Started a chat about ‘${p.topic}’` : "Started a chat",
    viewed: (p) => `Viewed ${p.title ? "‘" + p.title + "’" : p.url}`,
    duration: (s) => s >= 60 ? `${Math.floor(s / 60)} min ${s % 60} s` : `${s} s`,
  },
  ja: {
    search_label: "顧客を検索", search_placeholder: "氏名・電話番号・メール・会員番号・ハンドル",
    purposes: { marketing: "販促", service: "サービス", profiling: "分析" },
    undeliverable: "{a}: 配信不能", merges_title: "統合履歴", merged_one: "{id} を {when} に統合: {why}",
    consent_none: "同意の記録なし", name_match: "氏名", detached_one: "{kind} を {when} に分離",
    search_button: "検索", language: "言語", token_label: "エージェントトークン", token_save: "使用する",
    score_label: "エンゲージメント", segment: "セグメント", churn: "離反リスク", last_contact: "最終接点",
    more: "さらに表示", all: "すべて", no_results: "「{q}」に該当する顧客はいません。",
    results: "{n} 件の顧客", fresh: "最新", behind: "{n} 件遅延",
    consent_on: "{c}: 同意", consent_off: "{c}: 撤回", unknown: "不明", none: "なし",
    exact: "完全一致", prefix: "前方一致", erased: "削除済みの顧客", customer: "顧客",
    merged: "{n} 件のプロフィールを統合", new_event: "新しいイベント", error: "エラー: {m}",
    token_needed: "エージェントトークンを入力してください（touchline keys create --tenant T --role agent）。",
    channels: { phone: "電話", email: "メール", chat: "チャット", store: "店舗", web: "ウェブ", social: "SNS", sms: "SMS", online: "オンライン", account: "プロフィール", post: "郵送", line: "LINE", push: "プッシュ" },
    segments: { champion: "優良", loyal: "ロイヤル", new: "新規", at_risk: "要注意", hibernating: "休眠", prospect: "見込み" },
    risk: { low: "低", medium: "中", high: "高", unknown: "不明" },
    calls: (p, d) => `${p.direction === "outbound" ? "発信" : "着信"}${d ? "、" + d : ""}${p.disposition === "resolved" ? "、解決" : p.disposition ? "、" + p.disposition : ""}${p.agent ? "（担当 " + p.agent + "）" : ""}`,
    opened: (p) => `メール「${p.campaign_name || p.subject || ""}」を開封`,
    clicked: (p) => `メール「${p.campaign_name || p.subject || ""}」のリンクをクリック`,
    sent: (p) => `メール「${p.campaign_name || p.subject || ""}」を送信`,
    bought: (n, money, where) => `${where ? where + "で" : ""}${n} 点を購入、${money}`,
    visited: (where) => `${where || "店舗"}に来店`,
    chat: (p) => p.topic ? `「${p.topic}」についてチャット開始` : "チャット開始",
    viewed: (p) => `${p.title ? "「" + p.title + "」" : p.url} を閲覧`,
    duration: (s) => s >= 60 ? `${Math.floor(s / 60)}分${s % 60}秒` : `${s}秒`,
  },
};
// Symbols present in common text fonts (no emoji font needed).
const ICONS = { phone: "☎", email: "✉", chat: "❝", store: "⌂", web: "◎", social: "＠" };

const state = {
  lang: localStorage.getItem("touchline.lang") || "en",
  token: null, customer: null, cursor: null, channels: new Set(), stream: null, results: [], selected: -1,
};

const $ = (id) => document.getElementById(id);
const t = (key, vars = {}) => String(TEXT[state.lang][key] ?? TEXT.en[key] ?? key).replace(/\{(\w+)\}/g, (_, k) => vars[k] ?? "");
const locale = () => (state.lang === "ja" ? "ja-JP" : "en-US");

function formatTime(iso) {
  return new Intl.DateTimeFormat(locale(), { dateStyle: "medium", timeStyle: "short" }).format(new Date(iso));
}
function formatMoney(amount, currency) {
  try { return new Intl.NumberFormat(locale(), { style: "currency", currency: currency || "USD" }).format(Number(amount)); }
  catch { return `${amount} ${currency || ""}`.trim(); }
}

function describe(entry) {
  const p = entry.payload || {}, L = TEXT[state.lang];
  switch (entry.type) {
    case "call.completed": return L.calls(p, p.duration_s != null ? L.duration(p.duration_s) : "");
    case "email.opened": return L.opened(p);
    case "email.clicked": return L.clicked(p);
    case "email.sent": return L.sent(p);
    case "purchase.completed": {
      const n = (p.items || []).reduce((s, i) => s + (i.quantity || 1), 0) || 1;
      return L.bought(n, formatMoney(p.amount ?? p.total, p.currency), p.store_id);
    }
    case "store.visited": return L.visited(p.store_id);
    case "chat.started": return L.chat(p);
    case "web.page_viewed": return L.viewed(p);
    default: return entry.summary || entry.type;
  }
}

async function api(path) {
  const response = await fetch(path, { headers: { Authorization: `Bearer ${state.token}` } });
  const body = await response.json().catch(() => ({}));
  if (response.status === 401) askForToken();  // a bad or revoked token: let the agent enter another
  if (!response.ok) throw new Error(body.error ? body.error.message : response.statusText);
  showFreshness(body.freshness);
  return body;
}

function showFreshness(freshness) {
  if (!freshness || !freshness.touchpoints) return;
  const lag = freshness.touchpoints.lag_records;
  $("freshness").textContent = lag > 0 ? t("behind", { n: lag }) : t("fresh");
}

function message(text) { $("message").textContent = text || ""; }

function askForToken() {
  sessionStorage.removeItem("touchline.token");
  $("token-box").hidden = false;
  $("token").focus();
}

function moveSelection(step) {
  const items = [...$("result-list").children];
  if (!items.length || $("results").hidden) return false;
  state.selected = (state.selected + step + items.length) % items.length;
  items.forEach((li, i) => li.setAttribute("aria-selected", String(i === state.selected)));
  items[state.selected].focus();
  return true;
}

function onArrow(e) {
  if ((e.key === "ArrowDown" || e.key === "ArrowUp") && moveSelection(e.key === "ArrowDown" ? 1 : -1)) {
    e.preventDefault();
  }
}

async function search(query) {
  message("");
  try {
    const body = await api(`/v1/customers?query=${encodeURIComponent(query)}`);
    state.results = body.results; state.selected = body.results.length ? 0 : -1;
    const list = $("result-list"); list.replaceChildren();
    if (!body.results.length) { message(t("no_results", { q: query })); $("results").hidden = true; return; }
    body.results.forEach((hit, i) => {
      const li = document.createElement("li");
      li.setAttribute("role", "option"); li.tabIndex = 0; li.dataset.id = hit.customer_id;
      li.setAttribute("aria-selected", String(i === 0));
      const who = hit.name ? `${hit.name} · ` : "";
      const matched = hit.match === "name" ? t("name_match") : `${hit.matched.map((m) => m.value).join(", ")} — ${t(hit.match)}`;
      const last = hit.last_contact ? ` · ${t("last_contact")} ${formatTime(hit.last_contact)}` : "";
      const score = hit.score != null ? ` · ${Math.round(hit.score)}` : "";
      li.textContent = `${who}${matched}${last}${score}`;
      li.addEventListener("click", () => open(hit.customer_id));
      li.addEventListener("keydown", (e) => { if (e.key === "Enter") open(hit.customer_id); });
      list.append(li);
    });
    $("results").hidden = false;
    if (body.results.length === 1) open(body.results[0].customer_id);
  } catch (e) { message(t("error", { m: e.message })); }
}

async function open(id) {
  $("results").hidden = true;
  state.customer = id; state.cursor = null;
  try {
    const profile = await api(`/v1/customers/${id}`);
    state.customer = profile.customer_id;
    renderProfile(profile);
    $("timeline").replaceChildren();
    await loadTimeline();
    listen();
    $("customer").hidden = false;
  } catch (e) { message(t("error", { m: e.message })); }
}

function renderProfile(p) {
  const ids = p.identities || {};
  const first = ids.email?.[0] || ids.phone?.[0] || ids.loyalty_id?.[0] || p.customer_id;
  $("customer-title").textContent = p.erased ? t("erased") : (p.name || `${t("customer")} ${first}`);
  const name = (p.profile || {}).name || {};
  const kana = [name.family_kana, name.given_kana].filter(Boolean).join(" ");
  $("customer-kana").textContent = p.erased ? "" : kana;
  const details = $("profile-details"); details.replaceChildren();
  const pr = p.profile || {};
  const address = pr.address ? [pr.address.postal_code && `〒${pr.address.postal_code}`, pr.address.region, pr.address.city,
    pr.address.line1, pr.address.line2, pr.address.country].filter(Boolean).join(" ") : "";
  for (const text of [pr.company, address, pr.birthday, ...Object.entries(pr.attributes || {}).map(([k, v]) => `${k}: ${v}`)]) {
    if (!text) continue;
    const span = document.createElement("span"); span.textContent = text; details.append(span);
  }
  const identities = $("identities"); identities.replaceChildren();
  for (const [kind, values] of Object.entries(ids)) for (const v of values) {
    const span = document.createElement("span"); span.textContent = `${kind}: ${v}`; identities.append(span);
  }
  if (p.aliases?.length) { const s = document.createElement("span"); s.textContent = t("merged", { n: p.aliases.length + 1 }); identities.append(s); }
  const consent = $("consent"); consent.replaceChildren();
  const words = TEXT[state.lang];
  for (const [channel, purposes] of Object.entries(p.consent || {})) {
    const known = Object.entries(purposes).filter(([, e]) => e.state !== "unknown");
    for (const [purpose, entry] of known) {
      const s = document.createElement("span"); s.className = entry.state;
      const label = `${words.channels[channel] || channel} ${words.purposes[purpose] || purpose}`;
      s.textContent = t(entry.state === "granted" ? "consent_on" : "consent_off", { c: label });
      s.title = [entry.at && formatTime(entry.at), entry.source, entry.proof?.text].filter(Boolean).join(" · ");
      consent.append(s);
    }
  }
  if (!consent.children.length && !p.erased) {
    const s = document.createElement("span"); s.className = "unknown"; s.textContent = t("consent_none"); consent.append(s);
  }
  for (const u of p.undeliverable || []) {
    const s = document.createElement("span"); s.className = "withdrawn"; s.textContent = t("undeliverable", { a: u.address }); consent.append(s);
  }
  for (const g of p.segments || []) { // segment badges, beside consent (the profile's `segments`)
    const s = document.createElement("span"); s.className = "segment"; s.textContent = g.name; s.title = String(g.since); consent.append(s);
  }
  const merges = $("merges"); merges.replaceChildren();
  for (const m of p.merges || []) {
    const li = document.createElement("li");
    if (m.action === "merged") {
      const why = [m.rule, m.reason, m.requested_by && `(${m.requested_by})`].filter(Boolean).join(" ");
      li.textContent = t("merged_one", { id: String(m.merged_id).slice(0, 8), when: formatTime(m.at), why });
    } else {
      li.textContent = t("detached_one", { kind: m.kind || "", when: formatTime(m.at) });
    }
    merges.append(li);
  }
  $("merges-box").hidden = !(p.merges || []).length;
  renderScore(p.engagement);
  $("segment").textContent = p.rfm ? (TEXT[state.lang].segments[p.rfm.segment] || p.rfm.segment) : t("none");
  $("churn").textContent = p.rfm ? (TEXT[state.lang].risk[p.rfm.churn_risk] || p.rfm.churn_risk) : t("unknown");
  // the customer's own contacts: a profile update from an import is not one
  const last = Object.entries(p.channels || {}).filter(([ch]) => ch !== "account").sort((a, b) => String(b[1].last_contact).localeCompare(String(a[1].last_contact)))[0];
  $("last-contact").textContent = last ? `${TEXT[state.lang].channels[last[0]] || last[0]}, ${formatTime(last[1].last_contact)}` : t("none");
  renderChips(Object.keys(p.channels || {}));
}

function renderScore(engagement) {
  $("score").textContent = engagement ? Number(engagement.score).toFixed(1) : "–";
  const list = $("contributions"); list.replaceChildren();
  for (const c of (engagement?.contributions || []).slice(0, 3)) {
    const li = document.createElement("li");
    li.textContent = `${TEXT[state.lang].channels[c.channel] || c.channel} · ${c.type} ×${c.events}: ${Number(c.value).toFixed(1)}`;
    list.append(li);
  }
}

function renderChips(channels) {
  const chips = $("chips"); chips.replaceChildren();
  const all = document.createElement("button");
  all.type = "button"; all.textContent = t("all"); all.setAttribute("aria-pressed", String(state.channels.size === 0));
  all.addEventListener("click", () => { state.channels.clear(); renderChips(channels); reload(); });
  chips.append(all);
  for (const channel of channels) {
    const b = document.createElement("button");
    b.type = "button"; b.dataset.channel = channel;
    b.textContent = `${ICONS[channel] || "•"} ${TEXT[state.lang].channels[channel] || channel}`;
    b.setAttribute("aria-pressed", String(state.channels.has(channel)));
    b.addEventListener("click", () => {
      state.channels.has(channel) ? state.channels.delete(channel) : state.channels.add(channel);
      renderChips(channels); reload();
    });
    chips.append(b);
  }
}

async function reload() { state.cursor = null; $("timeline").replaceChildren(); await loadTimeline(); }

async function loadTimeline() {
  const params = new URLSearchParams({ limit: "50" });
  for (const c of state.channels) params.append("channel", c);
  if (state.cursor) params.set("cursor", state.cursor);
  const body = await api(`/v1/customers/${state.customer}/timeline?${params}`);
  for (const entry of body.entries) $("timeline").append(row(entry, false));
  state.cursor = body.next_cursor;
  $("more").hidden = !state.cursor;
}

function row(entry, fresh) {
  const li = document.createElement("li");
  li.dataset.eventId = entry.event_id; li.dataset.channel = entry.channel; li.dataset.entry = JSON.stringify(entry);
  if (fresh) li.classList.add("new");
  const icon = document.createElement("span"); icon.className = "icon"; icon.textContent = ICONS[entry.channel] || "•";
  icon.setAttribute("aria-label", TEXT[state.lang].channels[entry.channel] || entry.channel);
  const text = document.createElement("div");
  const line = document.createElement("div"); line.className = "summary"; line.textContent = describe(entry);
  const meta = document.createElement("div"); meta.className = "meta"; meta.textContent = `${entry.type} · ${entry.source}`;
  text.append(line, meta);
  const time = document.createElement("time"); time.dateTime = entry.occurred_at; time.textContent = formatTime(entry.occurred_at);
  li.append(icon, text, time);
  return li;
}

function listen() {
  if (state.stream) state.stream.close();
  const source = new EventSource(`/v1/customers/${state.customer}/stream?token=${encodeURIComponent(state.token)}`);
  source.addEventListener("touchpoint", (e) => {
    const entry = JSON.parse(e.data);
    if (document.querySelector(`[data-event-id="${entry.event_id}"]`)) return;
    if (state.channels.size && !state.channels.has(entry.channel)) return;
    const list = $("timeline");
    const newer = [...list.children].find((li) => JSON.parse(li.dataset.entry).occurred_at <= entry.occurred_at);
    list.insertBefore(row(entry, true), newer || null);
  });
  source.addEventListener("score", (e) => renderScore(JSON.parse(e.data)));
  source.addEventListener("revoked", () => { source.close(); state.stream = null; askForToken(); });
  state.stream = source;
}

function applyLanguage() {
  document.documentElement.lang = state.lang;
  for (const el of document.querySelectorAll("[data-i18n]")) el.textContent = t(el.dataset.i18n);
  for (const el of document.querySelectorAll("[data-i18n-placeholder]")) el.placeholder = t(el.dataset.i18nPlaceholder);
  $("lang").value = state.lang;
  for (const li of $("timeline").children) {
    const entry = JSON.parse(li.dataset.entry);
    li.querySelector(".summary").textContent = describe(entry);
    li.querySelector("time").textContent = formatTime(entry.occurred_at);
  }
  if (state.customer) api(`/v1/customers/${state.customer}`).then(renderProfile).catch(() => {});
}

function init() {
  const fromUrl = new URLSearchParams(location.search).get("token");
  if (fromUrl) { sessionStorage.setItem("touchline.token", fromUrl); history.replaceState(null, "", "/"); }
  state.token = sessionStorage.getItem("touchline.token");
  $("token-box").hidden = Boolean(state.token);
  if (!state.token) message(t("token_needed"));
  $("token-save").addEventListener("click", () => {
    state.token = $("token").value.trim(); sessionStorage.setItem("touchline.token", state.token);
    $("token-box").hidden = true; message("");
  });
  $("token").addEventListener("keydown", (e) => { if (e.key === "Enter") $("token-save").click(); });
  $("search-form").addEventListener("submit", (e) => { e.preventDefault(); const q = $("search").value.trim(); if (q) search(q); });
  // Arrows work from the search box and from the list itself (focus moves to the list's items).
  $("search").addEventListener("keydown", onArrow);
  $("result-list").addEventListener("keydown", onArrow);
  $("more").addEventListener("click", () => loadTimeline().catch((e) => message(t("error", { m: e.message }))));
  $("lang").addEventListener("change", (e) => { state.lang = e.target.value; localStorage.setItem("touchline.lang", state.lang); applyLanguage(); });
  applyLanguage();
}

init();
