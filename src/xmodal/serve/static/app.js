// xmodal's search page: plain JS over the /v1 API. The search lives in the URL (?q=&m=&k=&rerank=
// &where=&min=&like=) so it can be shared; a file query cannot be, and is kept in memory only.
"use strict";

const $ = (sel) => document.querySelector(sel);
const API = new URL("v1/", document.baseURI);

const state = { q: "", m: [], k: 20, rerank: "none", where: "", min: "", like: "" };
let queryFile = null;   // a File chosen, dropped or pasted
let nextOffset = null;
let likeName = "";
let searchSeq = 0;      // answers to an older search are ignored

// ---------------------------------------------------------------- URL state
function readURL() {
  const p = new URLSearchParams(location.search);
  state.q = p.get("q") || "";
  state.m = p.getAll("m");
  state.k = Number(p.get("k")) || 20;
  state.rerank = p.get("rerank") || "none";
  state.where = p.get("where") || "";
  state.min = p.get("min") || "";
  state.like = p.get("like") || "";
}

function writeURL(push) {
  const p = new URLSearchParams();
  if (state.q) p.set("q", state.q);
  state.m.forEach((m) => p.append("m", m));
  if (state.k !== 20) p.set("k", state.k);
  if (state.rerank !== "none") p.set("rerank", state.rerank);
  if (state.where) p.set("where", state.where);
  if (state.min !== "") p.set("min", state.min);
  if (state.like) p.set("like", state.like);
  const url = location.pathname + (p.toString() ? "?" + p : "");
  if (url !== location.pathname + location.search) history[push ? "pushState" : "replaceState"](null, "", url);
}

function stateToControls() {
  $("#q").value = state.q;
  $("#k").value = String(state.k);
  $("#rerank").value = state.rerank;
  $("#where").value = state.where;
  $("#min-score").value = state.min;
  document.querySelectorAll(".mod-chip").forEach((b) => b.setAttribute("aria-pressed", String(state.m.includes(b.dataset.modality))));
  $("#like-chip").hidden = !state.like;
  $("#like-name").textContent = state.like ? `More like ${likeName || state.like}` : "";
}

function controlsToState() {
  state.q = $("#q").value.trim();
  state.k = Number($("#k").value) || 20;
  state.rerank = $("#rerank").value;
  state.where = $("#where").value.trim();
  state.min = $("#min-score").value;
  state.m = [...document.querySelectorAll('.mod-chip[aria-pressed="true"]')].map((b) => b.dataset.modality);
}

// ---------------------------------------------------------------- API
async function api(path, options = {}) {
  const res = await fetch(new URL(path, API), { credentials: "same-origin", ...options });
  if (res.status === 401) {
    await askForKey();
    return api(path, options);
  }
  const body = res.headers.get("content-type")?.includes("json") ? await res.json() : null;
  if (!res.ok) {
    let detail = body && body.detail;
    if (Array.isArray(detail)) detail = detail.map((d) => `${(d.loc || []).slice(1).join(".")}: ${d.msg}`).join("; ");
    throw new Error(detail || `${res.status} ${res.statusText}`);
  }
  return body;
}

let keyPrompt = null;  // one dialog, however many requests were refused at once

function askForKey() {
  if (keyPrompt) return keyPrompt;
  const dlg = $("#key-dialog");
  keyPrompt = new Promise((resolve) => {
    $("#key-form").onsubmit = async (ev) => {
      ev.preventDefault();
      const res = await fetch(new URL("session", API), { method: "POST", headers: { Authorization: `Bearer ${$("#key").value}` } });
      if (res.ok) {
        $("#key").value = "";
        $("#key-error").textContent = "";
        dlg.close();
        keyPrompt = null;
        resolve();
      } else {
        $("#key-error").textContent = res.status === 403 ? "That key is not right." : `Error ${res.status}`;
      }
    };
    dlg.showModal();
  });
  return keyPrompt;
}

function searchParams(offset) {
  const p = new URLSearchParams({ k: state.k, offset });
  state.m.forEach((m) => p.append("modality", m));
  if (state.where) p.set("where", state.where);
  if (state.min !== "") p.set("min_score", state.min);
  return p;
}

