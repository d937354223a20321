// bgsession demo: a podcast "app" whose downloads run in the daemon (a
// Service Worker) and outlive the tab, with a live timeline of the app and
// the daemon, a failure lab and a storage inspector. Read top to bottom: the
// catalogue and its controls, the session delegate (the iOS callbacks), the
// app delegate (the relaunch), the lab, then the start-up sequence at the end.
// Uploads of downloaded files (uploadTask(request, fromFile)) have their
// cards in demo/upload.js; their callbacks are drawn here with the others.
import init, { UIApplication, URLSessionConfiguration, URLSession, FileManager } from "./pkg/bgsession.js";
import { $, el, MiB, formatBytes, formatRate, formatDuration, describeError, showError, safeName, toBase64, fromBase64, readJSON, writeJSON } from "./demo/util.js";
import { Timeline } from "./demo/timeline.js";
import { StorageInspector } from "./demo/storage.js";
import { Uploads, folderOf } from "./demo/upload.js";

const SESSION_ID = "com.example.bgsession.demo";
const RESUME_KEY = "bgsession-demo.resumeData.v1";

// Files the local test server generates: /files/<name>?size=N&rate=B (bytes/s).
const CATALOGUE = [
  { name: "ep01-welcome.mp3", title: "Ep. 1: Welcome to background transfers", size: 6 * MiB },
  { name: "ep02-inside-urlsession.mp3", title: "Ep. 2: Inside URLSession", size: 8 * MiB },
  { name: "ep03-meet-the-daemon.mp3", title: "Ep. 3: Meet the daemon", size: 24 * MiB },
  { name: "ep04-relaunched.mp3", title: "Ep. 4: Relaunched in the background", size: 48 * MiB },
  { name: "ep05-directors-cut.mp3", title: "Bonus: The director's cut", size: 128 * MiB },
];

// "Make the server fail": test-server switches for the next download.
const FAULTS = [
  { id: "none", label: "Normal", params: () => ({}), explain: "The server behaves." },
  {
    id: "cut",
    label: "Cut the connection at 50 %",
    params: (size) => ({ cut: Math.floor(size / 2) }),
    explain: "The server drops the connection half-way. The daemon keeps the bytes it has, retries with Range and continues: didResumeAtOffset at about 50 %. iOS does the same for a lost connection in a background session.",
  },
  {
    id: "503",
    label: "Answer 503 twice (Retry-After: 2)",
    params: () => ({ fail503: 2, retryAfter: 2 }),
    explain: "“Service unavailable, try again in 2 s”, twice. The daemon waits as asked and tries again (with backoff); the app only sees the download that finally works, about 4 s late.",
  },
  {
    id: "ignoreRange",
    label: "Ignore Range (cut at 75 % first)",
    params: (size) => ({ ignoreRange: 1, cut: Math.floor(size * 0.75) }),
    explain: "After the cut, the daemon asks for the rest with Range, but this server answers 200 with the whole file. The stored bytes are dropped and the download restarts from zero; the file is still right. The delegate hears it as didResumeAtOffset(0), as on iOS.",
  },
  {
    id: "flip",
    label: "Change the ETag mid-way (cut at 75 %)",
    params: (size) => ({ flipAfter: 1, cut: Math.floor(size * 0.75) }),
    explain: "The file on the server changes (new ETag) while the daemon downloads it. The next request for the rest carries If-Range with the old ETag; it does not match, so the server sends the new version whole and the daemon starts over: never half old, half new. The cut at 75 % then shows an ordinary resume of the new version.",
  },
  {
    id: "short",
    label: "Short body (4 KiB missing)",
    params: () => ({ short: 1, shortBy: 4096 }),
    explain: "The server announces the full Content-Length but closes the connection 4 KiB early (on its first answer). The daemon never calls a short body a success: it asks again for what is missing (the Daemon lane goes busy again; didResumeAtOffset when the bytes it kept are reused) and completes with the right size.",
  },
];

const fm = () => FileManager.default;
const timeline = new Timeline();
const storage = new StorageInspector(fm, { onChange: () => refreshSavedFromSandbox() });
const uploads = new Uploads({
  session: () => session,
  fm,
  mark: (text, taskLabel) => timeline.mark({ lane: "app", kind: "action", action: text, task: taskLabel, text: `You pressed “${text}”.` }),
});

window.addEventListener("error", (ev) => showError("Unexpected error", ev.error || ev.message));
window.addEventListener("unhandledrejection", (ev) => showError("Unexpected error", ev.reason));

// ---------------------------------------------------------------------------
// The catalogue: one row per episode, with its task's controls
// ---------------------------------------------------------------------------

const rows = new Map(); // item name -> row
const rowsByTask = new Map(); // taskIdentifier -> row
const endedTasks = new Set(); // taskIdentifiers that got didCompleteWithError
let downloadCount = 0;

