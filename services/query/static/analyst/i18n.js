// The analyst page's words in English and Japanese, and the locale's number and date formats.

export const TEXT = {
  en: {
    title: "Touchline analytics", language: "Language", agent_page: "Agent page",
    token_label: "Analyst key", token_save: "Use key",
    token_needed: "Enter an analyst key (touchline keys create --tenant T --role analyst).",
    token_refused: "This key cannot run SQL: it needs the analyst role.",
    sql_title: "SQL", sql_help: "One SELECT over the analytics tables, scoped to your tenant (docs/analytics.md). Ctrl+Enter runs it.",
    worked: "Worked query", worked_pick: "Load a worked query…", run: "Run", csv: "Download CSV",
    open_in_sql: "Open in SQL", show_sql: "SQL",
    rows: "{n} rows in {ms} ms", showing: "showing the first {shown} of {n} rows",
    refused: "Refused ({code})", at: "line {line}, column {column}", limit: "limit: {limit}",
    loading: "Loading…", no_rows: "No rows.", failed: "Could not load: {m}", null: "NULL",
    no_charts: "The chart library is not installed here: run `make setup`. The tables and SQL still work.",
    c_channel_mix: "Channel mix by week", d_channel_mix: "Events per channel each week, both directions.",
    c_email_funnel: "Email funnel per campaign", d_email_funnel: "Distinct messages sent, delivered, opened and clicked.",
    c_rfm_grid: "RFM grid", d_rfm_grid: "Customers by recency (days since the last purchase) and frequency (purchases in 365 days).",
    c_deciles: "Revenue deciles", d_deciles: "Buyers in ten equal groups by lifetime net revenue: each decile's share, and the running share.",
    c_cohorts: "Weekly cohort retention", d_cohorts: "Share of each first-activity week's cohort active N weeks later.",
    c_ltv: "LTV by acquisition channel", d_ltv: "Net revenue per customer by the channel of their first own activity; in their first 30 days, and to date.",
    c_ctb: "Products by month (CTB)", d_ctb: "Item revenue per product and month; the tooltip splits buyers into new and returning.",
    c_churn: "Churn-risk list", d_churn: "High churn risk, most valuable first, with the last contact on each channel.",
    c_segments_over_time: "Segment sizes over time",
    d_segments_over_time: "Not available yet: this chart will read the segment_changes table, which the projector does not write yet.",
    events: "events", customers: "customers", share: "share", cumulative: "cumulative share",
    revenue: "revenue", retention: "retention", week_number: "week", cohort_size: "cohort",
    ltv_per_customer: "to date", ltv_30d: "first 30 days", buyers: "buyers",
    new_customers: "new buyers", returning_customers: "returning buyers", units: "units", orders: "orders",
    recency: "recency (days)", frequency: "purchases", decile: "decile", range: "per buyer",
    customer: "customer", monetary: "monetary", recency_days: "days since purchase", last_purchase: "last purchase",
    last_contact: "last {c}", more_rows: "{n} more customers: open in SQL for all of them",
    steps: { sent: "sent", delivered: "delivered", opened: "opened", clicked: "clicked" },
    bands: { none: "no purchase", "0": "none" },
    channels: { phone: "Phone", email: "Email", chat: "Chat", store: "Store", web: "Web", social: "Social", sms: "SMS", account: "Account" },
    segments: { champion: "Champion", loyal: "Loyal", new: "New", at_risk: "At risk", hibernating: "Hibernating", prospect: "Prospect" },
  },
  ja: {
    title: "Touchline 分析", language: "言語", agent_page: "エージェント画面",
    token_label: "アナリストキー", token_save: "使用する",
    token_needed: "アナリストキーを入力してください（touchline keys create --tenant T --role analyst）。",
    token_refused: "このキーでは SQL を実行できません（analyst ロールが必要です）。",
    sql_title: "SQL", sql_help: "分析テーブルに対する SELECT 文を 1 つ（自テナントのみ、docs/analytics.md 参照）。Ctrl+Enter で実行。",
    worked: "定型クエリ", worked_pick: "定型クエリを読み込む…", run: "実行", csv: "CSV をダウンロード",
    open_in_sql: "SQL で開く", show_sql: "SQL",
    rows: "{n} 行（{ms} ミリ秒）", showing: "{n} 行のうち先頭 {shown} 行を表示",
    refused: "拒否されました（{code}）", at: "{line} 行目 {column} 列", limit: "上限: {limit}",
    loading: "読み込み中…", no_rows: "行がありません。", failed: "読み込めませんでした: {m}", null: "NULL",
    no_charts: "グラフライブラリが未インストールです（make setup を実行してください）。表と SQL は使えます。",
    c_channel_mix: "週別チャネル構成", d_channel_mix: "週ごとのチャネル別イベント数（双方向）。",
    c_email_funnel: "キャンペーン別メールファネル", d_email_funnel: "送信・配信・開封・クリックされたメッセージ数（重複なし）。",
    c_rfm_grid: "RFM グリッド", d_rfm_grid: "最終購入からの日数（R）と 365 日間の購入回数（F）別の顧客数。",
    c_deciles: "売上デシル", d_deciles: "累計純売上で購入者を 10 等分：各デシルの売上構成比と累積構成比。",
    c_cohorts: "週次コホート継続率", d_cohorts: "初回行動週のコホートのうち N 週後に行動した割合。",
    c_ltv: "獲得チャネル別 LTV", d_ltv: "初回の自発的行動のチャネル別、顧客あたり純売上（初回 30 日間と累計）。",
    c_ctb: "月別商品分析（CTB）", d_ctb: "商品・月ごとの商品売上。ツールチップで新規・リピート購入者を表示。",
    c_churn: "離反リスク顧客", d_churn: "離反リスク「高」の顧客を価値の高い順に、チャネル別の最終接点とともに。",
    c_segments_over_time: "セグメント規模の推移",
    d_segments_over_time: "未対応：このグラフは segment_changes テーブルを読みますが、プロジェクターはまだ書き込みません。",
    events: "イベント", customers: "顧客数", share: "構成比", cumulative: "累積構成比",
    revenue: "売上", retention: "継続率", week_number: "経過週", cohort_size: "コホート",
    ltv_per_customer: "累計", ltv_30d: "初回 30 日間", buyers: "購入者",
    new_customers: "新規購入者", returning_customers: "リピート購入者", units: "点数", orders: "注文数",
    recency: "最終購入からの日数", frequency: "購入回数", decile: "デシル", range: "購入者あたり",
    customer: "顧客", monetary: "購入金額", recency_days: "最終購入からの日数", last_purchase: "最終購入",
    last_contact: "最終{c}", more_rows: "ほか {n} 人：すべて見るには SQL で開いてください",
    steps: { sent: "送信", delivered: "配信", opened: "開封", clicked: "クリック" },
    bands: { none: "購入なし", "0": "0 回" },
    channels: { phone: "電話", email: "メール", chat: "チャット", store: "店舗", web: "ウェブ", social: "SNS", sms: "SMS", account: "アカウント" },
    segments: { champion: "優良", loyal: "ロイヤル", new: "新規", at_risk: "要注意", hibernating: "休眠", prospect: "見込み" },
  },
};

