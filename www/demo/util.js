// Small helpers shared by the demo's modules: DOM building, formatting, and
// the names and one-line explanations of every callback the timeline shows.

export const KiB = 1024;
export const MiB = 1024 * KiB;

export const $ = (id) => document.getElementById(id);

export function el(tag, props = {}, ...children) {
  const node = document.createElement(tag);
  for (const [k, v] of Object.entries(props)) {
    if (v == null || v === false) continue;
    if (k === "class") node.className = v;
    else if (k === "dataset") Object.assign(node.dataset, v);
    else if (k === "text") node.textContent = v;
    else if (k.startsWith("on")) node.addEventListener(k.slice(2), v);
    else node.setAttribute(k, v === true ? "" : v);
  }
  for (const c of children.flat()) if (c != null && c !== false) node.append(c);
  return node;
}

const SVG_NS = "http://www.w3.org/2000/svg";
export function svg(tag, attrs = {}, ...children) {
  const node = document.createElementNS(SVG_NS, tag);
  for (const [k, v] of Object.entries(attrs)) if (v != null && v !== false) node.setAttribute(k, String(v));
  for (const c of children.flat()) if (c != null && c !== false) node.append(c);
  return node;
}

export function formatBytes(n) {
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

export const formatRate = (bytesPerSecond) => `${formatBytes(Math.round(bytesPerSecond))}/s`;

// 0.4 s, 12 s, 3 min 4 s, 2 h 5 min, 3 d 2 h
export function formatDuration(ms) {
  if (!Number.isFinite(ms) || ms < 0) return "unknown";
  const s = ms / 1000;
  if (s < 10) return `${s.toFixed(1)} s`;
  if (s < 60) return `${Math.round(s)} s`;
  const m = Math.floor(s / 60);
  if (m < 60) return `${m} min ${Math.round(s - m * 60)} s`;
  const h = Math.floor(m / 60);
  if (h < 48) return `${h} h ${m - h * 60} min`;
  const d = Math.floor(h / 24);
  return `${d} d ${h - d * 24} h`;
}

export const clock = (d = new Date()) =>
  new Date(d).toLocaleTimeString([], { hour: "2-digit", minute: "2-digit", second: "2-digit", hour12: false });

// An NSError-like object ({domain, code, localizedDescription}) or an Error, as one line.
export function describeError(e) {
  if (e == null) return "unknown error";
  if (typeof e === "object" && e.localizedDescription) {
    return `${e.localizedDescription}${e.code != null ? ` (${e.domain || "error"} ${e.code})` : ""}`;
  }
  if (e instanceof Error) return e.message || e.name;
  return String(e);
}

// Errors always go on the page (the list at the top), never only the console.
export function showError(what, e) {
  const box = $("errors");
  const msg = el("div", { class: "error", role: "alert" },
    el("p", {}, el("strong", { text: `${what}: ` }), describeError(e)),
    el("button", { type: "button", class: "small secondary", "aria-label": "Dismiss this error", text: "Dismiss", onclick: () => msg.remove() }),
  );
  box.append(msg);
}

// Apple's full selector for each delegate method the demo shows.
export const APPLE = {
  handleEventsForBackgroundURLSession: "application(_:handleEventsForBackgroundURLSession:completionHandler:)",
  didWriteData: "urlSession(_:downloadTask:didWriteData:totalBytesWritten:totalBytesExpectedToWrite:)",
  didResumeAtOffset: "urlSession(_:downloadTask:didResumeAtOffset:expectedTotalBytes:)",
  didFinishDownloadingTo: "urlSession(_:downloadTask:didFinishDownloadingTo:)",
  didSendBodyData: "urlSession(_:task:didSendBodyData:totalBytesSent:totalBytesExpectedToSend:)",
  didReceiveData: "urlSession(_:dataTask:didReceive:)",
  taskIsWaitingForConnectivity: "urlSession(_:taskIsWaitingForConnectivity:)",
  willBeginDelayedRequest: "urlSession(_:task:willBeginDelayedRequest:completionHandler:)",
  didCompleteWithError: "urlSession(_:task:didCompleteWithError:)",
  urlSessionDidFinishEvents: "urlSessionDidFinishEvents(forBackgroundURLSession:)",
  didBecomeInvalidWithError: "urlSession(_:didBecomeInvalidWithError:)",
};

// Short labels drawn next to a mark on the timeline.
export const SHORT = {
  launch: "opened",
  handleEventsForBackgroundURLSession: "relaunched",
  didWriteData: "progress",
  didResumeAtOffset: "resumed",
  didFinishDownloadingTo: "finished",
  didSendBodyData: "sent",
  didReceiveData: "answer",
  taskIsWaitingForConnectivity: "waiting",
  willBeginDelayedRequest: "delayed start",
  didCompleteWithError: "complete",
  urlSessionDidFinishEvents: "all delivered",
  didBecomeInvalidWithError: "invalid",
  action: "you",
  "daemon:started": "started",
  "daemon:busy": "busy",
  "daemon:idle": "idle",
  "daemon:killed": "killed",
  "daemon:status": "status",
};

// Apple's selector, allowed to wrap after "(" and each ":" on narrow screens.
export function appleName(name) {
  const code = el("code", { class: "cb-apple" });
  for (const part of name.split(/(?<=[(:])/)) code.append(part, el("wbr"));
  code.lastChild.remove();
  return code;
}

// The SHA-256 of a Blob, as lowercase hex (what the test server answers).
export async function sha256Hex(blob) {
  const digest = await crypto.subtle.digest("SHA-256", await blob.arrayBuffer());
  return [...new Uint8Array(digest)].map((b) => b.toString(16).padStart(2, "0")).join("");
}

export const safeName = (s) => String(s).replace(/[^A-Za-z0-9._-]+/g, "-").replace(/^[-.]+/, "").slice(0, 80) || "download";

// Uint8Array <-> base64, to keep resume data in localStorage.
export function toBase64(bytes) {
  let s = "";
  for (let i = 0; i < bytes.length; i += 0x8000) s += String.fromCharCode(...bytes.subarray(i, i + 0x8000));
  return btoa(s);
}
export function fromBase64(text) {
  const s = atob(text);
  const out = new Uint8Array(s.length);
  for (let i = 0; i < s.length; i++) out[i] = s.charCodeAt(i);
  return out;
}

export function readJSON(key, fallback) {
  try {
    const v = localStorage.getItem(key);
    return v == null ? fallback : JSON.parse(v);
  } catch {
    return fallback;
  }
}
export function writeJSON(key, value) {
  try {
    localStorage.setItem(key, JSON.stringify(value));
    return true;
  } catch {
    return false; // full or disabled: the demo goes on without persistence
  }
}
