// Small JavaScript helpers the Rust adapters import (wasm-bindgen snippet).
// The hot loop of a download lives here so that body chunks go from the
// network into the Cache API without ever being copied into wasm memory.

const TIMEOUT = Symbol("timeout");

// The origin's database (store.rs names its stores), opened, and created
// or upgraded, once per context. Its version is core::stored::SCHEMA_VERSION
// (1: tasks, events, delivered, files, sessions, as 2ddb749 made them;
// 2: quarantine added); an upgrade only adds stores. A page starts opening it as soon as this
// module loads, while the wasm is still being fetched and compiled.
const opening = new Map();
export function openDatabase(name, version) {
  const key = `${name}@${version}`;
  if (!opening.has(key)) {
    const open = new Promise((resolve, reject) => {
      const req = indexedDB.open(name, version);
      req.onupgradeneeded = () => {
        const db = req.result;
        const has = (n) => db.objectStoreNames.contains(n);
        if (!has("tasks")) db.createObjectStore("tasks", { keyPath: ["session", "taskId"] }).createIndex("by_session", "session");
        if (!has("events")) db.createObjectStore("events", { keyPath: "seq", autoIncrement: true }).createIndex("by_session", "session");
        if (!has("delivered")) db.createObjectStore("delivered", { keyPath: ["session", "taskId"] });
        if (!has("files")) db.createObjectStore("files", { keyPath: "path" });
        if (!has("sessions")) db.createObjectStore("sessions", { keyPath: "identifier" });
        // Version 2: records that cannot be read, kept aside (core::stored).
        if (!has("quarantine")) db.createObjectStore("quarantine", { autoIncrement: true });
      };
      req.onsuccess = () => {
        const db = req.result;
        // Let a newer version of the library upgrade the schema: close on request.
        db.onversionchange = () => db.close();
        resolve(db);
      };
      req.onerror = () => {
        // A newer build made it (a deploy rolled back): opened at its own
        // version, unchanged; store.rs asks core::stored::check_schema
        // whether this build can use it.
        if (req.error && req.error.name === "VersionError") {
          const current = indexedDB.open(name);
          // Never made here (deleted meanwhile): no empty database left behind.
          current.onupgradeneeded = () => current.transaction.abort();
          current.onsuccess = () => {
            current.result.onversionchange = () => current.result.close();
            resolve(current.result);
          };
          current.onerror = () => reject(current.error);
        } else reject(req.error);
      };
    });
    opening.set(key, open);
    open.catch(() => opening.delete(key)); // a failed open is tried again
  }
  return opening.get(key);
}
// Closes a connection openDatabase gave that this build cannot use
// (core::stored::check_schema said why) and forgets it: the next open tries
// again.
export function forgetDatabase(db, name, version) {
  db.close();
  opening.delete(`${name}@${version}`);
}
export const SCHEMA_VERSION = 2; // = core::stored::SCHEMA_VERSION (a native test checks)
if (globalThis.document && globalThis.indexedDB) openDatabase("bgsession", SCHEMA_VERSION).catch(() => {});

// Reads `reader` ahead of the store, into `carry.ahead`'s queue (at most
// READ_AHEAD bytes held), so that the body the browser has received is in
// our hands when the connection breaks: Chromium errors a failing body at
// once and drops what script has not read yet (seen: up to ~700 KB a cut
// when the store was slow to take bytes on a busy machine). A chunk queued
// before the failure is kept; the failure comes after the queue.
// `carry.waitingSince`: since when a read has been pending (the network's
// silence, whatever the store is doing).
const READ_AHEAD = 4 * 1024 * 1024;
function readAhead(reader, carry) {
  const a = carry.ahead ??= { queue: [], bytes: 0, end: null, reading: false, waiters: [] };
  const wake = () => a.waiters.splice(0).forEach((w) => w());
  if (a.reading || a.end || a.bytes >= READ_AHEAD) return a;
  a.reading = true;
  (async () => {
    while (!a.end && a.bytes < READ_AHEAD) {
      carry.waitingSince = Date.now();
      try {
        const r = await reader.read();
        if (r.done) a.end = { done: true };
        else {
          a.queue.push(r.value);
          a.bytes += r.value.byteLength;
        }
      } catch (error) {
        a.end = { error };
      }
      carry.waitingSince = 0;
      wake();
    }
    a.reading = false;
  })();
  return a;
}
const changed = (a) => new Promise((res) => a.waiters.push(res));

