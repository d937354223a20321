// Upload tasks in the demo: the learner sends a file they downloaded back to
// the local test server (PUT /upload/<name>) with
// session.uploadTask(request, fromFile). Before handing the file to the
// daemon, the app notes its size and SHA-256; the server answers with the
// size and SHA-256 of what it received; each upload's card shows both side by
// side. The cards are kept in localStorage, so a page reopened after the tab
// was closed mid-upload can put the replayed answer next to the file's hash.
//
// The delegate callbacks themselves are drawn on the timeline by demo.js
// (sessionDelegate); it hands them here to update the cards.
import { $, el, formatBytes, formatDuration, describeError, showError, sha256Hex, readJSON, writeJSON } from "./util.js";

const KEY = "bgsession-demo.uploads.v1";
const MAX_CARDS = 5;
export const SLOW_MS = 15_000;

// The test server's switches for the next upload (tests/server/server.mjs).
export const UPLOAD_MODES = [
  {
    id: "normal",
    label: "Normal",
    params: () => ({}),
    explain: "The server reads the file and answers at once.",
  },
  {
    id: "slow",
    label: `Slow server (answers ${SLOW_MS / 1000} s late)`,
    params: () => ({ delayMs: SLOW_MS }),
    explain: `The server reads the whole file, then waits ${SLOW_MS / 1000} s before it answers (delayMs=${SLOW_MS}). Close this tab meanwhile and open it again: the daemon gets the answer on its own, and the reopened page receives the upload's callbacks, replayed.`,
  },
  {
    id: "drop",
    label: "Hang up once (drop=1)",
    params: () => ({ drop: 1 }),
    explain: "The server reads the whole file, then closes the connection without answering, once. The daemon sends the file again from its first byte (a browser cannot resume an upload). The app sees one upload, as on iOS; the card quotes the test server's log to show the two attempts.",
  },
];

const TERMINAL = new Set(["done", "failed", "cancelled"]);
const uid = () => `${Date.now().toString(36)}${Math.random().toString(36).slice(2, 7)}`;
const bytes = (n) => `${Number(n).toLocaleString("en-US")} bytes (${formatBytes(n)})`;
const folderOf = (url) => (String(url).startsWith("file:///Library/Caches/") ? "Library/Caches" : String(url).startsWith("file:///Documents/") ? "Documents" : "tmp");
const nameOf = (url) => decodeURIComponent(String(url).split("/").pop());

// The server's JSON answer, if the body so far is one.
function parseAnswer(text) {
  try {
    const a = JSON.parse(text);
    return a && typeof a === "object" && Number.isFinite(a.size) && typeof a.sha256 === "string" ? a : null;
  } catch {
    return null;
  }
}

export class Uploads {
  // session(): the URLSession or null; fm(): FileManager.default;
  // mark(action, taskLabel): a "you pressed" mark on the timeline.
  constructor({ session, fm, mark }) {
    this.session = session;
    this.fm = fm;
    this.mark = mark;
    this.cards = new Map(); // record key -> <li>
    this.tasks = new Map(); // taskIdentifier -> live task object (for Cancel)
    this.records = (readJSON(KEY, []) || []).filter((r) => r && r.key);
    for (const r of this.records) {
      // A page closed while it was still hashing never started the task.
      if (r.phase === "hashing" && r.id == null) {
        r.phase = "failed";
        r.errorText = "The page closed before the upload was handed to the daemon.";
      }
    }
    this.files = [];
  }

  // ---- the form -----------------------------------------------------------

  build() {
    const box = $("upload-modes");
    for (const m of UPLOAD_MODES) {
      const id = `upload-mode-${m.id}`;
      box.append(el("div", { class: "fault" },
        el("input", { type: "radio", name: "upload-mode", id, value: m.id, checked: m.id === "normal", "aria-describedby": `${id}-help` }),
        el("label", { for: id, text: m.label }),
        el("p", { id: `${id}-help`, class: "fault-help", text: m.explain }),
      ));
    }
    $("upload-start").addEventListener("click", () => {
      const url = $("upload-file").value;
      if (url) this.start(url);
    });
    $("upload-memory").addEventListener("click", () => this.tryFromMemory());
    $("upload").addEventListener("click", () => {
      $("upload-panel").scrollIntoView({ behavior: "smooth", block: "start" });
      $("upload-file").focus({ preventScroll: true });
    });
    this.setFiles([]);
    for (const r of this.records) this.render(r);
  }