function fileURL(item, rate, fault) {
  const url = new URL(`/files/${encodeURIComponent(item.name)}`, location.href);
  url.searchParams.set("size", String(item.size));
  if (rate) url.searchParams.set("rate", String(rate));
  const params = fault.params(item.size);
  for (const [k, v] of Object.entries(params)) url.searchParams.set(k, String(v));
  // A fresh fault key on the server, so the fault fires again on a new download.
  if (Object.keys(params).length) url.searchParams.set("try", `${Date.now().toString(36)}${++downloadCount}`);
  return url.href;
}

function button(label, cls, onclick, describedBy) {
  return el("button", { type: "button", class: cls, "aria-describedby": describedBy, text: label, hidden: true, onclick });
}

function buildCatalogue() {
  const list = $("catalogue");
  const stored = readJSON(RESUME_KEY, {}) || {};
  for (const item of CATALOGUE) {
    const titleId = `title-${item.name.replace(/\W/g, "-")}`;
    const row = { item, task: null, phase: "idle", saved: null, samples: [], lastTotal: 0, received: 0, expected: item.size, rate: 0 };
    row.progress = el("progress", { max: String(item.size), value: "0", "aria-labelledby": titleId });
    row.bytes = el("span", { class: "bytes", text: `0 B of ${formatBytes(item.size)}` });
    row.rateText = el("span", { class: "rate" });
    row.eta = el("span", { class: "eta" });
    row.state = el("p", { class: "state", role: "status", text: "Not downloaded" });
    row.server = el("p", { class: "item-server", hidden: true });
    row.buttons = {
      download: button("Download", "download", () => startDownload(row), titleId),
      pause: button("Pause", "pause secondary", () => pauseDownload(row), titleId),
      resume: button("Resume", "resume", () => resumeDownload(row), titleId),
      cancel: button("Cancel", "cancel secondary", () => cancelDownload(row), titleId),
      cancelData: button("Cancel, keep resume data", "cancel-data secondary", () => cancelWithResumeData(row), titleId),
      fromData: button("Resume from data", "from-data", () => resumeFromData(row), titleId),
      upload: button("Upload", "upload secondary", () => row.savedAt && uploads.start(row.savedAt), titleId),
    };
    if (stored[item.name]) {
      try {
        row.resumeData = fromBase64(stored[item.name]);
      } catch {
        row.resumeData = null;
      }
    }
    row.li = el("li", { class: "item", dataset: { item: item.name, phase: "idle" } },
      el("div", { class: "item-head" },
        el("h3", { id: titleId, class: "item-title", text: item.title }),
        el("span", { class: "item-meta", text: formatBytes(item.size) }),
      ),
      row.progress,
      el("div", { class: "item-foot" }, row.bytes, row.rateText, row.eta),
      row.state,
      row.server,
      el("div", { class: "item-actions" }, Object.values(row.buttons)),
    );
    rows.set(item.name, row);
    list.append(row.li);
    setPhase(row, "idle");
  }
}

function saveResumeData() {
  const out = {};
  for (const row of rows.values()) if (row.resumeData) out[row.item.name] = toBase64(row.resumeData);
  writeJSON(RESUME_KEY, out);
}

// The row of a task: by identifier, else by its description (after a relaunch
// the page has new task objects; taskDescription survives in the daemon).
function rowFor(task) {
  if (endedTasks.has(task.taskIdentifier)) return null; // its row has moved on
  let row = rowsByTask.get(task.taskIdentifier);
  if (!row) {
    row = [...rows.values()].find((r) => r.item.title === task.taskDescription);
    if (row) {
      row.task = task;
      rowsByTask.set(task.taskIdentifier, row);
    }
  }
  return row || null;
}

const ACTIVE = new Set(["starting", "running", "suspended", "waiting", "saving", "busy"]);

function setPhase(row, phase, stateText) {
  if (phase !== row.phase) row.phaseChangedAt = performance.now();
  row.phase = phase;
  row.li.dataset.phase = phase;
  if (stateText != null) row.state.textContent = stateText;
  const b = row.buttons;
  const hasTask = Boolean(row.task);
  const idle = !ACTIVE.has(phase);
  b.download.hidden = !idle;
  b.download.disabled = !session;
  b.download.textContent = row.saved ? "Download again" : "Download";
  b.pause.hidden = !(hasTask && (phase === "running" || phase === "waiting"));
  b.resume.hidden = !(hasTask && phase === "suspended");
  b.cancel.hidden = !(hasTask && (phase === "running" || phase === "waiting" || phase === "suspended"));
  b.cancelData.hidden = b.cancel.hidden;
  b.fromData.hidden = !(idle && row.resumeData);
  b.fromData.disabled = !session;
  b.upload.hidden = !(idle && row.savedAt);
  b.upload.disabled = !session;
  for (const k of ["pause", "resume", "cancel", "cancelData"]) b[k].disabled = false;
  if (phase !== "running" && phase !== "waiting") {
    row.rate = 0;
    row.samples = [];
  }
  renderStats(row);
}