// Streams one segment of `reader`'s body into `store` (see openByteStore)
// under `key`: at most
// `maxBytes`, and closed early once `maxMs` have passed with bytes in it (so
// a slow transfer still persists regularly). No data for `idleMs` fails it
// with a TimeoutError (timeoutIntervalForRequest). `carry` holds what was
// read ahead (readAhead) and since when a read has been pending; pass the
// same object for every segment of a body.
// A failing body (connection cut, stall) ends the segment with the bytes that
// did arrive, so they are kept. Resolves as soon as the segment's bytes are
// all handed to the store (so the caller can read on while the store
// finishes) with { written, done, error, stored }: `error` is the body's
// failure (or null), `stored` a Promise that settles when the segment is
// persisted (it rejects on a store failure such as the quota).
export async function pumpSegment(reader, store, key, maxBytes, maxMs, idleMs, carry) {
  let written = 0;
  let done = false;
  let failure = null;
  let deadlinePassed = false;
  let markClosed;
  const closed = new Promise((res) => { markClosed = res; });
  let timer, watchdog;
  const deadline = new Promise((res) => {
    timer = setTimeout(() => { deadlinePassed = true; res(TIMEOUT); }, maxMs);
  });
  const stalled = new Promise((_, reject) => {
    watchdog = setInterval(() => {
      if (carry.waitingSince && Date.now() - carry.waitingSince > idleMs) {
        reject(Object.assign(new Error(`no data for ${Math.round(idleMs / 1000)} s (timeoutIntervalForRequest)`), { name: "TimeoutError" }));
      }
    }, Math.min(1000, idleMs));
  });
  stalled.catch(() => {});
  const stream = new ReadableStream({
    async pull(ctrlRaw) {
      const ctrl = { enqueue: (c) => ctrlRaw.enqueue(c), close: () => { ctrlRaw.close(); markClosed(); } };
      if (written >= maxBytes || (deadlinePassed && written > 0)) { ctrl.close(); return; }
      const a = readAhead(reader, carry);
      while (a.queue.length === 0 && !a.end) {
        let r;
        try {
          r = await Promise.race(written > 0 ? [changed(a), deadline, stalled] : [changed(a), stalled]);
        } catch (err) {
          failure = err;
          ctrl.close();
          return;
        }
        if (r === TIMEOUT) { ctrl.close(); return; }
      }
      if (a.queue.length === 0) {
        if (a.end.error) failure = a.end.error;
        else done = true;
        ctrl.close();
        return;
      }
      let chunk = a.queue[0];
      const room = maxBytes - written;
      if (chunk.byteLength > room) {
        a.queue[0] = chunk.subarray(room);
        chunk = chunk.subarray(0, room);
      } else {
        a.queue.shift();
      }
      a.bytes -= chunk.byteLength;
      written += chunk.byteLength;
      ctrl.enqueue(chunk);
      readAhead(reader, carry);
    },
  }, { highWaterMark: 1 });
  const put = store.putStream(key, stream);
  const cleanup = () => { clearTimeout(timer); clearInterval(watchdog); };
  try {
    // Either every byte is handed over, or the store failed first.
    await Promise.race([closed, put]);
  } finally {
    cleanup();
  }
  const stored = put.then(() => (written === 0 ? store.delete(key) : undefined)).then(() => undefined);
  stored.catch(() => {});
  return { written, done, error: failure, stored };
}

// Concatenates stored segments into one Blob (disk-backed parts; no copy).
// A segment missing, or shorter or longer than recorded (an engine may drop
// entries, or commit a truncated one), is an error: never wrong bytes.
export async function readSegments(store, keys, type, lengths) {
  const parts = await Promise.all(keys.map(async (k, i) => {
    const b = await store.get(k);
    if (!b) throw new Error(`bgsession: a stored segment is missing (${k})`);
    if (lengths && b.size !== lengths[i]) throw new Error(`bgsession: a stored segment holds ${b.size} bytes, not the ${lengths[i]} recorded (${k})`);
    return b;
  }));
  return new Blob(parts, { type: type || "application/octet-stream" });
}

// How many of the segments (a prefix) are stored whole, at the lengths the
// journal recorded. Firefox commits a truncated entry when the worker is
// stopped mid-stream; WebKit's ephemeral store drops Cache API entries with
// the last page.
export async function intactSegments(store, keys, lengths) {
  for (let i = 0; i < keys.length; i++) {
    if ((await store.size(keys[i])) !== lengths[i]) return i;
  }
  return keys.length;
}

// Copies stored segments to new keys (copyItem): bytes stay in the browser's store.
export async function copySegments(store, fromKeys, toKeys) {
  for (let i = 0; i < fromKeys.length; i++) {
    const b = await store.get(fromKeys[i]);
    if (!b) throw new Error(`bgsession: a stored segment is missing (${fromKeys[i]})`);
    await store.putBlob(toKeys[i], b);
  }
}

// The two segment stores behind one shape: putStream(key, ReadableStream),
// putBlob(key, Blob), get(key) -> Blob | null, size(key) -> number | null,
// delete(key), keys() -> [key], alive() -> bool (false once the store was
// deleted under us: evicted, or site data cleared), kind.

// Cache API: one entry per segment under a synthetic same-origin URL.
async function cacheStore(name) {
  if (!globalThis.caches) throw Object.assign(new Error("the Cache API is not available here (a secure context is needed: https or localhost)"), { name: "BGSessionUnavailable" });
  const cache = await caches.open(name);
  return {
    kind: "cache",
    putStream: (k, stream) => cache.put(k, new Response(stream, { headers: { "content-type": "application/octet-stream" } })),
    putBlob: (k, blob) => cache.put(k, new Response(blob)),
    get: async (k) => { const r = await cache.match(k); return r ? r.blob() : null; },
    size: async (k) => { const r = await cache.match(k); return r ? (await r.blob()).size : null; },
    delete: (k) => cache.delete(k),
    keys: async () => (await cache.keys()).map((r) => r.url),
    alive: () => caches.has(name),
  };
}