  // The chooser lists the downloaded files (Documents and Library/Caches).
  setFiles(files) {
    this.files = files;
    const select = $("upload-file");
    const was = select.value;
    if (!files.length) {
      select.replaceChildren(el("option", { value: "", text: "No downloaded files yet: download an episode first" }));
    } else {
      select.replaceChildren(...files.map((f) => el("option", { value: f.url, text: `${f.name} (${f.folder}${f.size != null ? `, ${formatBytes(f.size)}` : ""})` })));
      if (files.some((f) => f.url === was)) select.value = was;
    }
    select.disabled = !files.length;
    $("upload-start").disabled = !files.length || !this.session();
  }

  mode() {
    const id = (document.querySelector('input[name="upload-mode"]:checked') || {}).value;
    return UPLOAD_MODES.find((m) => m.id === id) || UPLOAD_MODES[0];
  }

  // ---- starting an upload -------------------------------------------------

  async start(fileURL) {
    const session = this.session();
    if (!session) return;
    const name = nameOf(fileURL);
    const mode = this.mode();
    const endpoint = new URL(`/upload/${encodeURIComponent(name)}`, location.href);
    for (const [k, v] of Object.entries(mode.params())) endpoint.searchParams.set(k, String(v));
    // A fresh fault key on the server, so "hang up once" fires for this upload.
    if (mode.id === "drop") endpoint.searchParams.set("try", uid());
    const rec = {
      key: uid(),
      id: null,
      file: fileURL,
      name,
      label: `Upload of ${name}`,
      endpoint: endpoint.href,
      method: "PUT",
      contentType: "audio/mpeg",
      mode: mode.id,
      phase: "hashing",
      startedAt: Date.now(),
      localSize: null,
      localSha256: null,
      sent: 0,
      expected: null,
      answerText: "",
      status: null,
      errorCode: null,
      errorText: null,
      replayed: false,
    };
    this.records.unshift(rec);
    this.mark("Upload", rec.label);
    if (mode.id !== "normal") this.setMode("normal"); // one upload only, as the download faults
    this.update(rec);
    try {
      // 1. The app notes what it is about to send (to check the answer later).
      const blob = await this.fm().contents(fileURL);
      rec.localSize = blob.size;
      rec.localSha256 = await sha256Hex(blob);
      // 2. It hands the file to the daemon. A request object names its
      //    method; a bare URL string would mean POST.
      const task = session.uploadTask({ url: rec.endpoint, method: rec.method, headers: { "Content-Type": rec.contentType } }, fileURL);
      task.taskDescription = rec.label; // survives in the daemon, for a relaunched page
      rec.id = task.taskIdentifier;
      rec.expected = task.countOfBytesExpectedToSend || rec.localSize;
      this.tasks.set(rec.id, task);
      rec.phase = "uploading";
      this.update(rec);
      await task.resume(); // the daemon copies the file now; the app may delete it afterwards
    } catch (e) {
      rec.phase = "failed";
      rec.errorText = `Could not start: ${describeError(e)}`;
      this.update(rec);
      showError(`Could not upload ${name}`, e);
    }
    const card = this.cards.get(rec.key);
    if (card && card.scrollIntoView) card.scrollIntoView({ block: "nearest", behavior: "smooth" });
  }

  setMode(id) {
    const input = document.querySelector(`input[name="upload-mode"][value="${id}"]`);
    if (input) input.checked = true;
  }

  // What iOS refuses, live: a background session cannot upload from memory.
  tryFromMemory() {
    const out = $("upload-memory-result");
    const session = this.session();
    if (!session) return;
    this.mark("Try uploading from memory");
    try {
      session.uploadTask(new URL("/upload/from-memory.txt", location.href).href, new TextEncoder().encode("bytes held in memory"));
      out.textContent = "It did not throw: unexpected.";
    } catch (e) {
      out.textContent = `It throws, as on iOS: ${e && e.name ? `${e.name}: ` : ""}${e && e.message ? e.message : describeError(e)}`;
    }
  }

  // ---- the delegate's calls, handed over by demo.js ------------------------