let lang = globalThis.localStorage?.getItem("touchline.lang") || "en";  // (node imports it in a test)

export const language = () => lang;
export function setLanguage(next) { lang = TEXT[next] ? next : "en"; localStorage.setItem("touchline.lang", lang); }
export const locale = () => (lang === "ja" ? "ja-JP" : "en-US");

/** The text for ``key`` with ``{name}`` filled in; a nested table (channels, segments, …) when asked. */
export function t(key, vars = {}) {
  const text = TEXT[lang][key] ?? TEXT.en[key] ?? key;
  return typeof text === "string" ? text.replace(/\{(\w+)\}/g, (_, k) => vars[k] ?? "") : text;
}
export const word = (table, value) => t(table)[value] ?? value;

export const number = (value, digits = 0) =>
  new Intl.NumberFormat(locale(), { maximumFractionDigits: digits }).format(Number(value));
export const percent = (value, digits = 1) =>
  new Intl.NumberFormat(locale(), { style: "percent", maximumFractionDigits: digits }).format(Number(value));

// Dates from SQL are UTC days ("2026-01-05") or instants ("2026-01-05T09:00:00.000Z"): shown in UTC.
const dateFormat = (options) => new Intl.DateTimeFormat(locale(), { timeZone: "UTC", ...options });
export const day = (text) => (text ? dateFormat({ month: "short", day: "numeric" }).format(new Date(text)) : "–");
export const fullDay = (text) => (text ? dateFormat({ dateStyle: "medium" }).format(new Date(text)) : "–");
export const month = (text) => dateFormat({ year: "numeric", month: "short" }).format(new Date(text));