const BYTES_DB = "bgsession-bytes";
const PIECE = 8 * 1024 * 1024;
function idbResult(req) {
  return new Promise((resolve, reject) => { req.onsuccess = () => resolve(req.result); req.onerror = () => reject(req.error); });
}
function txDone(tx) {
  return new Promise((resolve, reject) => {
    tx.oncomplete = () => resolve();
    tx.onerror = () => reject(tx.error);
    tx.onabort = () => reject(tx.error || new Error("bgsession: the byte store's transaction was aborted"));
  });
}
// The bytes' own database (not the journal's): "segments" (one value per
// segment, keyed by the segment's key), "lengths" (its byte count, written
// in the same transaction, so the intact check reads no bytes) and "meta"
// (the origin's choice of backend). `state.closed` turns true when the engine closes it under us.
function openBytesDb(state) {
  const req = indexedDB.open(BYTES_DB, 1);
  req.onupgradeneeded = () => {
    const db = req.result;
    if (!db.objectStoreNames.contains("segments")) db.createObjectStore("segments");
    if (!db.objectStoreNames.contains("meta")) db.createObjectStore("meta");
    if (!db.objectStoreNames.contains("lengths")) db.createObjectStore("lengths");
  };
  return idbResult(req).then((db) => {
    db.onversionchange = () => { db.close(); state.closed = true; };
    db.onclose = () => { state.closed = true; };
    return db;
  });
}

// IndexedDB, one ArrayBuffer per segment (WebKit's ephemeral store takes no
// Blobs there, and drops Cache API entries with the last page). Reads fall
// back on `legacy` (the Cache API store) for bytes written before the
// origin's choice was made.
async function idbStore(legacy) {
  const state = { closed: false };
  const db = await openBytesDb(state);
  const one = async (mode, f, name = "segments") => {
    const tx = db.transaction(name === "both" ? ["segments", "lengths"] : name, mode);
    const r = name === "both" ? f(tx.objectStore("segments"), tx.objectStore("lengths")) : f(tx.objectStore(name));
    await txDone(tx);
    return r ? r.result : undefined;
  };
  const putBuffer = (k, buf) => {
    const n = Array.isArray(buf) ? buf.reduce((t, b) => t + b.byteLength, 0) : buf.byteLength;
    return one("readwrite", (s, l) => { s.put(buf, k); l.put(n, k); }, "both");
  };
  const get = async (k) => {
    const v = await one("readonly", (s) => s.get(k));
    if (v !== undefined) return new Blob(Array.isArray(v) ? v : [v]);
    return legacy ? legacy.get(k) : null;
  };
  return {
    kind: "indexeddb",
    // The segment's chunks are copied as they arrive into pieces of at most
    // 8 MiB (the small network chunks are let go at once), stored as one
    // value: an Array of ArrayBuffers.
    putStream: async (k, stream) => {
      const pieces = [];
      let piece = null;
      let at = 0;
      for (const reader = stream.getReader(); ;) {
        const r = await reader.read();
        if (r.done) break;
        let chunk = r.value;
        while (chunk.byteLength > 0) {
          if (!piece || at === piece.byteLength) { piece = new Uint8Array(PIECE); at = 0; pieces.push(piece); }
          const n = Math.min(chunk.byteLength, piece.byteLength - at);
          piece.set(chunk.subarray(0, n), at);
          at += n;
          chunk = chunk.subarray(n);
        }
      }
      if (piece && at < piece.byteLength) pieces[pieces.length - 1] = piece.slice(0, at);
      await putBuffer(k, pieces.map((p) => p.buffer));
    },
    putBlob: async (k, blob) => putBuffer(k, await blob.arrayBuffer()),
    get,
    size: async (k) => {
      const n = await one("readonly", (l) => l.get(k), "lengths");
      if (n !== undefined) return n;
      return legacy ? legacy.size(k) : null;
    },
    delete: async (k) => { await one("readwrite", (s, l) => { s.delete(k); l.delete(k); }, "both"); if (legacy) await legacy.delete(k); },
    keys: async () => {
      const own = (await one("readonly", (s) => s.getAllKeys())).map(String);
      return legacy ? own.concat(await legacy.keys()) : own;
    },
    alive: async () => !state.closed,
  };
}

// Does this engine store Blobs in IndexedDB? WebKit's ephemeral store (the
// driver's, like Safari's private browsing) fails the transaction.
async function idbTakesBlobs(db) {
  try {
    const tx = db.transaction("meta", "readwrite");
    tx.objectStore("meta").put(new Blob([new Uint8Array(16)]), "probe");
    await txDone(tx);
    const del = db.transaction("meta", "readwrite");
    del.objectStore("meta").delete("probe");
    await txDone(del);
    return true;
  } catch {
    return false;
  }
}

