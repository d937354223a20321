// bgsession daemon: the browser's twin of iOS's nsurlsessiond.
//
// Register it as a *module* worker (URLSession does this for you):
//   navigator.serviceWorker.register("./bgsession-sw.js", { type: "module" })
// It loads the daemon's own wasm (./pkg/bgsession_worker.js: the same crate
// built with the worker half only; the page loads the other half) and runs
// the transfers of background sessions. It has no fetch handler: it never
// intercepts or alters the site's own requests.
import init, { daemonBackgroundFetchSettled, daemonHandleMessage, daemonIdle, daemonSweep, daemonWake } from "./pkg/bgsession_worker.js";

// Listeners must be added synchronously; the wasm loads meanwhile.
const ready = init();

// Chromium stops a worker whose single event has run for 5 minutes; each
// event keeps the daemon alive at most this long (pages re-extend it).
const KEEPALIVE_MS = 4.5 * 60 * 1000;

const keepAlive = () =>
  Promise.race([daemonIdle(), new Promise((resolve) => setTimeout(resolve, KEEPALIVE_MS))]);
const report = (what) => (err) => console.error(`bgsession daemon: ${what}:`, err);

self.addEventListener("install", (event) => {
  event.waitUntil(self.skipWaiting());
});

self.addEventListener("activate", (event) => {
  event.waitUntil(
    ready
      .then(() => daemonSweep())
      .catch(report("sweep"))
      .then(() => daemonWake())
      .catch(report("wake"))
      .then(keepAlive),
  );
});

self.addEventListener("message", (event) => {
  const port = event.ports && event.ports[0];
  event.waitUntil(
    ready
      .then(() => daemonHandleMessage(event.data))
      .then(
        (value) => port && port.postMessage({ ok: true, value }),
        (err) => {
          report(`command ${event.data && event.data.op}`)(err);
          if (port) port.postMessage({ ok: false, error: String((err && err.message) || err) });
        },
      )
      .then(keepAlive),
  );
});

// Background Sync (Chromium): a wake-up with no page open. While transfers
// remain unfinished the event fails, so the browser schedules another try.
self.addEventListener("sync", (event) => {
  if (event.tag.startsWith("bgsession")) {
    event.waitUntil(
      ready
        .then(() => daemonWake())
        .then(keepAlive)
        .then(() => daemonHandleMessage({ op: "pending" }))
        .then((pending) => {
          if (pending) throw new Error("bgsession: transfers still running; asking to be woken again");
        }),
    );
  }
});

// Background Fetch transport: the browser ran the download; it wakes us to
// take the body (or to hear why it failed).
for (const kind of ["success", "fail", "abort"]) {
  self.addEventListener(`backgroundfetch${kind}`, (event) => {
    event.waitUntil(
      ready
        .then(() => daemonBackgroundFetchSettled(kind, event.registration))
        .catch(report(`backgroundfetch${kind}`))
        .then(keepAlive),
    );
  });
}

// A click on the browser's download notification opens the app.
self.addEventListener("backgroundfetchclick", (event) => {
  event.waitUntil(self.clients.openWindow(self.registration.scope));
});

// sessionSendsLaunchEvents: the daemon shows a notification when a session
// needs its app and no page of it is open; a click "relaunches" the app
// (focuses it if a window is open, else opens its page), where
// handleEventsForBackgroundURLSession then delivers the queued events.
self.addEventListener("notificationclick", (event) => {
  const data = event.notification.data;
  if (!data || !data.bgsession) return;
  event.notification.close();
  event.waitUntil(
    (async () => {
      const url = new URL(data.url || "./", self.registration.scope).href;
      const windows = await self.clients.matchAll({ type: "window", includeUncontrolled: true });
      const open = windows.find((c) => c.url === url);
      return open ? open.focus() : self.clients.openWindow(url);
    })(),
  );
});