  // The record of an upload task (made up from the task if the page has none,
  // e.g. after the site's localStorage was cleared).
  recordFor(task) {
    let rec = this.records.find((r) => r.id === task.taskIdentifier);
    if (!rec) {
      const name = String(task.taskDescription || "").replace(/^Upload of /, "") || `task ${task.taskIdentifier}`;
      const req = task.originalRequest || {};
      rec = {
        key: uid(), id: task.taskIdentifier, file: null, name, label: task.taskDescription || `task ${task.taskIdentifier}`,
        endpoint: req.url || "", method: req.method || "PUT", contentType: null, mode: "normal", phase: "uploading",
        startedAt: Date.now(), localSize: null, localSha256: null, sent: 0, expected: task.countOfBytesExpectedToSend || null,
        answerText: "", status: null, errorCode: null, errorText: null, replayed: false,
      };
      this.records.unshift(rec);
    }
    this.tasks.set(task.taskIdentifier, task);
    return rec;
  }

  // A running upload found at launch (it kept going while the page was closed).
  adopt(task) {
    const rec = this.recordFor(task);
    if (TERMINAL.has(rec.phase)) return;
    rec.sent = task.countOfBytesSent;
    rec.phase = rec.sent > 0 ? "sent" : "uploading";
    rec.adopted = true;
    this.update(rec);
  }

  sent(task, totalBytesSent, totalBytesExpectedToSend) {
    const rec = this.recordFor(task);
    rec.sent = totalBytesSent;
    rec.expected = totalBytesExpectedToSend;
    if (!TERMINAL.has(rec.phase)) rec.phase = "sent";
    this.update(rec);
  }

  // Returns the answer so far: {length, answer (parsed JSON or null), text}.
  received(task, data) {
    const rec = this.recordFor(task);
    rec.answerText += new TextDecoder().decode(data);
    this.update(rec);
    return { length: rec.answerText.length, answer: parseAnswer(rec.answerText), text: rec.answerText };
  }

  waiting(task) {
    const rec = this.recordFor(task);
    if (!TERMINAL.has(rec.phase)) rec.phase = "waiting";
    this.update(rec);
  }

  // Returns {verdict} to note on the timeline, or null.
  completed(task, error, replayed) {
    const rec = this.recordFor(task);
    this.tasks.delete(task.taskIdentifier);
    rec.status = task.response ? task.response.statusCode : null;
    rec.replayed = replayed;
    if (!error) {
      rec.phase = "done";
      if (task.countOfBytesSent) rec.sent = task.countOfBytesSent;
    } else {
      rec.phase = error.code === -999 ? "cancelled" : "failed";
      rec.errorCode = error.code;
      rec.errorText = describeError(error);
    }
    this.update(rec);
    if (rec.phase !== "cancelled") this.readServerLog(rec);
    return rec.phase === "done" ? this.verdict(rec) : null;
  }

  // The attempts, from the bundled test server's log (GET /__log): an app
  // never sees them (the daemon retries on its own), the server does.
  async readServerLog(rec) {
    if (!rec.endpoint) return;
    let entries;
    try {
      const url = new URL(rec.endpoint);
      if (url.origin !== location.origin) return;
      const res = await fetch("/__log", { cache: "no-store" });
      if (!res.ok) return;
      const key = `${url.pathname}${url.search}`;
      entries = ((await res.json()).entries || []).filter((e) => e.faultKey === key && e.start >= rec.startedAt - 1000);
    } catch {
      return; // another server: no log to quote
    }
    if (!entries.length) return;
    const attempts = entries.map((e, i) => {
      const what = e.cutAt != null
        ? `read ${formatBytes(e.bytesReceived)}, then hung up without answering`
        : e.end != null && e.status
          ? `read ${formatBytes(e.bytesReceived)}, answered HTTP ${e.status} ${formatDuration(e.end - e.start)} after the request began`
          : `read ${formatBytes(e.bytesReceived)}, no answer`;
      return `${entries.length > 1 ? `#${i + 1}: ` : ""}${what}`;
    });
    rec.serverLog = `The test server's log shows ${entries.length} ${entries.length === 1 ? "request" : "requests"} for this upload (the app never sees the attempts): ${attempts.join("; ")}.`;
    this.update(rec);
  }

  // ---- cards --------------------------------------------------------------

  update(rec) {
    this.save();
    this.render(rec);
  }