// The origin's backend: read from the bytes database's "meta" record, or
// chosen (by feature) and recorded there by whoever comes first. The check
// and the write are one readwrite transaction, so a page and the worker
// choosing at once agree: the second finds the first's record.
async function chosenBackend(cacheName) {
  const state = { closed: false };
  const db = await openBytesDb(state);
  try {
    const have = await idbResult(db.transaction("meta").objectStore("meta").get("backend"));
    if (have) return have;
    let choice = "cache";
    if (!(await idbTakesBlobs(db)) || !globalThis.caches) choice = "indexeddb";
    const tx = db.transaction("meta", "readwrite");
    const meta = tx.objectStore("meta");
    let result = choice;
    meta.get("backend").onsuccess = (e) => {
      if (e.target.result) result = e.target.result;
      else meta.put(choice, "backend");
    };
    await txDone(tx);
    return result;
  } finally {
    db.close();
  }
}

// Opens the segment store: `backend` "cache" or "indexeddb", or "" for the
// origin's recorded choice (see chosenBackend).
export async function openByteStore(backend, cacheName) {
  const kind = backend || (await chosenBackend(cacheName));
  if (kind === "indexeddb") return idbStore(globalThis.caches ? await cacheStore(cacheName) : null);
  return cacheStore(cacheName);
}

// Web Locks: resolves with a release function once the exclusive lock
// `name` is held (held until released or the page goes away).
export function holdLock(name) {
  if (!globalThis.navigator || !navigator.locks) return Promise.resolve(() => {});
  return new Promise((granted, failed) => {
    navigator.locks.request(name, () => new Promise((release) => granted(release))).catch(failed);
  });
}

// Resolves once the exclusive Web Lock `name` is free (taken and released
// at once).
export function lockFreed(name) {
  if (!globalThis.navigator || !navigator.locks) return Promise.resolve();
  return navigator.locks.request(name, () => undefined);
}

// Names of Web Locks held anywhere in this origin.
export async function heldLocks() {
  if (!globalThis.navigator || !navigator.locks) return [];
  const s = await navigator.locks.query();
  return (s.held || []).map((l) => l.name);
}

// Calls delegate[method](...args) if it exists and waits for a returned
// thenable. Resolves true if the method exists.
export async function callDelegate(delegate, method, args) {
  if (!delegate) return false;
  const f = delegate[method];
  if (typeof f !== "function") return false;
  await f.apply(delegate, args);
  return true;
}

// The replay's delegate call, in one step from the wasm: calls
// delegate[method](session, task, ...rest) synchronously, where rest is
// [value] when kind is 1, the first kind - 2 of [a, b, c] when kind is 2 to
// 5, and nothing when kind is 0. Returns a thenable the method returned (to
// be awaited), else undefined; throws what the method throws. No Promise
// per event unless the delegate makes one.
export function deliverNow(delegate, method, session, task, kind, value, a, b, c) {
  const f = delegate && delegate[method];
  if (typeof f !== "function") return undefined;
  let v;
  switch (kind) {
    case 0: case 2: v = f.call(delegate, session, task); break;
    case 1: v = f.call(delegate, session, task, value); break;
    case 3: v = f.call(delegate, session, task, a); break;
    case 4: v = f.call(delegate, session, task, a, b); break;
    default: v = f.call(delegate, session, task, a, b, c);
  }
  return v !== null && (typeof v === "object" || typeof v === "function") && typeof v.then === "function" ? v : undefined;
}

// The replay's wait for a thenable a delegate method returned
// (page/settle.rs): every settlement goes to the one callback set by
// onSettled, as (token, ok, value), instead of a pair of wasm closures
// made and freed per wait.
let settle = null;
export function onSettled(callback) {
  settle = callback;
}
export function whenSettled(thenable, token) {
  Promise.resolve(thenable).then((v) => settle(token, true, v), (e) => settle(token, false, e));
}

// Calls delegate[method](...args) and resolves with { exists, value } (a
// returned thenable awaited).
export async function callDelegateForValue(delegate, method, args) {
  const f = delegate && delegate[method];
  if (typeof f !== "function") return { exists: false, value: undefined };
  return { exists: true, value: await f.apply(delegate, args) };
}

// sessionSendsLaunchEvents, in the Service Worker: a notification whose click
// opens the app page (see bgsession-sw.js). Resolves false, quietly, where
// notifications are not permitted.
export async function showLaunchNotification(session, description, why, pending, url) {
  if (typeof Notification === "undefined" || Notification.permission !== "granted" || !self.registration) return false;
  const events = pending === 1 ? "1 event" : `${pending} events`;
  await self.registration.showNotification(`${description}: background transfers`, {
    body: `The session ${why} (${events} waiting). Open the app to receive them.`,
    tag: `bgsession:${session}`,
    renotify: false,
    data: { bgsession: true, session, url, why },
  });
  return true;
}

