// "What would happen": one scenario played in virtual time by the simulator
// (www/sim: the library's own daemon and replayer, compiled to wasm from
// src/core and src/sim) under iOS and three browser engines, shown as four
// aligned timelines. Everything drawn below comes from the trace `run()`
// returns, and every explanation is the sentence of the profile whose rule
// made its lane differ. A scenario lives in the URL (#teach=…), so a
// teacher can share one.
import init, { run, profiles as profileTerms } from "../sim/bgsession_sim.js";
import { el } from "../demo/util.js";

export const PROFILES = [
  ["ios", "iOS"],
  ["chromium", "Chromium"],
  ["firefox", "Firefox"],
  ["webkit", "WebKit"],
];
export const STEPS = {
  open: "the user opens the app",
  close: "the user closes the app",
  closeWhileDelivering: "the user closes it mid-callback",
  forceQuit: "the user force-quits the app",
  killDaemon: "the system kills the daemon",
  restart: "the device (browser) restarts",
  offline: "the link goes down",
  online: "the link comes back",
  stopRanges: "the server stops honouring Range",
  wifi: "the link becomes Wi-Fi",
  cellular: "the link becomes cellular",
};
const LANES = { app: "App", daemon: "Daemon", network: "System & network" };
const MB = 1e6;
const HASH = "#teach=";

const $ = (id) => document.getElementById(id);
let presets = {};
let current = null;

// Runs of progress of one task (nothing else between them in that
// profile's trace) are shown as one line: "didWriteData ×n".
export function fold(events) {
  const out = [];
  for (const e of events) {
    const last = out[out.length - 1];
    if (e.what === "didWriteData" && last && last.what === "didWriteData" && last.task === e.task && last.replayed === e.replayed) {
      last.count += 1;
      last.until = e.at;
      last.detail = e.detail;
      continue;
    }
    out.push({ ...e, count: 1, until: e.at });
  }
  return out;
}

export function seconds(ms) {
  const s = ms / 1000;
  if (s < 60) return `${+s.toFixed(s < 10 ? 2 : 1)} s`;
  const m = Math.floor(s / 60);
  const rest = s - m * 60;
  return `${m} min ${rest >= 0.05 ? `${+rest.toFixed(1)} s` : ""}`.trim();
}

function detailText(e) {
  if (e.what === "didWriteData" || e.what === "didResumeAtOffset") {
    const n = e.detail.split(",").map((x) => Number(x.trim()));
    const [written, total] = e.what === "didWriteData" ? [n[1], n[2]] : [n[0], n[1]];
    const pct = total > 0 ? ` (${Math.round((written / total) * 100)} %)` : "";
    return `${(written / MB).toFixed(1)} of ${(total / MB).toFixed(1)} MB${pct}`;
  }
  return e.detail;
}

// ----- the scenario in the URL -----

export function encode(s) {
  return HASH + encodeURIComponent(JSON.stringify(s));
}

function decode(hash) {
  if (!hash.startsWith(HASH)) return null;
  return JSON.parse(decodeURIComponent(hash.slice(HASH.length)));
}

const profilesOf = (s) => PROFILES.filter(([k]) => !s.profiles?.length || s.profiles.includes(k));

// ----- the editor -----

function numberField(label, name, value, attrs = {}) {
  const id = `teach-${name}-${Math.random().toString(36).slice(2, 8)}`;
  return el("span", { class: "teach-field" }, el("label", { for: id, text: label }), el("input", { id, name, type: "number", step: "any", min: "0", value: value ?? "", ...attrs }));
}

function downloadRow(d = { count: 1, size: 10 * MB, rate: MB }) {
  const row = el("li", { class: "teach-row teach-dl" },
    numberField("Files", "count", d.count ?? 1, { min: "1", max: "500", step: "1" }),
    numberField("Size each (MB)", "size", d.size / MB, { min: "0.001" }),
    numberField("Rate (MB/s)", "rate", d.rate / MB, { min: "0.001" }),
  );
  row.append(el("button", { type: "button", class: "small secondary", text: "Remove", "aria-label": "Remove these downloads", onclick: () => row.remove() }));
  return row;
}

function eventRow(e = { at: 10_000, step: "close" }) {
  const id = `teach-step-${Math.random().toString(36).slice(2, 8)}`;
  const select = el("select", { id, name: "step" }, Object.entries(STEPS).map(([k, v]) => el("option", { value: k, text: v, selected: k === e.step })));
  const row = el("li", { class: "teach-row teach-ev" }, numberField("At (s)", "at", e.at / 1000), el("span", { class: "teach-field" }, el("label", { for: id, text: "Event" }), select));
  row.append(el("button", { type: "button", class: "small secondary", text: "Remove", "aria-label": "Remove this event", onclick: () => row.remove() }));
  return row;
}