  save() {
    // Newest first; running ones are never dropped.
    const keep = [];
    let finished = 0;
    for (const r of this.records) {
      if (!TERMINAL.has(r.phase) || finished++ < MAX_CARDS) keep.push(r);
    }
    for (const r of this.records) {
      if (!keep.includes(r)) {
        this.cards.get(r.key)?.remove();
        this.cards.delete(r.key);
      }
    }
    this.records = keep;
    writeJSON(KEY, this.records);
  }

  // {ok, text}: does the server's answer match the file the app noted?
  verdict(rec) {
    const answer = parseAnswer(rec.answerText);
    if (rec.status != null && rec.status >= 400) {
      return { ok: false, text: `The server answered HTTP ${rec.status}. For URLSession that is an answer, not an error (didCompleteWithError got nil): the app must check the status code itself.` };
    }
    if (!answer) return { ok: false, text: "The server's answer is not the JSON this demo expects, so the app cannot check the bytes." };
    if (rec.localSha256 == null) return { ok: null, text: "The server answered, but this page has no note of the file's SHA-256 to compare with." };
    const sameSize = answer.size === rec.localSize;
    const sameHash = answer.sha256 === rec.localSha256;
    if (sameSize && sameHash) return { ok: true, text: "Same size, same SHA-256: the bytes arrived intact." };
    return { ok: false, text: `The server received different bytes: ${sameSize ? "same size" : `size ${answer.size} instead of ${rec.localSize}`}, ${sameHash ? "same SHA-256" : "a different SHA-256"}.` };
  }

  stateText(rec) {
    const slow = rec.mode === "slow" ? ` The server answers ${SLOW_MS / 1000} s after the last byte.` : "";
    switch (rec.phase) {
      case "hashing":
        return "Reading the file to note its size and SHA-256 (to check the server's answer later)…";
      case "uploading":
        return rec.adopted
          ? "Still uploading in the daemon (it kept going while the page was closed)."
          : `Uploading in the daemon.${slow} You can close this tab now.`;
      case "waiting":
        return "Waiting for the network…";
      case "sent":
        return rec.adopted
          ? "The whole file went out while the page was closed; the server's answer is on its way."
          : "The whole file went out (didSendBodyData); the server's answer is on its way.";
      case "done":
        return rec.replayed
          ? `Uploaded while this page was closed: the server answered HTTP ${rec.status ?? "?"}, and the callbacks were replayed at the relaunch.`
          : `Uploaded: the server answered HTTP ${rec.status ?? "?"}.`;
      case "cancelled":
        return "Cancelled (-999).";
      default:
        return `Failed: ${rec.errorText || "unknown error"}`;
    }
  }