// Sends `msg` to the daemon and resolves with its reply (or rejects with
// the error it reports). The daemon is the registration's active worker at
// the time: a newer version that took over (skipWaiting, an upgrade) replaces
// the `worker` this page first reached, and a command whose worker became
// redundant before it answered is sent again to the one that replaced it
// (commands are idempotent: a task's nonce, resume of a running task…).
export function askWorker(worker, msg) {
  const current = () => (daemonRegistration && daemonRegistration.active) || worker;
  return new Promise((resolve, reject) => {
    const send = (w) => {
      const ch = new MessageChannel();
      const replaced = () => {
        if (w.state !== "redundant") return;
        const next = current();
        if (next === w) return;
        w.removeEventListener("statechange", replaced);
        ch.port1.close();
        send(next);
      };
      ch.port1.onmessage = (e) => {
        w.removeEventListener("statechange", replaced);
        ch.port1.close();
        if (e.data && e.data.ok) resolve(e.data.value);
        else reject(Object.assign(new Error(e.data && e.data.error || "bgsession daemon error"), { name: "BGSessionDaemonError" }));
      };
      w.addEventListener("statechange", replaced);
      w.postMessage(msg, [ch.port2]);
    };
    send(current());
  });
}

export function randomId() {
  if (globalThis.crypto && crypto.randomUUID) return crypto.randomUUID();
  return Math.random().toString(36).slice(2) + Date.now().toString(36);
}

// The daemon's registration, once activeWorker has made it (its scope is the
// worker script's folder, which need not hold the page: a bundler may emit
// the worker under assets/, a plain page may serve it from node_modules/).
let daemonRegistration = null;

// Registers the daemon worker (a module worker) and resolves with its active
// ServiceWorker, waiting for the first install to finish.
export async function activeWorker(scriptURL) {
  if (!("serviceWorker" in navigator)) {
    throw Object.assign(new Error("bgsession: Service Workers are not available (they need https or localhost)"), { name: "BGSessionUnavailable" });
  }
  let reg;
  try {
    reg = await navigator.serviceWorker.register(scriptURL, { type: "module" });
  } catch (err) {
    // Mostly a URL that serves no worker script (a bundler's index.html
    // fallback, a 404): name it, and what sets it.
    throw Object.assign(
      new Error(
        `bgsession: the daemon's worker script ${scriptURL} could not be registered (${err?.name}: ${err?.message}). ` +
          `Serve bgsession's worker script (the package's "bgsession/sw" entry) at that URL, or set config.serviceWorkerURL to where it is served ` +
          `(with Vite: import swURL from "bgsession/sw?worker&url")`,
      ),
      { name: "BGSessionUnavailable", cause: err },
    );
  }
  daemonRegistration = reg;
  if (reg.active) return reg.active;
  const w = reg.installing || reg.waiting;
  await new Promise((resolve, reject) => {
    const check = () => {
      if (w.state === "activated") resolve();
      else if (w.state === "redundant") reject(new Error(`bgsession: the daemon worker ${scriptURL} failed to install`));
    };
    w.addEventListener("statechange", check);
    check();
  });
  return reg.active;
}

// Tries to take the exclusive Web Lock `name` without waiting: resolves with
// a release function, or null if someone else (another worker version, say)
// holds it. Where Web Locks are missing, always succeeds.
export function tryLock(name) {
  if (!globalThis.navigator || !navigator.locks) return Promise.resolve(() => {});
  return new Promise((granted, failed) => {
    navigator.locks
      .request(name, { ifAvailable: true }, (lock) => {
        if (!lock) { granted(null); return undefined; }
        return new Promise((release) => granted(release));
      })
      .catch(failed);
  });
}

// Registers a one-off Background Sync (Chromium) so the browser wakes the
// daemon later even with no page open. Resolves false where unsupported.
export async function registerSync(tag) {
  if (!("serviceWorker" in navigator)) return false;
  const reg = daemonRegistration || (await navigator.serviceWorker.getRegistration());
  if (!reg || !reg.sync) return false;
  try { await reg.sync.register(tag); return true; } catch { return false; }
}

// ---- Background Fetch (in the Service Worker) -----------------------------

function backgroundFetchManager() {
  const bgf = self.registration && self.registration.backgroundFetch;
  if (!bgf) throw Object.assign(new Error("Background Fetch is not available in this browser: use transport \"fetch\""), { name: "NotSupportedError" });
  return bgf;
}

// Attaches to the running Background Fetch `id` (from the worker) and calls
// onProgress(downloaded, downloadTotal) at most every 250 ms while this
// worker lives. Resolves false if there is no such fetch.
export async function bgFetchAttach(id, onProgress) {
  const reg = await backgroundFetchManager().get(id);
  if (!reg) return false;
  let last = 0;
  reg.addEventListener("progress", () => {
    const now = Date.now();
    if (now - last < 250 && reg.result === "") return;
    last = now;
    onProgress(reg.downloaded, reg.downloadTotal);
  });
  onProgress(reg.downloaded, reg.downloadTotal);
  return true;
}

// Starts the Background Fetch `id` from a page (Chromium refuses to start
// one from a service worker). Resolves true if it runs (now or already).
export async function bgFetchFromPage(scriptURL, id, url, method, headers, title) {
  const reg = await navigator.serviceWorker.register(scriptURL, { type: "module" });
  if (!reg.backgroundFetch) {
    throw Object.assign(new Error("Background Fetch is not available in this browser"), { name: "NotSupportedError" });
  }
  if (await reg.backgroundFetch.get(id)) return true;
  await reg.backgroundFetch.fetch(id, [new Request(url, { method, headers })], { title });
  return true;
}