function fillEditor(s) {
  $("teach-title").value = s.title ?? "";
  $("teach-downloads").replaceChildren(...s.downloads.map(downloadRow));
  $("teach-events").replaceChildren(...(s.events ?? []).map(eventRow));
  $("teach-max").value = s.maxConnections ?? "";
  $("teach-discretionary").checked = !!s.discretionary;
  $("teach-keep").checked = s.keepFiles !== false;
  $("teach-until").value = s.untilMs / 1000;
  for (const [k] of PROFILES) $(`teach-p-${k}`).checked = profilesOf(s).some(([p]) => p === k);
}

function readEditor() {
  const num = (row, name) => Number(row.querySelector(`[name="${name}"]`).value);
  const s = {
    title: $("teach-title").value.trim(),
    downloads: [...$("teach-downloads").children].map((r) => ({ count: Math.round(num(r, "count")), size: Math.round(num(r, "size") * MB), rate: num(r, "rate") * MB })),
    events: [...$("teach-events").children]
      .map((r) => ({ at: Math.round(num(r, "at") * 1000), step: r.querySelector('[name="step"]').value }))
      .sort((a, b) => a.at - b.at),
    untilMs: Math.round(Number($("teach-until").value) * 1000),
  };
  const max = $("teach-max").value.trim();
  if (max) s.maxConnections = Math.round(Number(max));
  if ($("teach-discretionary").checked) s.discretionary = true;
  if (!$("teach-keep").checked) s.keepFiles = false;
  const chosen = PROFILES.map(([k]) => k).filter((k) => $(`teach-p-${k}`).checked);
  if (chosen.length && chosen.length < PROFILES.length) s.profiles = chosen;
  return s;
}

// ----- playing and drawing -----

// Plays `s` under each chosen profile; throws the simulator's message.
export function playAll(s) {
  const json = JSON.stringify(s);
  return profilesOf(s).map(([key]) => ({ key, ...JSON.parse(run(json, key)) }));
}

// Spans of a lane, from the trace: when the app was open, the daemon alive,
// the link down.
function spans(events, until) {
  const out = { app: [], daemon: [], network: [] };
  const open = { app: null, daemon: null, network: null };
  const start = (lane, at, kind) => {
    if (open[lane] == null) open[lane] = { from: at, kind };
  };
  const stop = (lane, at) => {
    if (open[lane] != null) out[lane].push({ ...open[lane], to: at });
    open[lane] = null;
  };
  for (const e of events) {
    if (e.lane === "app" && e.what === "opened") start("app", e.at, "open");
    else if (e.what === "relaunched in the background") start("app", e.at, "background");
    else if (e.lane === "app" && ["closed", "closed while its events were delivered", "force-quit", "suspended again", "ended by the restart"].includes(e.what)) stop("app", e.at);
    else if (e.lane === "daemon" && e.what === "started") start("daemon", e.at, "alive");
    else if (e.lane === "daemon" && e.task == null) stop("daemon", e.at);
    else if (e.what === "offline") start("network", e.at, "offline");
    else if (e.what === "online") stop("network", e.at);
  }
  for (const lane of Object.keys(open)) stop(lane, until);
  return out;
}

const pct = (at, until) => `${Math.min(100, (at / until) * 100).toFixed(3)}%`;

function laneStrip(r, until) {
  const s = spans(r.events, until);
  const lanes = Object.keys(LANES).map((lane) => {
    const bars = s[lane].map((b) => el("span", { class: `tb tb-${b.kind}`, style: `left:${pct(b.from, until)};width:max(3px, ${pct(b.to - b.from, until)})` }));
    const marks = r.events
      .filter((e) => e.lane === lane && (lane !== "daemon" || e.task == null || e.note))
      .filter((e) => lane !== "app" || e.task != null || e.what === "urlSessionDidFinishEvents")
      .map((e) => el("span", { class: `tm tm-${markKind(e)}`, style: `left:${pct(e.at, until)}` }));
    return el("div", { class: `tlane tlane-${lane}` }, el("span", { class: "tlane-name", text: LANES[lane] }), el("span", { class: "tlane-track" }, bars, marks));
  });
  return el("div", { class: "tstrip", "aria-hidden": "true" }, lanes);
}

function markKind(e) {
  if (e.what === "didCompleteWithError") return e.detail === "nil" ? "ok" : "err";
  if (e.what === "didFinishDownloadingTo") return "ok";
  if (e.what === "didResumeAtOffset") return "resume";
  if (e.what === "taskIsWaitingForConnectivity") return "wait";
  if (e.what === "didWriteData") return "tick";
  if (e.note) return "why";
  return "plain";
}