function setProgress(row, received, expected) {
  const total = expected > 0 ? expected : row.item.size;
  row.received = received;
  row.expected = total;
  row.progress.max = total;
  row.progress.value = Math.min(received, total);
  row.bytes.textContent = `${formatBytes(received)} of ${formatBytes(total)}`;
}

// Rate over the last few seconds of didWriteData totals; ETA from it.
function sample(row, total) {
  const now = performance.now();
  row.samples.push({ t: now, total });
  while (row.samples.length > 2 && now - row.samples[0].t > 4000) row.samples.shift();
  const first = row.samples[0];
  const span = (now - first.t) / 1000;
  row.rate = span >= 0.5 && total >= first.total ? (total - first.total) / span : row.rate;
}

function renderStats(row) {
  const running = row.phase === "running";
  if (running && row.rate > 0) {
    row.rateText.textContent = formatRate(row.rate);
    const left = Math.max(0, row.expected - row.received);
    row.eta.textContent = `about ${formatDuration((left / row.rate) * 1000)} left`;
  } else {
    row.rateText.textContent = row.phase === "suspended" ? "paused" : "";
    row.eta.textContent = "";
  }
  renderTotal();
}

function renderTotal() {
  const active = [...rows.values()].filter((r) => ["running", "waiting", "suspended", "starting"].includes(r.phase));
  const out = $("session-total");
  if (!active.length) {
    out.textContent = "No downloads running.";
    return;
  }
  const received = active.reduce((s, r) => s + r.received, 0);
  const expected = active.reduce((s, r) => s + r.expected, 0);
  const rate = active.reduce((s, r) => s + (r.phase === "running" ? r.rate : 0), 0);
  const eta = rate > 0 ? `, about ${formatDuration(((expected - received) / rate) * 1000)} left` : "";
  out.textContent = `Session: ${active.length} ${active.length === 1 ? "download" : "downloads"}, ${formatBytes(received)} of ${formatBytes(expected)}${rate > 0 ? ` at ${formatRate(rate)}` : ""}${eta}.`;
}

// The rows' "saved" state follows the sandbox (refreshed with the storage inspector).
async function refreshSavedFromSandbox() {
  // The listing below takes a while; a row whose phase changes meanwhile
  // (a callback moved its file) keeps what the callback said.
  const startedAt = performance.now();
  const where = new Map(); // file name -> its location
  const files = [];
  try {
    const docs = await fm().contentsOfDirectory("file:///Documents");
    const caches = await fm().contentsOfDirectory("file:///Library/Caches");
    for (const u of [...docs, ...caches].map(String)) {
      if (u.endsWith("/")) continue;
      const name = decodeURIComponent(u.split("/").pop());
      where.set(name, u);
      let size = null;
      try {
        size = (await fm().attributesOfItem(u)).size;
      } catch {
        continue; // gone meanwhile
      }
      files.push({ url: u, name, folder: folderOf(u), size });
    }
  } catch {
    return;
  }
  uploads.setFiles(files);
  for (const row of rows.values()) {
    if ((row.phaseChangedAt || 0) > startedAt) continue;
    const saved = where.has(row.item.name);
    const savedAt = where.get(row.item.name) || null;
    if (savedAt !== row.savedAt) {
      row.savedAt = savedAt;
      setPhase(row, row.phase); // the Upload button follows the file
    }
    if (saved === row.saved) continue;
    row.saved = saved;
    if (!ACTIVE.has(row.phase)) {
      if (saved) {
        setProgress(row, row.item.size, row.item.size);
        setPhase(row, row.phase === "idle" ? "done" : row.phase, row.phase === "idle" ? "Saved on this device" : null);
      } else if (row.phase === "done" || row.phase === "idle") {
        setProgress(row, 0, row.item.size);
        setPhase(row, "idle", "Not downloaded");
      } else {
        setPhase(row, row.phase);
      }
    }
  }
}

function action(text, row) {
  timeline.mark({ lane: "app", kind: "action", action: text, task: row ? row.item.title : undefined, text: `You pressed “${text}”.` });
}

