// A deploy rolled back (tests/e2e/downgrade.test.mjs in Chromium, the
// engines' basics scenario in Firefox, WebKit and Chromium): a database made
// as a newer build would, and a raw read of it. Self-contained functions for
// page.evaluate (a driver sends their text).

export const ROLLBACK_SESSION = "com.example.rollback";
export const NEWER_SCHEMA = 3; // one above this build's core::stored::SCHEMA_VERSION (2)

// Makes the database as a newer build would (version `newer`, its own
// "future" store with a record), without `skip`'s store, holding a download
// that finished while no page was open (its record, its temp file, its two
// journal entries, in the record format this build writes). Run in a page
// of the origin that loads no bgsession code.
export const makeNewerDatabase = ({ skip = "", newer = 3, session = "com.example.rollback" } = {}) =>
  new Promise((resolve, reject) => {
    const r = indexedDB.open("bgsession", newer);
    r.onupgradeneeded = () => {
      const db = r.result;
      const make = (name, opts, index) => {
        if (name === skip) return;
        const s = db.createObjectStore(name, opts);
        if (index) s.createIndex("by_session", "session");
      };
      make("tasks", { keyPath: ["session", "taskId"] }, true);
      make("events", { keyPath: "seq", autoIncrement: true }, true);
      make("delivered", { keyPath: ["session", "taskId"] });
      make("files", { keyPath: "path" });
      make("sessions", { keyPath: "identifier" });
      make("quarantine", { autoIncrement: true });
      db.createObjectStore("future").put({ what: "the newer build's own record" }, "mine");
    };
    r.onsuccess = () => {
      const db = r.result;
      const names = [...db.objectStoreNames].filter((n) => ["tasks", "events", "files"].includes(n));
      const tx = db.transaction(names, "readwrite");
      const req = { url: "https://example.test/ep1.mp3", method: "GET", headers: {} };
      const path = "/tmp/CFNetworkDownload_rolledback.tmp";
      if (names.includes("tasks")) tx.objectStore("tasks").put({ v: 1, session, taskId: 1, kind: "download", originalRequest: req, currentRequest: req, state: "completed", createdAt: 1, blobId: "b-1", segments: [], taskDescription: "ep1.mp3" });
      if (names.includes("files")) tx.objectStore("files").put({ v: 1, path, blobId: "b-1", segments: [], size: 0, modificationDate: 2 });
      tx.objectStore("events").add({ v: 1, session, taskId: 1, event: { type: "didFinishDownloadingTo", location: `file://${path}` }, response: null, at: 2 });
      tx.objectStore("events").add({ v: 1, session, taskId: 1, event: { type: "didCompleteWithError", error: null }, response: null, at: 2 });
      tx.oncomplete = () => {
        db.close();
        resolve(true);
      };
      tx.onerror = () => reject(tx.error);
    };
    r.onerror = () => reject(r.error);
  });

// Every store of the database, read raw, and its version (also
// hostile.test.mjs's snapshot of what is stored).
export const rawDatabase = () =>
  new Promise((resolve, reject) => {
    const r = indexedDB.open("bgsession");
    r.onerror = () => reject(r.error);
    r.onsuccess = async () => {
      const db = r.result;
      const out = { version: db.version, stores: {} };
      for (const name of [...db.objectStoreNames]) {
        out.stores[name] = await new Promise((res, rej) => {
          const q = db.transaction(name).objectStore(name).getAll();
          q.onsuccess = () => res(q.result);
          q.onerror = () => rej(q.error);
        });
      }
      db.close();
      resolve(out);
    };
  });