function summary(r, until) {
  const s = spans(r.events, until);
  const list = (xs) => (xs.length ? xs.map((b) => `${seconds(b.from)} to ${seconds(b.to)}${b.kind === "background" ? " (in the background)" : ""}`).join(", ") : "never");
  const done = r.events.filter((e) => e.what === "didCompleteWithError");
  const ok = done.filter((e) => e.detail === "nil").length;
  const last = done.length ? ` The last didCompleteWithError came at ${seconds(done[done.length - 1].at)}.` : " No didCompleteWithError within the run.";
  return `App open ${list(s.app)}. Daemon alive ${list(s.daemon)}. ${ok} of ${r.tasks} downloads completed without error, ${r.filesExact} files byte-exact in Documents.${last}`;
}

function differences(r) {
  const seen = new Set();
  for (const e of r.events) if (e.note && !e.note.startsWith("woken by")) seen.add(e.note);
  return [...seen];
}

function item(e) {
  const what = e.count > 1 ? `${e.what} ×${e.count}` : e.what;
  const li = el("li", {
    class: `ev ev-${e.lane}`,
    dataset: { lane: e.lane, what: e.what, at: String(e.at), count: String(e.count), task: e.task == null ? "" : String(e.task), replayed: e.replayed ? "1" : "0" },
  },
    el("span", { class: "ev-lane", text: LANES[e.lane] }),
    el("span", { class: "ev-what", text: what }),
    e.task != null ? el("span", { class: "ev-task", text: `task ${e.task}` }) : null,
    e.detail ? el("span", { class: "ev-detail", text: detailText(e) }) : null,
    e.count > 1 ? el("span", { class: "ev-until", text: `to ${seconds(e.until)}` }) : null,
    e.replayed ? el("span", { class: "badge badge-replayed", text: "replayed" }) : null,
  );
  if (e.note) li.append(el("span", { class: "ev-why", text: e.note }));
  return li;
}

function table(runs, s) {
  const rows = new Map();
  runs.forEach((r, i) => {
    for (const e of fold(r.events)) {
      const key = Math.round(e.at);
      if (!rows.has(key)) rows.set(key, runs.map(() => []));
      rows.get(key)[i].push(e);
    }
  });
  const head = el("tr", {}, el("th", { scope: "col", text: "Time" }), runs.map((r) => el("th", { scope: "col", text: r.profile })));
  const body = [...rows.keys()]
    .sort((a, b) => a - b)
    .map((at) =>
      el("tr", {},
        el("th", { scope: "row", class: "tt-time", text: seconds(at) }),
        rows.get(at).map((items, i) => el("td", { dataset: { profile: runs[i].profile }, class: items.length ? "" : "tt-empty" }, items.length ? el("ul", { class: "evs" }, items.map(item)) : null)),
      ),
    );
  return el("div", { class: "tt-scroll", tabindex: "0", role: "region", "aria-label": "Every event of the four timelines, aligned by time" },
    el("table", { class: "tt" }, el("caption", { text: `Every event, aligned by virtual time: ${s.title || "this scenario"}` }), el("thead", {}, head), el("tbody", {}, body)),
  );
}

function axis(until) {
  return el("div", { class: "taxis", "aria-hidden": "true" }, [0, 0.25, 0.5, 0.75, 1].map((f) => el("span", { style: `left:${f * 100}%`, text: seconds(until * f) })));
}

function render(s, runs) {
  const here = liveEngine();
  const until = s.untilMs;
  const cards = runs.map((r) =>
    el("section", { class: `tcard${r.key === here ? " tcard-here" : ""}`, dataset: { profile: r.profile }, "aria-labelledby": `teach-h-${r.key}` },
      el("h4", { id: `teach-h-${r.key}`, text: r.key === here ? `${r.profile} (the engine of this browser)` : r.profile }),
      laneStrip(r, until),
      el("p", { class: "tsum", text: summary(r, until) }),
      el("h5", { text: "Why this lane differs" }),
      differences(r).length ? el("ul", { class: "twhy" }, differences(r).map((n) => el("li", { text: n }))) : el("p", { class: "twhy-none", text: "Nothing: no rule of this profile changed the course of events." }),
    ),
  );
  $("teach-out").replaceChildren(
    el("h3", { class: "teach-title", text: s.title || "Your scenario" }),
    el("p", { class: "hint", text: `Events: ${(s.events ?? []).map((e) => `${STEPS[e.step] ?? e.step} at ${seconds(e.at)}`).join("; ") || "none"}. Run for ${seconds(until)} of virtual time.` }),
    el("div", { class: "tcards" }, axisRow(until), cards),
    table(runs, s),
  );
}

function axisRow(until) {
  return el("div", { class: "taxis-row", "aria-hidden": "true" }, el("span", { class: "tlane-name" }), axis(until));
}