async function startDownload(row) {
  if (!session) return;
  const rate = Number($("throttle").value) || 0;
  const fault = FAULTS.find((f) => f.id === (document.querySelector('input[name="fault"]:checked') || {}).value) || FAULTS[0];
  row.resumeData = null;
  saveResumeData();
  row.lastTotal = 0;
  setProgress(row, 0, row.item.size);
  setPhase(row, "starting", "Handing the download to the daemon…");
  const server = [rate ? `throttled to ${formatRate(rate)}` : "unthrottled", fault.id !== "none" ? `server: ${fault.label}` : null].filter(Boolean).join(" · ");
  row.server.textContent = server;
  row.server.hidden = false;
  action("Download", row);
  try {
    const task = session.downloadTask(fileURL(row.item, rate, fault));
    task.taskDescription = row.item.title; // how a relaunched page finds this row again
    row.task = task;
    rowsByTask.set(task.taskIdentifier, row);
    if (fault.id !== "none") setFault("none"); // one download only
    await task.resume(); // resolves once the daemon has stored the task
    if (row.phase === "starting") setPhase(row, "running", "Downloading in the daemon. You can close this tab now.");
  } catch (e) {
    setPhase(row, "failed", `Could not start: ${describeError(e)}`);
    showError(`Could not start “${row.item.title}”`, e);
  }
}

async function pauseDownload(row) {
  if (!row.task) return;
  action("Pause", row);
  row.buttons.pause.disabled = true;
  try {
    await row.task.suspend(); // the daemon stops the transfer and keeps the bytes
    if (row.phase === "running" || row.phase === "waiting") {
      setPhase(row, "suspended", `Paused (task.suspend()): the daemon stopped the transfer and keeps the ${formatBytes(row.received)} it has. Resume continues from there.`);
    }
  } catch (e) {
    showError(`Could not pause “${row.item.title}”`, e);
    setPhase(row, row.phase);
  }
}

async function resumeDownload(row) {
  if (!row.task) return;
  action("Resume", row);
  row.buttons.resume.disabled = true;
  try {
    await row.task.resume(); // continues with Range: didResumeAtOffset follows
    if (row.phase === "suspended") setPhase(row, "running", "Resumed (task.resume()): the daemon asks the server for the rest.");
  } catch (e) {
    showError(`Could not resume “${row.item.title}”`, e);
    setPhase(row, row.phase);
  }
}

async function cancelDownload(row) {
  if (!row.task) return;
  action("Cancel", row);
  row.buttons.cancel.disabled = true;
  try {
    await row.task.cancel(); // the delegate then gets didCompleteWithError(-999)
  } catch (e) {
    showError(`Could not cancel “${row.item.title}”`, e);
    setPhase(row, row.phase);
  }
}

async function cancelWithResumeData(row) {
  if (!row.task) return;
  action("Cancel, keep resume data", row);
  row.buttons.cancelData.disabled = true;
  const kept = row.received;
  try {
    const data = await row.task.cancelByProducingResumeData();
    row.resumeData = data ? new Uint8Array(data) : null;
    saveResumeData();
    row.resumeNote = data
      ? `Cancelled with resume data (${data.length} bytes, kept in localStorage): the ${formatBytes(kept)} already downloaded stay in the daemon. “Resume from data” continues from there.`
      : "Cancelled; no resume data was produced (nothing stored yet, or the server sent no ETag or Last-Modified).";
    if (!ACTIVE.has(row.phase) || row.phase === "suspended") setPhase(row, "cancelled", row.resumeNote);
  } catch (e) {
    showError(`Could not cancel “${row.item.title}”`, e);
    setPhase(row, row.phase);
  }
}

async function resumeFromData(row) {
  if (!session || !row.resumeData) return;
  action("Resume from data", row);
  const data = row.resumeData;
  row.resumeData = null;
  saveResumeData();
  setPhase(row, "starting", "Continuing from the resume data…");
  try {
    const task = session.downloadTaskWithResumeData(data); // a new task
    task.taskDescription = row.item.title; // the same description: the same row
    row.task = task;
    rowsByTask.set(task.taskIdentifier, row);
    await task.resume();
    if (row.phase === "starting") setPhase(row, "running", "Continuing from the resume data (a new task with the same description).");
  } catch (e) {
    row.resumeData = data;
    saveResumeData();
    setPhase(row, "failed", `Could not resume from data: ${describeError(e)}`);
    showError(`Could not resume “${row.item.title}” from its data`, e);
  }
}

// ---------------------------------------------------------------------------
// The session delegate: what iOS calls on the app's URLSessionDownloadDelegate
// ---------------------------------------------------------------------------

// True between handleEventsForBackgroundURLSession and urlSessionDidFinishEvents:
// the callbacks in between were queued while no page of the app was open.
let replaying = false;
const completionHandlers = new Map(); // identifier -> completionHandler from handleEvents

const label = (task) => task.taskDescription || `task ${task.taskIdentifier}`;

function callback(kind, task, text, extra = {}) {
  return timeline.mark({
    lane: "app",
    kind,
    task: task ? label(task) : undefined,
    taskKey: task ? `t${task.taskIdentifier}` : undefined,
    text,
    replayed: replaying,
    ...extra,
  });
}