// ---------------------------------------------------------------- search
async function search({ append = false } = {}) {
  const seq = ++searchSeq;
  const offset = append ? nextOffset : 0;
  const p = searchParams(offset);
  let request;
  if (state.like) {
    request = api(`items/${encodeURIComponent(state.like)}/similar?${p}`);
    if (!likeName) {  // opened from a shared URL: name the item
      api(`items/${encodeURIComponent(state.like)}`).then((it) => { likeName = it.name || it.id; stateToControls(); }).catch(() => {});
    }
  } else if (queryFile) {
    if (state.rerank !== "none") p.set("rerank", state.rerank);
    const form = new FormData();
    form.append("file", queryFile, queryFile.name || "pasted");
    if (state.q) form.append("q", state.q);
    request = api(`search?${p}`, { method: "POST", body: form });
  } else if (state.q) {
    if (state.rerank !== "none") p.set("rerank", state.rerank);
    p.set("q", state.q);
    request = api(`search?${p}`);
  } else {
    $("#grid").replaceChildren();
    $("#more").hidden = true;
    setStatus("");
    return;
  }
  setStatus("Searching…");
  document.body.classList.add("busy");
  try {
    const data = await request;
    if (seq !== searchSeq) return;
    if (!append) $("#grid").replaceChildren();
    data.results.forEach((r, i) => $("#grid").append(card(r, offset + i + 1)));
    nextOffset = data.next_offset;
    $("#more").hidden = nextOffset == null;
    const n = $("#grid").children.length;
    setStatus(n ? `${n} result${n === 1 ? "" : "s"}${describeQuery()}` : `No results${describeQuery()}`);
  } catch (err) {
    if (seq === searchSeq) setStatus(err.message, true);
  } finally {
    if (seq === searchSeq) document.body.classList.remove("busy");
  }
}

function describeQuery() {
  if (state.like) return ` like ${likeName || state.like}`;
  const parts = [];
  if (state.q) parts.push(`“${state.q}”`);
  if (queryFile) parts.push(queryFile.name || "the pasted file");
  return parts.length ? ` for ${parts.join(" + ")}` : "";
}

function setStatus(text, error = false) {
  const s = $("#status");
  s.textContent = text;
  s.classList.toggle("error", error);
}

function el(tag, attrs = {}, ...children) {
  const e = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) {
    if (v == null || v === false) continue;
    if (k === "class") e.className = v;
    else if (k === "text") e.textContent = v;
    else e.setAttribute(k, v === true ? "" : v);
  }
  e.append(...children.filter((c) => c != null));
  return e;
}

const fmt = (x) => (typeof x === "number" ? x.toFixed(3) : String(x));

function fragment(seg) {
  // media fragment: the player starts at the matched span (and stops at its end)
  if (!seg || seg.start == null) return "";
  const end = seg.end != null && seg.end > seg.start ? `,${seg.end.toFixed(2)}` : "";
  return `#t=${seg.start.toFixed(2)}${end}`;
}

// a video's match says which sense carried it (segment.evidence): shown as a badge in words
const SENSES = {
  sound: ["heard", "matched by what is heard at this moment"],
  picture: ["seen", "matched by what is seen at this moment"],
  both: ["heard and seen", "matched by what is heard and what is seen at this moment"],
};

function matched(r) {
  // {span: the matched time span, page or region; sense: [words, explanation] or null}
  const ev = (r.segment && r.segment.evidence) || "";
  const sense = SENSES[ev] || null;
  // `where` ends with " (sound)" etc. when the sense is known: the badge says it instead
  const span = r.where && sense ? r.where.replace(` (${ev})`, "") : r.where;
  return { span, sense };
}

function described(label, r) {
  const { span, sense } = matched(r);
  return `${label}${span ? ", from " + span : ""}${sense ? ", " + sense[0] : ""}`;
}

function picture(src, alt, cls) {
  // the frame takes the picture's own aspect ratio, so a box drawn in % of it lands on the picture
  const img = el("img", { src, alt, loading: "lazy" });
  const frame = el("div", { class: cls }, img);
  img.addEventListener("load", () => frame.style.setProperty("--ar", img.naturalWidth / Math.max(img.naturalHeight, 1)));
  return frame;
}