function play(s, { updateUrl = true } = {}) {
  const status = $("teach-status");
  let runs;
  try {
    runs = playAll(s);
  } catch (e) {
    status.textContent = `The simulator cannot play this scenario: ${e.message ?? e}`;
    status.className = "teach-status teach-error";
    return false;
  }
  current = { scenario: s, runs };
  render(s, runs);
  const key = Object.entries(presets).find(([, p]) => JSON.stringify(p) === JSON.stringify(s))?.[0] ?? "";
  $("teach-preset").value = key;
  const link = encode(s);
  $("teach-link").href = link;
  if (updateUrl && location.hash !== link) history.replaceState(null, "", link);
  status.className = "teach-status";
  status.textContent = `Played under ${runs.map((r) => r.profile).join(", ")}.`;
  const root = $("teach");
  root.dataset.rendered = key || "custom";
  root.dataset.scenario = JSON.stringify(s);
  return true;
}

// ----- the live timeline's engine -----

export function liveEngine(ua = navigator.userAgent) {
  if (/Firefox\//.test(ua)) return "firefox";
  if (/Chrom(e|ium)\/|Edg\//.test(ua)) return "chromium";
  if (/AppleWebKit\//.test(ua)) return "webkit";
  return "chromium";
}

function sayEngine() {
  const key = liveEngine();
  const name = PROFILES.find(([k]) => k === key)[1];
  const terms = JSON.parse(profileTerms()).find((p) => p.name === name);
  const node = $("tl-engine");
  if (!node || !terms) return;
  const limits = [
    terms.stopAfterLastEventMs != null && `the worker is stopped ${seconds(terms.stopAfterLastEventMs)} after its last event, even mid-transfer`,
    terms.stopAfterLastPageMs != null && `the worker is stopped ${seconds(terms.stopAfterLastPageMs)} after its last page closed`,
    terms.stopWhenIdleMs != null && `an idle worker with no page is stopped after ${seconds(terms.stopWhenIdleMs)}`,
    terms.truncatesOnStop && "a stream stopped mid-segment leaves a truncated cache entry",
  ].filter(Boolean);
  node.replaceChildren(
    `This timeline is live in ${name}. Its measured limits, as the simulator's ${name} profile holds them: ${limits.join("; ")}. Compare the ${name} lane in `,
    el("a", { href: "#teach-heading", text: "What would happen" }),
    ".",
  );
  node.dataset.engine = key;
}

// ----- start -----

function fromHash() {
  let s;
  try {
    s = decode(location.hash);
  } catch (e) {
    $("teach-status").textContent = `This link's scenario cannot be read: ${e.message}`;
    return false;
  }
  if (!s) return false;
  fillEditor(s);
  $("teach-editor").open = !Object.values(presets).some((p) => JSON.stringify(p) === JSON.stringify(s));
  play(s, { updateUrl: false });
  $("teach").scrollIntoView();
  return true;
}

async function start() {
  const root = $("teach");
  if (!root) return;
  try {
    await init({ module_or_path: new URL("../sim/bgsession_sim_bg.wasm", import.meta.url) });
    presets = await (await fetch(new URL("./presets.json", import.meta.url))).json();
  } catch (e) {
    $("teach-status").textContent = `The simulator could not load (build it with ./scripts/build.sh): ${e.message ?? e}`;
    return;
  }
  sayEngine();
  $("teach-preset").replaceChildren(el("option", { value: "", text: "Your own (edit below)" }), ...Object.entries(presets).map(([k, p]) => el("option", { value: k, text: p.title })));
  $("teach-preset").addEventListener("change", (ev) => {
    const p = presets[ev.target.value];
    if (!p) return;
    fillEditor(p);
    play(p);
  });
  $("teach-add-dl").addEventListener("click", () => $("teach-downloads").append(downloadRow()));
  $("teach-add-ev").addEventListener("click", () => {
    const row = eventRow();
    $("teach-events").append(row);
    row.querySelector("input").focus();
  });
  $("teach-form").addEventListener("submit", (ev) => {
    ev.preventDefault();
    play(readEditor());
  });
  $("teach-copy").addEventListener("click", async () => {
    const url = new URL($("teach-link").getAttribute("href"), location.href).href;
    try {
      await navigator.clipboard.writeText(url);
      $("teach-status").textContent = "The link to this scenario is copied.";
    } catch {
      $("teach-status").textContent = `Copy this link: ${url}`;
    }
  });
  window.addEventListener("hashchange", fromHash);
  if (!fromHash()) {
    fillEditor(presets.podcast);
    play(presets.podcast, { updateUrl: false });
  }
  root.dataset.ready = "1";
  // For tests and the curious: the scenario and the traces drawn.
  window.teach = { get current() { return current; }, fold, encode };
}

start();