function completeUpload(task, error) {
  let text;
  const status = task.response ? task.response.statusCode : null;
  if (!error) {
    text = status != null && status >= 400
      ? `The upload is over with no error (nil), though the server answered HTTP ${status}: for URLSession an HTTP error is an answer, not a task error.`
      : `The upload is over, with no error: the server answered HTTP ${status ?? "?"}. Every task ends with this call.`;
  } else if (error.code === -999) {
    text = "The upload is over: it was cancelled (NSURLErrorCancelled, -999).";
  } else if (error.code === -1100) {
    text = `The upload failed: the file was not there when the task resumed (NSURLErrorFileDoesNotExist, -1100). ${describeError(error)}.`;
  } else {
    text = `The upload failed: ${describeError(error)}.`;
  }
  const entry = callback("didCompleteWithError", task, text, { code: error ? error.code : null });
  const verdict = uploads.completed(task, error, replaying);
  if (verdict) entry.note(`The app compared the answer with the file it noted before the upload. ${verdict.text}`);
  endedTasks.add(task.taskIdentifier);
}

const sessionDelegate = {
  didWriteData(session, task, bytesWritten, totalBytesWritten, totalBytesExpectedToWrite) {
    const row = rowFor(task);
    const of = totalBytesExpectedToWrite > 0 ? ` of ${formatBytes(totalBytesExpectedToWrite)}` : "";
    const previous = row ? row.lastTotal : 0;
    const restart = row && totalBytesWritten < previous;
    let text;
    if (restart) {
      text = `Started over from zero: the server sent the whole file instead of the rest (it ignored Range, or the file changed and If-Range did not match). The daemon dropped the ${formatBytes(previous)} it had. Now ${formatBytes(totalBytesWritten)}${of}.`;
    } else if (replaying) {
      text = `Progress made while the page was closed, coalesced into the latest figure: ${formatBytes(totalBytesWritten)}${of} written.`;
    } else {
      text = `Progress: the daemon stored another segment. ${formatBytes(totalBytesWritten)}${of} so far.`;
    }
    callback("didWriteData", task, text, restart ? { restart: true } : {});
    if (!row) return;
    if (restart) row.samples = [];
    row.lastTotal = totalBytesWritten;
    setProgress(row, totalBytesWritten, totalBytesExpectedToWrite);
    if (!replaying) sample(row, totalBytesWritten);
    if (row.phase === "suspended" || row.phase === "cancelled") return renderStats(row);
    if (replaying) setPhase(row, "running", "Catching up on progress made while this page was closed…");
    else if (restart) setPhase(row, "running", "Restarted from zero: the server did not continue the old file.");
    else if (row.phase !== "running" || row.catchingUp) setPhase(row, "running", "Downloading in the daemon. You can close this tab now.");
    else renderStats(row);
    row.catchingUp = replaying;
  },

  didResumeAtOffset(session, task, fileOffset, expectedTotalBytes) {
    const pct = expectedTotalBytes > 0 ? ` (${Math.floor((fileOffset / expectedTotalBytes) * 100)} %)` : "";
    const row = rowFor(task);
    if (fileOffset === 0) {
      // Apple: "If the file's cached data is no longer valid, the offset is zero."
      callback("didResumeAtOffset", task, `Started over from zero (offset 0): the bytes already stored could not be reused — the server ignored Range, or the file changed and If-Range did not match. The download continues from the start.`, { restart: true });
      if (row) {
        row.samples = [];
        row.lastTotal = 0;
      }
      return;
    }
    callback("didResumeAtOffset", task, `Resumed at byte ${fileOffset.toLocaleString("en-US")}${pct} of ${formatBytes(expectedTotalBytes)}: the server sent only the rest (Range), nothing is downloaded twice.`);
    if (!row) return;
    row.lastTotal = fileOffset;
    row.samples = [];
    setProgress(row, fileOffset, expectedTotalBytes);
    if (row.phase !== "suspended") setPhase(row, "running", `Resumed at ${formatBytes(fileOffset)}${pct}: the daemon continues where it stopped.`);
  },

  async didFinishDownloadingTo(session, task, location) {
    const entry = callback("didFinishDownloadingTo", task, `The whole file is on disk at a temporary location (${location}). The app must move it before this method returns, or the system deletes it.`);
    const row = rowFor(task);
    const status = task.response ? task.response.statusCode : 200;
    if (status >= 400) {
      // As on iOS, an HTTP error is not a task error: the "file" is the error page.
      entry.note(`The server answered HTTP ${status}, so the app does not keep this file; the system deletes it.`);
      if (row) row.httpStatus = status;
      return;
    }
    const item = row ? row.item : CATALOGUE.find((i) => i.title === task.taskDescription);
    const folder = $("save-to").value;
    const dest = `${folder}/${safeName(item ? item.name : task.taskDescription || `download-${task.taskIdentifier}`)}`;
    if (row) setPhase(row, "saving", "Moving the file…");
    try {
      if (await fm().fileExists(dest)) await fm().removeItem(dest); // replace an older copy
      // An older copy in the other folder goes too: one copy per episode.
      const other = folder === "file:///Documents" ? "file:///Library/Caches" : "file:///Documents";
      const otherDest = `${other}/${dest.split("/").pop()}`;
      if (await fm().fileExists(otherDest)) await fm().removeItem(otherDest);
      await fm().moveItem(location, dest);
      entry.note(`The app moved it to ${dest}.`);
      if (row) row.movedTo = dest;
    } catch (e) {
      entry.note(`Moving it failed: ${describeError(e)}`);
      if (row) setPhase(row, "failed", `Could not save the file: ${describeError(e)}`);
      showError(`Could not move “${task.taskDescription}”`, e);
    }
  },

  // ---- upload tasks (URLSessionTaskDelegate, URLSessionDataDelegate) ----

  didSendBodyData(session, task, bytesSent, totalBytesSent, totalBytesExpectedToSend) {
    callback("didSendBodyData", task, `The daemon sent the file: ${formatBytes(totalBytesSent)} of ${formatBytes(totalBytesExpectedToSend)}. On iOS this comes again and again as the bytes go out; a browser reports no upload progress, so here it comes once, with the whole size, when the server answers.`);
    uploads.sent(task, totalBytesSent, totalBytesExpectedToSend);
  },

  didReceiveData(session, task, data) {
    const { answer, text } = uploads.received(task, data);
    const what = answer
      ? `it received ${answer.size.toLocaleString("en-US")} bytes, SHA-256 ${answer.sha256.slice(0, 12)}…`
      : `“${text.length > 80 ? `${text.slice(0, 80)}…` : text}”.`;
    callback("didReceiveData", task, `The server's answer (the response body), ${data.length.toLocaleString("en-US")} bytes: ${what} An upload task hands the body to the app in pieces, as a data task does.`);
  },

  taskIsWaitingForConnectivity(session, task) {
    callback("taskIsWaitingForConnectivity", task, "No network. The daemon waits (background sessions always do) and continues when the network is back.");
    if (task.kind === "upload") return uploads.waiting(task);
    const row = rowFor(task);
    if (row && row.phase !== "suspended") setPhase(row, "waiting", "Waiting for the network…");
  },

  willBeginDelayedRequest(session, task) {
    callback("willBeginDelayedRequest", task, "The task's earliestBeginDate has come. The app may still change or cancel the request; this one answers “continue”.");
    return "continue";
  },

  didCompleteWithError(session, task, error) {
    if (task.kind === "upload") return completeUpload(task, error);
    const row = rowFor(task);
    let text;
    const resumeData = error && error.userInfo && error.userInfo.NSURLSessionDownloadTaskResumeData;
    if (!error) {
      text = "The task is over, with no error. Every task ends with this call, after success or failure.";
    } else if (error.code === -999) {
      text = "The task is over: it was cancelled (NSURLErrorCancelled, -999).";
    } else {
      text = `The task failed: ${describeError(error)}.`;
      if (resumeData) text += " The error carries resume data, so the app can continue it with downloadTaskWithResumeData.";
    }
    callback("didCompleteWithError", task, text, { code: error ? error.code : null });
    if (row) {
      if (error && error.code === -999) {
        setPhase(row, "cancelled", row.resumeData ? row.resumeNote || "Cancelled with resume data." : "Cancelled (-999).");
        row.resumeNote = null;
      } else if (error) {
        if (resumeData && !row.resumeData) {
          row.resumeData = new Uint8Array(resumeData);
          saveResumeData();
        }
        setPhase(row, "failed", `Failed: ${describeError(error)}`);
      } else if (row.httpStatus) setPhase(row, "failed", `The server answered HTTP ${row.httpStatus}; nothing was saved.`);
      else if (row.phase !== "failed") {
        row.saved = Boolean(row.movedTo) || row.saved;
        setProgress(row, row.item.size, row.item.size);
        setPhase(row, "done", row.movedTo ? `Downloaded and saved in ${row.movedTo.startsWith("file:///Documents") ? "Documents" : "Library/Caches"}` : "Downloaded");
      }
      row.httpStatus = 0;
      row.movedTo = null;
      if (row.task === task) row.task = null;
      setPhase(row, row.phase);
    }
    rowsByTask.delete(task.taskIdentifier);
    endedTasks.add(task.taskIdentifier);
    storage.refresh();
  },

  urlSessionDidFinishEvents(session) {
    const identifier = session.configuration.identifier;
    replaying = false;
    callback("urlSessionDidFinishEvents", null, "Every queued event has been delivered. The app calls the completion handler it kept from handleEventsForBackgroundURLSession (on iOS that lets the system take a new app-switcher snapshot and suspend the app again).");
    const done = completionHandlers.get(identifier);
    completionHandlers.delete(identifier);
    if (done) done();
    setSessionStatus(`Session ${identifier}: all queued events delivered; the completion handler was called.`);
  },

  didBecomeInvalidWithError(invalidated, error) {
    callback("didBecomeInvalidWithError", null, `The session was invalidated${error ? `: ${describeError(error)}` : ""}. Its delegate gets no more calls. Reload the page to create a new one.`);
    if (invalidated.configuration.identifier === SESSION_ID) session = null;
  },
};

