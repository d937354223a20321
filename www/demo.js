// bgsession demo: a podcast "app" whose downloads run in the daemon (a
// Service Worker) and outlive the tab. Read top to bottom: the catalogue, the
// session delegate (the iOS callbacks), the app delegate (the relaunch), then
// the start-up sequence at the end.
import init, { UIApplication, URLSessionConfiguration, URLSession, FileManager } from "./pkg/bgsession.js";

const SESSION_ID = "com.example.bgsession.demo";
const KiB = 1024;
const MiB = 1024 * KiB;

// Files the local test server generates: /files/<name>?size=N&rate=B (bytes/s).
const CATALOGUE = [
  { name: "ep01-welcome.mp3", title: "Ep. 1: Welcome to background transfers", size: 1 * MiB, rate: 256 * KiB },
  { name: "ep02-inside-urlsession.mp3", title: "Ep. 2: Inside URLSession", size: 8 * MiB, rate: 1 * MiB },
  { name: "ep03-meet-the-daemon.mp3", title: "Ep. 3: Meet the daemon", size: 32 * MiB, rate: 4 * MiB },
  { name: "ep04-relaunched.mp3", title: "Ep. 4: Relaunched in the background", size: 64 * MiB, rate: 8 * MiB },
  { name: "ep05-directors-cut.mp3", title: "Bonus: The director's cut", size: 200 * MiB, rate: 0 },
];

const DOCUMENTS = "file:///Documents";
const fm = () => FileManager.default;
const $ = (id) => document.getElementById(id);

// ---------------------------------------------------------------------------
// Small helpers
// ---------------------------------------------------------------------------

function formatBytes(n) {
  if (n == null || !Number.isFinite(n) || n < 0) return "unknown size";
  if (n < KiB) return `${n} B`;
  const units = ["KiB", "MiB", "GiB", "TiB"];
  let v = n / KiB;
  let i = 0;
  while (v >= 1024 && i < units.length - 1) {
    v /= 1024;
    i++;
  }
  return `${v >= 100 ? Math.round(v) : v.toFixed(1)} ${units[i]}`;
}

const clock = (d = new Date()) =>
  d.toLocaleTimeString([], { hour: "2-digit", minute: "2-digit", second: "2-digit", hour12: false });

function el(tag, props = {}, ...children) {
  const node = document.createElement(tag);
  for (const [k, v] of Object.entries(props)) {
    if (v == null || v === false) continue;
    if (k === "class") node.className = v;
    else if (k === "dataset") Object.assign(node.dataset, v);
    else if (k === "text") node.textContent = v;
    else if (k.startsWith("on")) node.addEventListener(k.slice(2), v);
    else node.setAttribute(k, v === true ? "" : v);
  }
  for (const c of children.flat()) if (c != null) node.append(c);
  return node;
}

// An NSError-like object ({domain, code, localizedDescription}) or an Error, as one line.
function describeError(e) {
  if (e == null) return "unknown error";
  if (typeof e === "object" && e.localizedDescription) {
    return `${e.localizedDescription}${e.code != null ? ` (${e.domain || "error"} ${e.code})` : ""}`;
  }
  if (e instanceof Error) return e.message || e.name;
  return String(e);
}

// Errors always go on the page (the list at the top), never only the console.
function showError(what, e) {
  const box = $("errors");
  const msg = el("div", { class: "error", role: "alert" },
    el("p", {}, el("strong", { text: `${what}: ` }), describeError(e)),
    el("button", { type: "button", class: "small secondary", "aria-label": "Dismiss this error", text: "Dismiss", onclick: () => msg.remove() }),
  );
  box.append(msg);
}

window.addEventListener("error", (ev) => showError("Unexpected error", ev.error || ev.message));
window.addEventListener("unhandledrejection", (ev) => showError("Unexpected error", ev.reason));

// ---------------------------------------------------------------------------
// The catalogue
// ---------------------------------------------------------------------------

const rows = new Map(); // item name -> row
const rowsByTask = new Map(); // taskIdentifier -> row
const endedTasks = new Set(); // taskIdentifiers that got didCompleteWithError

function fileURL(item) {
  const url = new URL(`/files/${encodeURIComponent(item.name)}`, location.href);
  url.searchParams.set("size", String(item.size));
  if (item.rate) url.searchParams.set("rate", String(item.rate));
  return url.href;
}

const safeName = (s) => String(s).replace(/[^A-Za-z0-9._-]+/g, "-").replace(/^[-.]+/, "").slice(0, 80) || "download";