export async function bgFetchAbort(id) {
  const reg = await backgroundFetchManager().get(id);
  if (reg) await reg.abort();
}

// The response a settled Background Fetch holds, or null.
export async function bgFetchResponse(registration) {
  const records = await registration.matchAll();
  if (!records.length) return null;
  try { return await records[0].responseReady; } catch { return null; }
}

// Acknowledges delivered journal entries in one IndexedDB transaction (the
// group commit of Store::ack). Each request is a round trip to the
// browser's storage process, and one whose result decides the next waits
// for this page's main thread (busy delivering the next events) before the
// transaction can go on: so it makes few requests, reads nothing it can do
// without, and commits (commit()) as soon as its last request is made. One
// range delete per run of consecutive entries (keys are integers: nothing
// else lies between); finished tasks deleted unread when the Replayer knows
// them over, else read and deleted per run of consecutive identifiers; the
// temp files the delegate did not move only listed, in one record (see
// removeTempFiles: removing them needs a read).
// ops: Float64Array of [seq, taskId, flags, total] per entry, in delivery
// order; flags: 1 = set the task's delivered total to total, 2 = delete its
// delivered total, 4 = the task is over: forget its record if completed
// with no bytes kept for resume data (read first), 8 = delete its record
// (known completed with no bytes). tempFiles: the temp files' locations,
// joined by NUL (no sandbox name holds one), "" for none: stored in the
// `delivered` store under [session, -(the batch's last seq)], a key no task
// has ({v, session, taskId, tempFiles}; readers of totals skip a record
// without `total`). Resolves once written (a page closing before that has
// none of it written: those entries are delivered again).
export function ackEntries(db, session, ops, tempFiles) {
  return new Promise((resolve, reject) => {
    const tx = db.transaction(["events", "delivered", "tasks"], "readwrite", { durability: "relaxed" });
    const events = tx.objectStore("events");
    const delivered = tx.objectStore("delivered");
    const tasks = tx.objectStore("tasks");
    const seqs = [];
    const check = [];
    const over = [];
    for (let i = 0; i < ops.length; i += 4) {
      const task = ops[i + 1];
      const flags = ops[i + 2];
      seqs.push(ops[i]);
      if (flags & 1) delivered.put({ v: 1, session, taskId: task, total: ops[i + 3] });
      if (flags & 2) delivered.delete([session, task]);
      if (flags & 4) check.push(task);
      if (flags & 8) over.push(task);
    }
    for (const [a, b] of runs(seqs)) events.delete(a === b ? a : IDBKeyRange.bound(a, b));
    for (const [a, b] of runs(over)) tasks.delete(IDBKeyRange.bound([session, a], [session, b]));
    forgetTasks(tasks, session, check);
    if (tempFiles) delivered.put({ v: 1, session, taskId: -ops[ops.length - 4], tempFiles: tempFiles.split("\0") });
    delivered.delete(markKey(session)); // the mark, if any
    // Committed now, unless a task record is read first (no wait for this
    // page's turn to see it has none left).
    if (!check.length && tx.commit) tx.commit();
    tx.oncomplete = () => resolve();
    tx.onabort = () => reject(tx.error || new DOMException("IndexedDB transaction aborted", "AbortError"));
  });
}

// The key of a session's mark in the `delivered` store (markDelivered).
const markKey = (session) => [session, 0];

// Marks the session's journal entries up to key `upTo` delivered: one record
// in the `delivered` store under [session, 0], a key no task has ({v,
// session, taskId: 0, deliveredUpTo}; no `total`, so readers of totals skip
// it), replaced by each mark and deleted by the ackEntries that writes
// their acknowledgements in full. Readers take entries at or below it as
// delivered (sessionsWithEvents, countPending, the page's view). Resolves
// once written.
export function markDelivered(db, session, upTo) {
  return new Promise((resolve, reject) => {
    const tx = db.transaction("delivered", "readwrite", { durability: "relaxed" });
    tx.objectStore("delivered").put({ v: 1, session, taskId: 0, deliveredUpTo: upTo });
    if (tx.commit) tx.commit();
    tx.oncomplete = () => resolve();
    tx.onabort = () => reject(tx.error || new DOMException("IndexedDB transaction aborted", "AbortError"));
  });
}

// How many of the session's journal entries lie above its mark.
export function countPending(db, session) {
  const tx = db.transaction(["events", "delivered"]);
  return Promise.all([done(tx.objectStore("events").index("by_session").getAllKeys(session)), done(tx.objectStore("delivered").get(markKey(session)))]).then(
    ([keys, mark]) => keys.filter((k) => !(mark && k <= mark.deliveredUpTo)).length,
  );
}