// ---------------------------------------------------------------------------
// The session, and the app delegate that recreates it on a relaunch
// ---------------------------------------------------------------------------

let session = null;

const setSessionStatus = (text) => {
  $("session-status").textContent = text;
};

// One URLSession per identifier: a second one with the same identifier throws.
function openSession() {
  if (session) return session;
  const config = URLSessionConfiguration.background(SESSION_ID);
  config.isDiscretionary = false;
  config.sessionSendsLaunchEvents = true;
  session = new URLSession(config, sessionDelegate);
  return session;
}

const appDelegate = {
  handleEventsForBackgroundURLSession(identifier, completionHandler) {
    if (identifier !== SESSION_ID) {
      // Another page of this origin owns that session; this app cannot recreate it.
      timeline.mark({ lane: "app", kind: "handleEventsForBackgroundURLSession", text: `Events are waiting for “${identifier}”, a session this demo does not own, so it leaves them for the page that does.` });
      return;
    }
    replaying = true;
    completionHandlers.set(identifier, completionHandler);
    timeline.relaunched();
    timeline.mark({ lane: "app", kind: "handleEventsForBackgroundURLSession", text: "Relaunched: the background session has events that were queued while the app was closed. The app keeps the completion handler and recreates the session with the same identifier; the queued callbacks follow, marked replayed." });
    try {
      openSession();
      setSessionStatus(`Session ${identifier}: recreated in handleEventsForBackgroundURLSession to receive the events queued while this page was closed.`);
    } catch (e) {
      replaying = false;
      showError("Could not recreate the session", e);
    }
  },
};