function mediaBlock(r) {
  const label = r.name || r.id;
  const seg = r.segment || {};
  if (r.modality === "image" && r.thumbnail_url) {
    const frame = picture(r.thumbnail_url, label, "frame");
    if (seg.box) {
      const [x0, y0, x1, y1] = seg.box;
      const box = el("div", { class: "box", title: "where it matched", "aria-hidden": "true" });
      Object.assign(box.style, { left: `${x0 * 100}%`, top: `${y0 * 100}%`, width: `${(x1 - x0) * 100}%`, height: `${(y1 - y0) * 100}%` });
      frame.append(box);
    }
    return el("a", { href: r.media_url, target: "_blank", rel: "noopener", class: "media-box" }, frame);
  }
  if (r.modality === "video" && r.media_url) {
    return el("div", { class: "media-box" }, el("video", { controls: true, preload: "metadata", src: r.media_url + fragment(seg),
      poster: r.thumbnail_url, "aria-label": described(label, r) }));
  }
  if (r.modality === "audio" && r.media_url) {
    return el("audio", { controls: true, preload: "metadata", src: r.media_url + fragment(seg),
                          "aria-label": described(label, r) });
  }
  if (r.modality === "document" && r.thumbnail_url) {
    const page = seg.page || 1;
    return el("a", { href: `${r.media_url}#page=${page}`, target: "_blank", rel: "noopener", class: "media-box" },
      picture(r.thumbnail_url, `page ${page} of ${label}`, "frame page"));
  }
  return null;
}

function stages(scores) {
  const dl = el("dl", { class: "stages" });
  for (const [k, v] of Object.entries(scores || {})) dl.append(el("dt", { text: k }), el("dd", { text: fmt(v) }));
  return dl;
}

function card(r, rank) {
  const title = r.name || r.id;
  const snippet = (r.segment && r.segment.text) || r.text || "";
  const like = el("button", { type: "button", class: "similar", text: "More like this", "aria-label": `More like ${title}` });
  like.addEventListener("click", () => moreLike(r.id, title));
  const { span, sense } = matched(r);
  const reason = (r.meta && typeof r.meta.reason === "string" && r.meta.reason) || "";  // set by a reranker
  return el("li", { class: `card ${r.modality}`, "data-id": r.id, "data-modality": r.modality },
    mediaBlock(r),
    el("div", { class: "body" },
      el("h3", { class: "name", text: `${rank}. ${title}` }),
      el("p", { class: "badges" }, el("span", { class: "mod", text: r.modality }),
        span ? el("span", { class: "where", text: span }) : null,
        sense ? el("span", { class: `sense ${r.segment.evidence}`, text: sense[0], title: sense[1] }) : null),
      reason ? el("p", { class: "match-reason", text: reason }) : null,
      el("p", { class: "score" }, "score ", el("strong", { text: fmt(r.score) })),
      stages(r.scores),
      snippet ? el("p", { class: "snippet", text: snippet.slice(0, 280) }) : null,
      like));
}

function moreLike(id, name) {
  state.like = id;
  likeName = name;
  clearFile(false);
  writeURL(true);
  stateToControls();
  search();
  $("#results").focus();
}

// ---------------------------------------------------------------- files: chooser, drop, paste
function setFile(file) {
  if (!file) return;
  queryFile = file;
  state.like = "";
  $("#file-name").textContent = `File: ${file.name || "pasted " + (file.type || "file")}`;
  $("#file-chip").hidden = false;
  controlsToState();
  writeURL(true);
  stateToControls();
  search();
}

function clearFile(rerun = true) {
  queryFile = null;
  $("#file").value = "";
  $("#file-chip").hidden = true;
  if (rerun) search();
}

function wireFiles() {
  $("#pick").addEventListener("click", () => $("#file").click());
  $("#file").addEventListener("change", (ev) => setFile(ev.target.files[0]));
  $("#clear-file").addEventListener("click", () => { clearFile(); $("#q").focus(); });
  let depth = 0;
  document.addEventListener("dragenter", (ev) => {
    if (![...(ev.dataTransfer?.types || [])].includes("Files")) return;
    depth++;
    $("#drop-overlay").hidden = false;
  });
  document.addEventListener("dragleave", () => { if (--depth <= 0) { depth = 0; $("#drop-overlay").hidden = true; } });
  document.addEventListener("dragover", (ev) => ev.preventDefault());
  document.addEventListener("drop", (ev) => {
    ev.preventDefault();
    depth = 0;
    $("#drop-overlay").hidden = true;
    setFile(ev.dataTransfer?.files?.[0]);
  });
  document.addEventListener("paste", (ev) => {
    const file = [...(ev.clipboardData?.files || [])][0];
    if (file) { ev.preventDefault(); setFile(file); }
  });
}