  render(rec) {
    let li = this.cards.get(rec.key);
    if (!li) {
      li = el("li", { class: "up" });
      this.cards.set(rec.key, li);
      // Newest first, in the records' order.
      const list = $("uploads");
      const next = this.records.slice(this.records.indexOf(rec) + 1).map((r) => this.cards.get(r.key)).find((c) => c && c.parentNode === list);
      list.insertBefore(li, next || null);
    }
    li.dataset.phase = rec.phase;
    li.dataset.upload = rec.name;
    if (rec.id != null) li.dataset.task = String(rec.id);
    const mode = UPLOAD_MODES.find((m) => m.id === rec.mode) || UPLOAD_MODES[0];
    const titleId = `up-title-${rec.key}`;

    // The call the app made.
    const call = rec.file
      ? `session.uploadTask({ url: "${rec.endpoint}", method: "${rec.method}", headers: { "Content-Type": "${rec.contentType}" } }, "${rec.file}")`
      : null;

    // Sent: coarse, because the browser reports no upload progress.
    const progress = el("progress", { "aria-labelledby": titleId });
    const expected = rec.expected || rec.localSize || 0;
    let sentText;
    if (rec.phase === "hashing") {
      progress.max = 1;
      progress.value = 0;
      sentText = "Not started yet.";
    } else if (rec.sent > 0) {
      progress.max = Math.max(1, expected || rec.sent);
      progress.value = rec.sent;
      sentText = `Sent ${formatBytes(rec.sent)} of ${formatBytes(expected || rec.sent)} (countOfBytesSent), reported once, when the server answered.`;
    } else if (TERMINAL.has(rec.phase)) {
      progress.max = 1;
      progress.value = 0;
      sentText = "Nothing was reported sent.";
    } else {
      // No value: an indeterminate bar. The page cannot know how far it got.
      sentText = "Sent: unknown until the server answers. The browser reports no upload progress.";
    }

    // This device | the server.
    const answer = parseAnswer(rec.answerText);
    // A hash in groups of 8 hex digits (easier to compare by eye), wrapping between groups.
    const hash = (hex) => el("code", { class: "up-hash" }, hex.match(/.{1,8}/g).flatMap((g, i) => (i ? [el("wbr"), el("span", { text: g })] : [el("span", { text: g })])));
    const hashOrWait = (v, waiting) => (v ? hash(v) : el("span", { class: "up-pending", text: waiting }));
    const device = el("div", { class: "up-side up-device" },
      el("h4", { text: "On this device" }),
      el("p", { class: "up-where" }, rec.file ? el("code", { text: rec.file }) : "unknown file"),
      el("dl", {},
        el("dt", { text: "Size" }), el("dd", { class: "up-size", text: rec.localSize != null ? bytes(rec.localSize) : rec.phase === "hashing" ? "reading…" : "not noted" }),
        el("dt", { text: "SHA-256" }), el("dd", {}, hashOrWait(rec.localSha256, rec.phase === "hashing" ? "computing…" : "not noted")),
      ),
    );
    const waitingText = TERMINAL.has(rec.phase) ? "no answer" : "waiting for the answer…";
    const server = el("div", { class: "up-side up-server" },
      el("h4", { text: "The server received" }),
      el("p", { class: "up-where" }, el("code", { text: `${rec.method} ${rec.endpoint ? new URL(rec.endpoint).pathname : ""}` })),
      el("dl", {},
        el("dt", { text: "Size" }), el("dd", { class: "up-size", text: answer ? bytes(answer.size) : waitingText }),
        el("dt", { text: "SHA-256" }), el("dd", {}, hashOrWait(answer && answer.sha256, waitingText)),
        answer ? el("dt", { text: "Request" }) : null,
        answer ? el("dd", { text: `${answer.method}, Content-Type ${answer.contentType ?? "none"}` }) : null,
      ),
    );
    const v = rec.phase === "done" ? this.verdict(rec) : null;
    const verdict = v ? el("p", { class: `up-verdict ${v.ok === true ? "up-ok" : v.ok === false ? "up-bad" : ""}`, role: "status", text: `${v.ok === true ? "✓ " : v.ok === false ? "✗ " : ""}${v.text}` }) : null;

    const actions = el("div", { class: "item-actions" });
    if (!TERMINAL.has(rec.phase) && rec.phase !== "hashing" && rec.id != null) {
      actions.append(el("button", {
        type: "button", class: "small secondary", text: "Cancel", "aria-describedby": titleId,
        onclick: (ev) => this.cancel(rec, ev.currentTarget),
      }));
    }

    const parts = [
      el("div", { class: "item-head" },
        el("h3", { id: titleId, class: "item-title", text: rec.label }),
        el("span", { class: "item-meta", text: `${rec.method}${rec.mode !== "normal" ? ` · ${mode.label}` : ""}${rec.replayed ? " · " : ""}` }, rec.replayed ? el("span", { class: "badge badge-replayed", text: "replayed" }) : null),
      ),
      call ? el("p", { class: "up-call" }, el("code", { text: call })) : null,
      progress,
      el("p", { class: "up-sent", text: sentText }),
      el("p", { class: "state", role: "status", text: this.stateText(rec) }),
      el("div", { class: "up-compare" }, device, server),
      verdict,
      rec.serverLog ? el("p", { class: "up-log", text: rec.serverLog }) : null,
      actions.childElementCount ? actions : null,
    ];
    li.replaceChildren(...parts.filter(Boolean));
    $("uploads-empty").hidden = this.records.length > 0;
  }

  async cancel(rec, button) {
    const task = this.tasks.get(rec.id);
    if (!task) return;
    button.disabled = true;
    this.mark("Cancel", rec.label);
    try {
      await task.cancel(); // didCompleteWithError(-999) follows
    } catch (e) {
      showError(`Could not cancel ${rec.label}`, e);
      button.disabled = false;
    }
  }
}

export { folderOf, nameOf };