// ---------------------------------------------------------------------------
// The daemon's life, from the library's BroadcastChannel
// ---------------------------------------------------------------------------

const DAEMON_TEXT = {
  started: () => "A new daemon life: the Service Worker started (or was woken) and picks up unfinished transfers from their stored bytes. On iOS: nsurlsessiond starts working for the app again.",
  busy: (n) => `Busy: the daemon is transferring (${n} ${n === 1 ? "transfer" : "transfers"} running).`,
  idle: () => "Idle: nothing to transfer. The browser may now stop the worker; the next command or page visit wakes it.",
  killed: (n) => `Killed: ${n ? `${n} ${n === 1 ? "transfer" : "transfers"} stopped, ` : ""}the bytes in flight are lost, the stored ones stay. It comes back when a page pokes it.`,
};

function listenToDaemon() {
  if (typeof BroadcastChannel !== "function") return;
  const channel = new BroadcastChannel("bgsession");
  let last = null;
  channel.addEventListener("message", (ev) => {
    const d = ev.data;
    if (!d || d.type !== "daemon" || !DAEMON_TEXT[d.event]) return;
    const again = d.event === "busy" && last === "busy";
    last = d.event;
    timeline.mark({
      lane: "daemon",
      kind: `daemon:${d.event}`,
      transfers: d.transfers,
      at: Number.isFinite(d.at) && Math.abs(d.at - Date.now()) < 60_000 ? d.at : Date.now(),
      text: again
        ? "Busy again: the daemon starts another attempt (a retry after a failed one, or a resume after a cut)."
        : DAEMON_TEXT[d.event](d.transfers),
    });
  });
}

// ---------------------------------------------------------------------------
// The failure lab
// ---------------------------------------------------------------------------

function setFault(id) {
  const input = document.querySelector(`input[name="fault"][value="${id}"]`);
  if (input) input.checked = true;
}

