// The supervisor's duplicate review (名寄せ): suggested pairs with their evidence, accept or
// reject, and the merged customer's one timeline. Fills <section id="review">; shown only
// when the key may review (an agent's key gets 403 and sees nothing). No build step.
"use strict";

(() => {
  const WORDS = {
    en: {
      title: "Suggested duplicates", run: "Find duplicates", accept: "Merge", reject: "Keep apart",
      none: "No suggested duplicates.", score: "score {s}", merged: "Merged into {c}",
      rejected: "Kept apart", waiting: "Merging…", timeline: "One timeline: {n} events",
      error: "Error: {m}",
    },
    ja: {
      title: "重複候補（名寄せ）", run: "重複を検索", accept: "統合する", reject: "別人として保持",
      none: "重複候補はありません。", score: "スコア {s}", merged: "{c} に統合しました",
      rejected: "別人として保持しました", waiting: "統合中…", timeline: "統合後のタイムライン: {n} 件",
      error: "エラー: {m}",
    },
  };
  const say = (key, vars = {}) => {
    const lang = localStorage.getItem("touchline.lang") === "ja" ? "ja" : "en";
    return String(WORDS[lang][key]).replace(/\{(\w+)\}/g, (_, k) => vars[k] ?? "");
  };
  const node = (tag, props = {}, ...children) => {
    const el = Object.assign(document.createElement(tag), props);
    el.append(...children);
    return el;
  };
  const short = (id) => id.slice(0, 8);

  async function call(method, path) {
    const token = sessionStorage.getItem("touchline.token") || "";
    const response = await fetch(path, { method, headers: { Authorization: `Bearer ${token}` } });
    const body = await response.json().catch(() => ({}));
    return { status: response.status, ok: response.ok, body };
  }

  function failed(answer) {
    return say("error", { m: answer.body.error ? answer.body.error.message : answer.status });
  }

  async function load(section) {
    const answer = await call("GET", "/v1/review/duplicates");
    if (answer.status === 401 || answer.status === 403) { section.hidden = true; return; }
    section.hidden = false;
    const status = node("p", { className: "review-status", role: "status" });
    const run = node("button", { type: "button", id: "review-run", textContent: say("run") });
    run.addEventListener("click", async () => {
      const done = await call("POST", "/v1/review/duplicates/run");
      if (!done.ok) { status.textContent = failed(done); return; }
      await load(section);
    });
    const list = node("ul", { id: "review-list", className: "review-list" });
    section.replaceChildren(node("h2", { textContent: say("title") }), run, list, status);
    if (!answer.ok) { status.textContent = failed(answer); return; }
    const found = answer.body.suggestions || [];
    if (!found.length) status.textContent = say("none");
    for (const s of found) list.append(item(s, status));
  }

  function item(s, status) {
    const li = node("li", { className: "review-item" });
    li.dataset.suggestion = s.suggestion_id;
    li.dataset.customers = `${s.customer_a} ${s.customer_b}`;
    const evidence = node("span", { className: "badges" },
      ...s.evidence.map((e) => node("span", { textContent: `${e.code} ${e.weight > 0 ? "+" : ""}${e.weight}`,
                                              className: e.weight > 0 ? "granted" : "withdrawn" })));
    const accept = node("button", { type: "button", className: "review-accept", textContent: say("accept") });
    const reject = node("button", { type: "button", className: "review-reject", textContent: say("reject") });
    const outcome = node("div", { className: "review-outcome" });
    accept.addEventListener("click", async () => {
      accept.disabled = reject.disabled = true;
      outcome.textContent = say("waiting");
      const done = await call("POST", `/v1/review/duplicates/${s.suggestion_id}/accept`);
      if (!done.ok) { outcome.textContent = failed(done); accept.disabled = reject.disabled = false; return; }
      await showMerged(outcome, done.body.survivor_id, done.body.absorbed_id);
    });
    reject.addEventListener("click", async () => {
      accept.disabled = reject.disabled = true;
      const done = await call("POST", `/v1/review/duplicates/${s.suggestion_id}/reject`);
      outcome.textContent = done.ok ? say("rejected") : failed(done);
    });
    li.append(
      node("strong", { textContent: `${short(s.customer_a)} ⇄ ${short(s.customer_b)}` }), " ",
      node("span", { textContent: say("score", { s: s.score.toFixed(2) }) }), " ",
      evidence, accept, reject, outcome);
    return li;
  }

  // The merge is a command the worker applies: the absorbed customer reads as the survivor
  // once it is projected. Until then, ask again (a bounded number of times).
  async function showMerged(outcome, survivor, absorbed) {
    for (let tries = 0; tries < 120; tries++) {
      const page = await call("GET", `/v1/customers/${absorbed}/timeline?limit=100`);
      if (page.ok && page.body.customer_id === survivor) {
        const events = node("ol", { className: "timeline review-timeline" },
          ...page.body.entries.map((e) => node("li", {},
            node("span", { className: "icon", textContent: "•" }),
            node("span", { textContent: e.summary || e.type }),
            node("time", { textContent: e.occurred_at }))));
        events.dataset.customer = survivor;
        outcome.replaceChildren(node("p", { textContent: say("merged", { c: short(survivor) }) }),
          node("p", { className: "review-count", textContent: say("timeline", { n: page.body.entries.length }) }),
          events);
        return;
      }
      await new Promise((resolve) => setTimeout(resolve, 1000));
    }
    outcome.textContent = say("error", { m: "the merge has not shown yet" });
  }

  function start() {
    const section = document.getElementById("review");
    if (!section) return;
    section.hidden = true;
    load(section).catch(() => { section.hidden = true; });
    const save = document.getElementById("token-save");
    if (save) save.addEventListener("click", () => load(section).catch(() => { section.hidden = true; }));
  }

  if (document.readyState === "loading") document.addEventListener("DOMContentLoaded", start);
  else start();
})();