// ---------------------------------------------------------------- ask
async function ask(ev) {
  ev.preventDefault();
  const question = $("#question").value.trim() || state.q;
  if (!question && !queryFile) { $("#ask-status").textContent = "Type a question first."; return; }
  $("#ask-status").textContent = "Asking… an LLM reads the top results (this can take a while).";
  $("#ask-go").disabled = true;
  $("#answer").hidden = true;
  try {
    let data;
    if (queryFile) {
      const form = new FormData();
      form.append("file", queryFile, queryFile.name || "pasted");
      if (question) form.append("question", question);
      form.append("k", Math.min(state.k, 10));
      form.append("rerank", state.rerank);
      data = await api("ask/file", { method: "POST", body: form });
    } else {
      data = await api("ask", { method: "POST", headers: { "Content-Type": "application/json" },
        body: JSON.stringify({ question, k: Math.min(state.k, 10), modality: state.m.length ? state.m : null,
                               rerank: state.rerank, augment: $("#augment").checked }) });
    }
    showAnswer(data);
    $("#ask-status").textContent = `Answered in ${(data.timings?.ask_s ?? 0).toFixed(1)} s.`;
  } catch (err) {
    $("#ask-status").textContent = err.message;
  } finally {
    $("#ask-go").disabled = false;
  }
}

function showAnswer(data) {
  const text = $("#answer-text");
  text.replaceChildren();
  // the answer cites kept items as [n]: make each a link to that item
  const parts = (data.answer || "(no answer: see the kept items below)").split(/(\[\d+\])/);
  for (const part of parts) {
    const m = part.match(/^\[(\d+)\]$/);
    text.append(m ? el("a", { href: `#kept-${m[1]}`, class: "cite", text: part }) : part);
  }
  $("#kept").replaceChildren(...data.kept.map((it) => {
    const thumb = it.thumbnail_url ? el("img", { src: it.thumbnail_url, alt: "", loading: "lazy", class: "mini" }) : null;
    const ev = (it.evidence || []).slice(0, 2).map((e) => e.text).filter(Boolean).join("; ");
    return el("li", { id: `kept-${it.n}`, value: it.n },
      thumb, el("strong", { text: it.path || it.id }), ` (${it.modality})`,
      it.reason ? el("div", { class: "reason", text: it.reason }) : null,
      ev ? el("div", { class: "evidence", text: ev.slice(0, 200) }) : null);
  }));
  $("#dropped").replaceChildren(...data.dropped.map((it) =>
    el("li", {}, el("span", { text: it.path || it.id }), it.reason ? el("span", { class: "reason", text: ` — ${it.reason}` }) : null)));
  $("#notes").replaceChildren(...(data.notes || []).map((n) => el("li", { text: n })));
  $("#answer").hidden = false;
}

// ---------------------------------------------------------------- wiring
function init() {
  readURL();
  stateToControls();
  wireFiles();
  $("#search-form").addEventListener("submit", (ev) => {
    ev.preventDefault();
    controlsToState();
    state.like = "";
    writeURL(true);
    stateToControls();
    search();
  });
  document.querySelectorAll(".mod-chip").forEach((b) => b.addEventListener("click", () => {
    b.setAttribute("aria-pressed", String(b.getAttribute("aria-pressed") !== "true"));
    controlsToState();
    writeURL(true);
    search();
  }));
  for (const id of ["#k", "#rerank"]) $(id).addEventListener("change", () => { controlsToState(); writeURL(true); search(); });
  $("#clear-like").addEventListener("click", () => { state.like = ""; writeURL(true); stateToControls(); search(); $("#q").focus(); });
  $("#more").addEventListener("click", () => search({ append: true }));
  $("#ask-form").addEventListener("submit", ask);
  window.addEventListener("popstate", () => { readURL(); stateToControls(); search(); });
  document.addEventListener("keydown", (ev) => {
    // "/" jumps to the search box, as on many search pages
    if (ev.key === "/" && !/^(INPUT|SELECT|TEXTAREA)$/.test(document.activeElement?.tagName || "")) {
      ev.preventDefault();
      $("#q").focus();
    }
  });
  if (state.q || state.like) search();
}

init();