// Removes the temp files at `paths` (store keys, joined by NUL) that still
// exist, and the session's lists of temp files (ackEntries), in one
// transaction. Resolves with the metadata of the removed files that hold
// bytes, once written; the caller then deletes those bytes.
export function removeTempFiles(db, session, paths) {
  return new Promise((resolve, reject) => {
    const tx = db.transaction(["files", "delivered"], "readwrite", { durability: "relaxed" });
    const removed = [];
    tx.objectStore("delivered").delete(IDBKeyRange.bound([session, -Infinity], [session, 0], false, true));
    const commit = () => tx.commit && tx.commit();
    if (paths) removeFiles(tx.objectStore("files"), paths.split("\0"), removed, commit);
    else commit();
    tx.oncomplete = () => resolve(removed);
    tx.onabort = () => reject(tx.error || new DOMException("IndexedDB transaction aborted", "AbortError"));
  });
}

// Runs of consecutive integers in `xs`, as [first, last] pairs.
function runs(xs) {
  // Usually given in increasing order already (delivery order): no copy.
  let ascending = true;
  for (let i = 1; i < xs.length && ascending; i++) ascending = xs[i - 1] < xs[i];
  const sorted = ascending ? xs : [...new Set(xs)].sort((a, b) => a - b);
  const out = [];
  for (let i = 0; i < sorted.length; ) {
    let j = i;
    while (j + 1 < sorted.length && sorted[j + 1] === sorted[j] + 1) j++;
    out.push([sorted[i], sorted[j]]);
    i = j + 1;
  }
  return out;
}

// ackEntries: tasks whose last event is acknowledged are over, and
// forgotten (as iOS forgets a finished task) unless their record holds
// bytes kept for resume data. One read per run of consecutive identifiers,
// and one range delete for the run when every one of them goes.
function forgetTasks(tasks, session, ids) {
  for (const [a, b] of runs(ids)) {
    const run = IDBKeyRange.bound([session, a], [session, b]);
    const read = tasks.getAll(run);
    read.onsuccess = () => {
      // core::task::TaskRecord::is_over: completed, no bytes kept.
      const gone = read.result.filter((t) => t.state === "completed" && !(t.segments && t.segments.length));
      if (gone.length === b - a + 1) tasks.delete(run);
      else for (const t of gone) tasks.delete([session, t.taskId]);
    };
  }
}

// removeTempFiles: removes the files at `paths` that still exist, the metadata
// of those holding bytes pushed to `removed`. One read of the records
// between the first and the last path (temp files are named in the order
// their downloads finished: usually the span holds theirs alone), then one
// delete per run of wanted records with no other file between them (never
// past one: a file of the app's own may lie between temp files). Then
// `done` (the transaction may commit).
function removeFiles(files, paths, removed, done) {
  const wanted = new Set(paths);
  let low = paths[0];
  let high = paths[0];
  for (const p of paths) {
    if (p < low) low = p;
    if (p > high) high = p;
  }
  const read = files.getAll(IDBKeyRange.bound(low, high));
  read.onsuccess = () => {
    const records = read.result; // in key order
    const take = (m) => {
      if (m.segments && m.segments.length) removed.push(m);
    };
    for (let i = 0; i < records.length; i++) {
      if (!wanted.has(records[i].path)) continue;
      take(records[i]);
      let j = i;
      while (j + 1 < records.length && wanted.has(records[j + 1].path)) take(records[++j]);
      files.delete(i === j ? records[i].path : IDBKeyRange.bound(records[i].path, records[j].path));
      i = j;
    }
    done();
  };
}

// Resolves in a later task of the event loop, not in a microtask: what the
// page has pending meanwhile runs first (the replay's IndexedDB results
// among it). A MessageChannel, as setTimeout(0) may wait 4 ms.
let nextTaskPort = null;
const nextTaskWaiting = [];
export function nextTask() {
  if (!nextTaskPort) {
    const channel = new MessageChannel();
    channel.port1.onmessage = () => nextTaskWaiting.shift()();
    nextTaskPort = channel.port2;
  }
  return new Promise((resolve) => {
    nextTaskWaiting.push(resolve);
    nextTaskPort.postMessage(null);
  });
}

// performance.now(): a clock that never goes back (js.rs monotonic_now).
export function monotonicNow() {
  return performance.now();
}

// Resolves with the result of an IndexedDB request.
function done(request) {
  return new Promise((resolve, reject) => {
    request.onsuccess = () => resolve(request.result);
    request.onerror = () => reject(request.error);
  });
}

// Stored records as JSON text in UTF-8 bytes, for the wasm to decode
// (store.rs decode_records): the text made and encoded natively, then
// copied into the wasm in one piece. Handing the string over instead makes
// wasm-bindgen copy it a character at a time in script (3 ms of a
// relaunch's main thread in profiles, for its 350 KB of tasks and entries).
const utf8 = new TextEncoder();
export function recordsJson(records) {
  return utf8.encode(JSON.stringify(records));
}