function buildCatalogue() {
  const list = $("catalogue");
  for (const item of CATALOGUE) {
    const titleId = `title-${item.name.replace(/\W/g, "-")}`;
    const row = { item, task: null, phase: "idle", saved: false };
    row.progress = el("progress", { max: String(item.size), value: "0", "aria-labelledby": titleId });
    row.bytes = el("span", { class: "bytes", text: `0 B of ${formatBytes(item.size)}` });
    row.state = el("span", { class: "state", role: "status", text: "Not downloaded" });
    row.download = el("button", { type: "button", class: "download", "aria-describedby": titleId, text: "Download", disabled: true, onclick: () => startDownload(row) });
    row.cancel = el("button", { type: "button", class: "cancel secondary", "aria-describedby": titleId, text: "Cancel", hidden: true, onclick: () => cancelDownload(row) });
    const speed = item.rate ? `throttled to ${formatBytes(item.rate)}/s` : "full speed";
    row.li = el("li", { class: "item", dataset: { item: item.name, phase: "idle" } },
      el("div", { class: "item-head" },
        el("h3", { id: titleId, class: "item-title", text: item.title }),
        el("span", { class: "item-meta", text: `${formatBytes(item.size)} · ${speed}` }),
      ),
      row.progress,
      el("div", { class: "item-foot" }, row.bytes, row.state),
      el("div", { class: "item-actions" }, row.download, row.cancel),
    );
    rows.set(item.name, row);
    list.append(row.li);
  }
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

function setPhase(row, phase, stateText) {
  row.phase = phase;
  row.li.dataset.phase = phase;
  if (stateText != null) row.state.textContent = stateText;
  const busy = phase === "starting" || phase === "running" || phase === "saving";
  row.download.disabled = busy || !session;
  row.download.textContent = busy ? "Downloading…" : row.saved ? "Download again" : "Download";
  row.cancel.hidden = phase !== "running";
}

function setProgress(row, received, expected) {
  const total = expected > 0 ? expected : row.item.size;
  row.progress.max = total;
  row.progress.value = Math.min(received, total);
  row.bytes.textContent = `${formatBytes(received)} of ${formatBytes(total)}`;
}

async function startDownload(row) {
  if (!session) return;
  setPhase(row, "starting", "Handing the download to the daemon…");
  setProgress(row, 0, row.item.size);
  try {
    const task = session.downloadTask(fileURL(row.item));
    task.taskDescription = row.item.title; // how a relaunched page finds this row again
    row.task = task;
    rowsByTask.set(task.taskIdentifier, row);
    await task.resume(); // resolves once the daemon has stored the task
    if (row.phase === "starting") setPhase(row, "running", "Downloading in the daemon. You can close this tab now.");
  } catch (e) {
    setPhase(row, "failed", `Could not start: ${describeError(e)}`);
    showError(`Could not start “${row.item.title}”`, e);
  }
}

async function cancelDownload(row) {
  if (!row.task) return;
  row.cancel.disabled = true;
  try {
    await row.task.cancel(); // the delegate then gets didCompleteWithError(-999)
  } catch (e) {
    showError(`Could not cancel “${row.item.title}”`, e);
  } finally {
    row.cancel.disabled = false;
  }
}

// ---------------------------------------------------------------------------
// The callbacks list
// ---------------------------------------------------------------------------

const APPLE = {
  handleEventsForBackgroundURLSession: "application(_:handleEventsForBackgroundURLSession:completionHandler:)",
  didWriteData: "urlSession(_:downloadTask:didWriteData:totalBytesWritten:totalBytesExpectedToWrite:)",
  didResumeAtOffset: "urlSession(_:downloadTask:didResumeAtOffset:expectedTotalBytes:)",
  didFinishDownloadingTo: "urlSession(_:downloadTask:didFinishDownloadingTo:)",
  taskIsWaitingForConnectivity: "urlSession(_:taskIsWaitingForConnectivity:)",
  willBeginDelayedRequest: "urlSession(_:task:willBeginDelayedRequest:completionHandler:)",
  didCompleteWithError: "urlSession(_:task:didCompleteWithError:)",
  urlSessionDidFinishEvents: "urlSessionDidFinishEvents(forBackgroundURLSession:)",
  didBecomeInvalidWithError: "urlSession(_:didBecomeInvalidWithError:)",
};

// Apple's selector, allowed to wrap after "(" and each ":" on narrow screens.
function appleName(name) {
  const code = el("code", { class: "cb-apple" });
  for (const part of name.split(/(?<=[(:])/)) code.append(part, el("wbr"));
  code.lastChild.remove();
  return code;
}

// True between handleEventsForBackgroundURLSession and urlSessionDidFinishEvents:
// the callbacks in between were queued while no page of the app was open.
let replaying = false;
const progressLines = new Map(); // `${taskId}:${replayed}` -> entry

function logCallback(method, { task = null, text, kind = "" } = {}) {
  const list = $("callbacks");
  const replayed = replaying && method !== "handleEventsForBackgroundURLSession" && method !== "urlSessionDidFinishEvents";
  const explain = el("p", { class: "cb-explain", text });
  const time = el("time", { datetime: new Date().toISOString(), text: clock() });
  const li = el("li", { class: ["cb", replayed ? "replayed" : "", kind].filter(Boolean).join(" "), dataset: { method } },
    el("div", { class: "cb-head" },
      time,
      replayed ? el("span", { class: "badge badge-replayed", text: "replayed" }) : null,
      kind === "launch" ? el("span", { class: "badge badge-launch", text: "relaunch" }) : null,
      task ? el("span", { class: "cb-task", text: task.taskDescription || `task ${task.taskIdentifier}` }) : null,
    ),
    appleName(APPLE[method] || method),
    explain,
  );
  list.append(li);
  $("callbacks-empty").hidden = true;
  return {
    li,
    replayed,
    set text(t) {
      explain.textContent = t;
      time.textContent = clock();
    },
    note(t) {
      li.append(el("p", { class: "cb-note", text: t }));
    },
  };
}

// didWriteData arrives for every chunk: one line per task, updated in place.
function logProgress(task, total, expected) {
  const key = `${task.taskIdentifier}:${replaying}`;
  let entry = progressLines.get(key);
  const of = expected >= 0 ? ` of ${formatBytes(expected)}` : "";
  if (!entry || !entry.li.isConnected) {
    entry = logCallback("didWriteData", { task, text: "" });
    entry.calls = 0;
    progressLines.set(key, entry);
  }
  entry.calls++;
  entry.text = replaying
    ? `Progress made while the page was closed, coalesced into the latest figure: ${formatBytes(total)}${of} written.`
    : `Progress: the daemon wrote another chunk to disk. ${formatBytes(total)}${of} so far (${entry.calls} ${entry.calls === 1 ? "call" : "calls"} merged into this line).`;
}

// Keep the newest callback in view unless the reader scrolled up to read.
{
  const scroller = $("callbacks").parentElement;
  let stick = true;
  let setByUs = -1;
  scroller.addEventListener("scroll", () => {
    // Our own scrolls arrive late, maybe after more lines were added: skip them.
    if (Math.abs(scroller.scrollTop - setByUs) < 2) return;
    stick = scroller.scrollHeight - scroller.scrollTop - scroller.clientHeight < 24;
  });
  new ResizeObserver(() => {
    if (!stick) return;
    scroller.scrollTop = scroller.scrollHeight;
    setByUs = scroller.scrollTop;
  }).observe($("callbacks"));
}

$("clear-callbacks").addEventListener("click", () => {
  $("callbacks").replaceChildren();
  progressLines.clear();
  $("callbacks-empty").hidden = false;
});

// ---------------------------------------------------------------------------
// The session delegate: what iOS calls on the app's URLSessionDownloadDelegate
// ---------------------------------------------------------------------------

const completionHandlers = new Map(); // identifier -> completionHandler from handleEvents

const sessionDelegate = {
  didWriteData(session, task, bytesWritten, totalBytesWritten, totalBytesExpectedToWrite) {
    logProgress(task, totalBytesWritten, totalBytesExpectedToWrite);
    const row = rowFor(task);
    if (!row) return;
    setProgress(row, totalBytesWritten, totalBytesExpectedToWrite);
    if (replaying) setPhase(row, "running", "Catching up on progress made while this page was closed…");
    else if (row.phase !== "running" || row.catchingUp) setPhase(row, "running", "Downloading in the daemon. You can close this tab now.");
    row.catchingUp = replaying;
  },

  didResumeAtOffset(session, task, fileOffset, expectedTotalBytes) {
    logCallback("didResumeAtOffset", {
      task,
      text: `The download continues from byte ${fileOffset.toLocaleString()} instead of starting over (of ${formatBytes(expectedTotalBytes)}).`,
    });
    const row = rowFor(task);
    if (row) setProgress(row, fileOffset, expectedTotalBytes);
  },

  async didFinishDownloadingTo(session, task, location) {
    const entry = logCallback("didFinishDownloadingTo", {
      task,
      text: `The whole file is on disk at a temporary location (${location}). The app must move it before this method returns, or the system deletes it.`,
    });
    const row = rowFor(task);
    const status = task.response ? task.response.statusCode : 200;
    if (status >= 400) {
      // As on iOS, an HTTP error is not a task error: the "file" is the error page.
      entry.note(`The server answered HTTP ${status}, so the app does not keep this file; the system deletes it.`);
      if (row) row.httpStatus = status;
      return;
    }
    const item = row ? row.item : CATALOGUE.find((i) => i.title === task.taskDescription);
    const dest = `${DOCUMENTS}/${safeName(item ? item.name : task.taskDescription || `download-${task.taskIdentifier}`)}`;
    if (row) setPhase(row, "saving", "Moving the file to Documents…");
    try {
      if (await fm().fileExists(dest)) await fm().removeItem(dest); // replace an older copy
      await fm().moveItem(location, dest);
      entry.note(`The app moved it to ${dest}.`);
      if (row) row.movedTo = dest;
    } catch (e) {
      entry.note(`Moving it failed: ${describeError(e)}`);
      if (row) setPhase(row, "failed", `Could not save the file: ${describeError(e)}`);
      showError(`Could not move “${task.taskDescription}” to Documents`, e);
    }
  },

  taskIsWaitingForConnectivity(session, task) {
    logCallback("taskIsWaitingForConnectivity", {
      task,
      text: "The device is offline. The daemon waits and starts the download when the network is back.",
    });
    const row = rowFor(task);
    if (row) setPhase(row, "running", "Waiting for the network…");
  },

  willBeginDelayedRequest(session, task, request) {
    logCallback("willBeginDelayedRequest", {
      task,
      text: "The task's earliestBeginDate has come. The app may still change or cancel the request; this one answers “continue”.",
    });
    return "continue";
  },

  didCompleteWithError(session, task, error) {
    const row = rowFor(task);
    let text;
    if (!error) {
      text = "The task is over, and there was no error. Every task ends with this call, after success or failure.";
    } else if (error.code === -999) {
      text = "The task is over: it was cancelled (NSURLErrorCancelled, -999).";
    } else {
      text = `The task failed: ${describeError(error)}.`;
      if (error.userInfo && error.userInfo.NSURLSessionDownloadTaskResumeData) {
        text += " The error carries resume data, so an app could continue it with downloadTaskWithResumeData.";
      }
    }
    logCallback("didCompleteWithError", { task, text, kind: error && error.code !== -999 ? "failed" : "" });
    if (row) {
      if (error && error.code === -999) setPhase(row, "cancelled", "Cancelled");
      else if (error) setPhase(row, "failed", `Failed: ${describeError(error)}`);
      else if (row.httpStatus) setPhase(row, "failed", `The server answered HTTP ${row.httpStatus}; nothing was saved.`);
      else if (row.phase !== "failed") {
        row.saved = Boolean(row.movedTo);
        setProgress(row, row.item.size, row.item.size);
        setPhase(row, "done", row.movedTo ? "Downloaded and saved in Documents" : "Downloaded");
      }
      row.httpStatus = 0;
      row.movedTo = null;
      if (row.task === task) row.task = null;
    }
    rowsByTask.delete(task.taskIdentifier);
    endedTasks.add(task.taskIdentifier);
    refreshDocuments();
  },

  urlSessionDidFinishEvents(session) {
    const identifier = session.configuration.identifier;
    replaying = false;
    logCallback("urlSessionDidFinishEvents", {
      kind: "launch",
      text: "Every queued event has been delivered. The app now calls the completion handler it kept from handleEventsForBackgroundURLSession (on iOS that lets the system update the app switcher snapshot and suspend the app again).",
    });
    const done = completionHandlers.get(identifier);
    completionHandlers.delete(identifier);
    if (done) done();
    setSessionStatus(`Session ${identifier}: all queued events delivered; the completion handler was called.`);
  },

  didBecomeInvalidWithError(invalidated, error) {
    logCallback("didBecomeInvalidWithError", {
      text: `The session was invalidated${error ? `: ${describeError(error)}` : ""}. Its delegate gets no more calls. Reload the page to create a new one.`,
    });
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
      logCallback("handleEventsForBackgroundURLSession", {
        kind: "launch",
        text: `Events are waiting for “${identifier}”, a session this demo does not own, so it leaves them for the page that does.`,
      });
      return;
    }
    replaying = true;
    completionHandlers.set(identifier, completionHandler);
    logCallback("handleEventsForBackgroundURLSession", {
      kind: "launch",
      text: "The app was relaunched because its background session has events waiting. It keeps the completion handler and recreates the session with the same identifier; the queued callbacks follow.",
    });
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
// Documents and storage
// ---------------------------------------------------------------------------

let refreshing = null;
let refreshAgain = false;

// Serialised: a refresh asked for while one runs is done once afterwards.
function refreshDocuments() {
  if (refreshing) {
    refreshAgain = true;
    return refreshing;
  }
  refreshing = (async () => {
    do {
      refreshAgain = false;
      try {
        await renderDocuments();
      } catch (e) {
        showError("Could not list Documents", e);
      }
    } while (refreshAgain);
    refreshing = null;
  })();
  return refreshing;
}

async function renderDocuments() {
  const urls = (await fm().contentsOfDirectory(DOCUMENTS)).filter((u) => !String(u).endsWith("/"));
  const files = [];
  for (const url of urls) {
    try {
      files.push({ url, ...(await fm().attributesOfItem(url)) });
    } catch {
      // Removed in the meantime.
    }
  }
  files.sort((a, b) => String(a.url).localeCompare(String(b.url)));
  const list = $("documents");
  list.replaceChildren(
    ...files.map((f) => {
      const name = decodeURIComponent(String(f.url).slice(DOCUMENTS.length + 1));
      const date = f.modificationDate ? new Date(f.modificationDate) : null;
      const del = el("button", { type: "button", class: "small danger", "aria-label": `Delete ${name}`, text: "Delete" });
      del.addEventListener("click", () => deleteFile(f.url, name, del));
      return el("li", { dataset: { url: f.url, size: String(f.size) } },
        el("div", { class: "doc-info" },
          el("span", { class: "doc-name", text: name }),
          el("span", { class: "doc-meta" },
            el("span", { class: "doc-size", text: formatBytes(f.size), title: `${Number(f.size).toLocaleString()} bytes` }),
            date ? el("time", { class: "doc-date", datetime: date.toISOString(), text: `saved ${date.toLocaleString()}` }) : null,
          ),
        ),
        del,
      );
    }),
  );
  $("documents-empty").hidden = files.length > 0;

  // Rows that are not busy show whether their episode is saved.
  const saved = new Set(files.map((f) => decodeURIComponent(String(f.url).slice(DOCUMENTS.length + 1))));
  for (const row of rows.values()) {
    row.saved = saved.has(row.item.name);
    if (row.phase === "idle" || row.phase === "done") {
      if (row.saved) {
        setProgress(row, row.item.size, row.item.size);
        setPhase(row, row.phase, row.phase === "done" ? row.state.textContent : "Saved in Documents");
      } else {
        setProgress(row, 0, row.item.size);
        setPhase(row, "idle", "Not downloaded");
      }
    } else {
      setPhase(row, row.phase);
    }
  }

  const u = await fm().usage();
  const quota = u.quota ? ` of about ${formatBytes(u.quota)} this site may use` : "";
  $("storage").textContent =
    `Storage: Documents ${formatBytes(u.documents)} · tmp ${formatBytes(u.tmp)} · Caches ${formatBytes(u.caches)} · total ${formatBytes(u.total)}${quota}.`;
}

async function deleteFile(url, name, button) {
  button.disabled = true;
  try {
    await fm().removeItem(url);
  } catch (e) {
    showError(`Could not delete ${name}`, e);
  }
  await refreshDocuments();
}

$("refresh-documents").addEventListener("click", () => refreshDocuments());

// ---------------------------------------------------------------------------
// Start-up: the app "launches"
// ---------------------------------------------------------------------------

async function adoptRunningTasks() {
  const tasks = await session.getAllTasks(); // live task objects, also after a reload
  let running = 0;
  for (const task of tasks) {
    const row = rowFor(task);
    if (!row || task.state === "completed") continue;
    running++;
    setProgress(row, task.countOfBytesReceived, task.countOfBytesExpectedToReceive);
    if (task.state === "suspended") setPhase(row, "suspended", "Paused");
    else if (row.phase !== "saving") setPhase(row, "running", "Still downloading in the daemon (it kept going while the page was closed).");
  }
  return running;
}

async function main() {
  const boot = $("boot");
  buildCatalogue();
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
      setSessionStatus(`Session ${SESSION_ID}: created at launch. No events were waiting.`);
    }
  } catch (e) {
    showError("Could not create the session", e);
  }

  // 3. Show what is still running, and the saved files.
  if (session) {
    try {
      const running = await adoptRunningTasks();
      if (running && !launchedIds.includes(SESSION_ID)) {
        setSessionStatus(`Session ${SESSION_ID}: created at launch. ${running} ${running === 1 ? "download is" : "downloads are"} still running in the daemon.`);
      }
    } catch (e) {
      showError("Could not list the session's tasks", e);
    }
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
  await refreshDocuments();
  for (const row of rows.values()) setPhase(row, row.phase);

  boot.hidden = true;
  document.body.dataset.ready = "1";
}

main();