function buildLab() {
  $("reopen-url").textContent = location.href.split("#")[0];
  $("reload").addEventListener("click", () => {
    action("Reload as a relaunch");
    timeline.touch();
    timeline.save();
    location.reload();
  });

  $("kill-daemon").addEventListener("click", async (ev) => {
    const b = ev.currentTarget;
    if (!session) return;
    b.disabled = true;
    action("Kill the daemon");
    try {
      const n = await session.simulateDaemonKill();
      $("kill-result").textContent = n
        ? `Killed: ${n} ${n === 1 ? "transfer" : "transfers"} stopped mid-way. Watch the Daemon lane: it comes back in about 2 s and continues with Range (didResumeAtOffset).`
        : "Killed, but nothing was running: start a download first to see it resume.";
    } catch (e) {
      showError("Could not kill the daemon", e);
    } finally {
      b.disabled = false;
    }
  });

  const net = $("net-state");
  const showNet = () => {
    net.textContent = navigator.onLine ? "online (navigator.onLine is true)" : "offline (navigator.onLine is false)";
    net.dataset.online = String(navigator.onLine);
  };
  addEventListener("online", showNet);
  addEventListener("offline", showNet);
  showNet();

  const box = $("faults");
  for (const f of FAULTS) {
    const id = `fault-${f.id}`;
    box.append(el("div", { class: "fault" },
      el("input", { type: "radio", name: "fault", id, value: f.id, checked: f.id === "none", "aria-describedby": `${id}-help` }),
      el("label", { for: id, text: f.label }),
      el("p", { id: `${id}-help`, class: "fault-help", text: f.explain }),
    ));
  }

  $("clear-timeline").addEventListener("click", () => timeline.clear());
}

// ---------------------------------------------------------------------------
// Start-up: the app "launches"
// ---------------------------------------------------------------------------

async function adoptRunningTasks() {
  const tasks = await session.getAllTasks(); // live task objects, also after a reload
  let running = 0;
  for (const task of tasks) {
    if (task.kind === "upload") {
      if (task.state !== "completed") uploads.adopt(task);
      continue;
    }
    const row = rowFor(task);
    if (!row || task.state === "completed") continue;
    running++;
    row.lastTotal = task.countOfBytesReceived;
    setProgress(row, task.countOfBytesReceived, task.countOfBytesExpectedToReceive);
    if (task.state === "suspended") setPhase(row, "suspended", "Paused");
    else if (row.phase !== "saving") setPhase(row, "running", "Still downloading in the daemon (it kept going while the page was closed).");
  }
  return running;
}

async function main() {
  const boot = $("boot");
  buildCatalogue();
  buildLab();
  uploads.build();
  const back = timeline.open();
  listenToDaemon();
  try {
    await init();
  } catch (e) {
    boot.className = "boot boot-failed";
    boot.textContent = `The bgsession module could not start: ${describeError(e)}`;
    return;
  }

  // 1. The app delegate first: setting it is the "launch", and it is handed
  //    each session identifier that has events queued.
  UIApplication.shared.delegate = appDelegate;
  let launchedIds = [];
  try {
    launchedIds = await UIApplication.shared.launched;
  } catch (e) {
    showError("The launch check failed", e);
  }

  // 2. The session, whether or not handleEvents already recreated it.
  try {
    if (!session) {
      openSession();
      setSessionStatus(`Session ${SESSION_ID}: created at launch. No events were waiting${back ? ` (the page was closed for ${formatDuration(back.closedFor)})` : ""}.`);
    }
  } catch (e) {
    showError("Could not create the session", e);
  }

  // 3. Show what is still running, what the daemon does, and the sandbox.
  if (session) {
    try {
      const running = await adoptRunningTasks();
      if (running && !launchedIds.includes(SESSION_ID)) {
        setSessionStatus(`Session ${SESSION_ID}: created at launch. ${running} ${running === 1 ? "download is" : "downloads are"} still running in the daemon.`);
      }
    } catch (e) {
      showError("Could not list the session's tasks", e);
    }
    session.daemonStatus().then(
      (s) => timeline.mark({ lane: "daemon", kind: "daemon:status", transfers: s.transfers, text: `This page asked the daemon what it is doing: ${s.transfers} ${s.transfers === 1 ? "transfer" : "transfers"} running.` }),
      () => {},
    );
    // Another tab of this demo may hold the session's events; say so.
    let waited = false;
    const timer = setTimeout(() => {
      waited = true;
      setSessionStatus(`Session ${SESSION_ID}: another tab of this demo is receiving its callbacks. This tab takes over when that one closes.`);
    }, 3000);
    session.ready.then(
      () => {
        clearTimeout(timer);
        if (waited) setSessionStatus(`Session ${SESSION_ID}: the other tab closed, so this tab now receives the callbacks.`);
      },
      (e) => {
        clearTimeout(timer);
        showError("The session could not start", e);
      },
    );
  }
  await storage.refresh();
  await refreshSavedFromSandbox();
  for (const row of rows.values()) setPhase(row, row.phase);
  setInterval(() => {
    for (const row of rows.values()) if (row.phase === "running") renderStats(row);
  }, 1000);

  boot.hidden = true;
  document.body.dataset.ready = "1";
}

main();