// The launch's read: the sessions with undelivered journal entries (above
// their mark: markDelivered), each as [identifier, seq, view]: seq a key at
// or below its first entry, view what sessionView would read for it then
// ([tasks, entries, delivered]), so that the page opening the session
// needs no read of its own if nobody delivered meanwhile (viewCheck).
// Two round trips: the journal's entries (the store read by key, not
// through the by_session index: Chromium leaves the index entries of
// deleted records in place until LevelDB compacts, and a walk of the index
// steps over each; deleted records leave nothing behind in the store), then
// the tasks and the delivered store's records of each session found. With
// nothing pending (every page load of an app at rest) the first read is
// the only one. Sessions in identifier order.
export function sessionsWithEvents(db) {
  const tx = db.transaction(["events", "tasks", "delivered"]);
  return new Promise((resolve, reject) => {
    tx.onabort = () => reject(tx.error || new DOMException("IndexedDB transaction aborted", "AbortError"));
    const journal = tx.objectStore("events").getAll();
    journal.onsuccess = () => {
      const entries = journal.result;
      if (!entries.length) return resolve([]);
      const from = entries[0].seq;
      const bySession = new Map();
      for (const e of entries) {
        const mine = bySession.get(e.session);
        if (mine) mine.push(e);
        else bySession.set(e.session, [e]);
      }
      const out = [];
      let waiting = bySession.size;
      for (const [session, mine] of bySession) {
        const range = IDBKeyRange.bound([session, -Infinity], [session, Infinity]);
        const tasks = tx.objectStore("tasks").getAll(range);
        const delivered = tx.objectStore("delivered").getAll(range);
        // Answered after `tasks` (a transaction's requests answer in order).
        delivered.onsuccess = () => {
          const mark = delivered.result.find((r) => r.taskId === 0);
          if (!mark || mine[mine.length - 1].seq > mark.deliveredUpTo) out.push([session, from, [tasks.result, mine, delivered.result]]);
          if (--waiting) return;
          out.sort((a, b) => (a[0] < b[0] ? -1 : a[0] > b[0] ? 1 : 0));
          resolve(out);
        };
      }
    };
  });
}

// What changed in a session's journal since the launch read its view
// (sessionsWithEvents), read once the page holds the session's events
// lock: [whether each of the view's `entries` (in key order) is still
// stored, the session's mark now (0: none), its entries with a key above
// the view's last].
export function viewCheck(db, session, entries) {
  const tx = db.transaction(["events", "delivered"]);
  const events = tx.objectStore("events");
  const [first, last] = [entries[0].seq, entries[entries.length - 1].seq];
  return Promise.all([
    done(events.getAllKeys(IDBKeyRange.bound(first, last))).then((keys) => {
      let i = 0; // both in key order
      for (const e of entries) {
        while (i < keys.length && keys[i] < e.seq) i++;
        if (keys[i] !== e.seq) return false;
      }
      return true;
    }),
    done(tx.objectStore("delivered").get(markKey(session))).then((mark) => (mark ? mark.deliveredUpTo : 0)),
    sessionEntries(events, session, IDBKeyRange.lowerBound(last, true)),
  ]);
}

// A session's task records, its journal entries and its delivered-progress
// totals, read in one transaction: [tasks, entries, totals]. With `from`
// (a key at or below the session's first entry), the entries are read by
// key from there and the other sessions' left out: a read through the
// by_session index walks over every deleted entry of the session that
// LevelDB (Chromium) has not compacted yet, and looks each entry up twice.
export function sessionView(db, session, from) {
  const tx = db.transaction(["tasks", "events", "delivered"]);
  const mine = IDBKeyRange.bound([session, -Infinity], [session, Infinity]);
  const events = tx.objectStore("events");
  return Promise.all([
    done(tx.objectStore("tasks").getAll(mine)),
    from === undefined
      ? done(events.index("by_session").getAll(session))
      : sessionEntries(events, session, IDBKeyRange.lowerBound(from)),
    done(tx.objectStore("delivered").getAll(mine)),
  ]);
}

// A session's journal entries with a key above `after`, read by key (see
// sessionView): what a replay reads when the daemon announces new ones.
export function entriesAfter(db, session, after) {
  return sessionEntries(db.transaction("events").objectStore("events"), session, IDBKeyRange.lowerBound(after, true));
}

// The entries of `session` among those of `events` in `keys`, read by key.
function sessionEntries(events, session, keys) {
  return done(events.getAll(keys)).then((all) => all.filter((e) => e.session === session));
}

// store.rs's IndexedDB, one request at a time (no Rust binding crate: the
// wasm holds one future type, a Promise, for every request; issue 11).
// A transaction of `db` over `stores`; `write`: readwrite.
export function storeTx(db, stores, write) {
  return db.transaction(stores, write ? "readwrite" : "readonly");
}
// One request on store `store` of `tx` (through its index `index` if
// given): op is get, getAll, count, delete (arg: a key or query) or put,
// add (arg: the record). Resolves with its result; rejects with its error,
// or with what the engine threw when it was made.
export function storeReq(tx, store, index, op, arg) {
  return new Promise((resolve, reject) => {
    const s = tx.objectStore(store);
    const request = (index ? s.index(index) : s)[op](arg);
    request.onsuccess = () => resolve(request.result);
    request.onerror = () => reject(request.error);
  });
}
// Commits `tx`: resolves true once written, false if it was aborted.
export function storeCommit(tx) {
  return new Promise((resolve, reject) => {
    tx.oncomplete = () => resolve(true);
    tx.onabort = () => resolve(false);
    try {
      if (tx.commit) tx.commit();
    } catch (err) {
      reject(err);
    }
  });
}
