// A use of every name of the API contract (tests/api/API.md, a copy of
// /work/shared/API.md), type-checked against the built declarations
// (www/pkg/bgsession.d.ts) with `tsc -p tests/api` (strict, noEmit). It is
// never run. The `@ts-expect-error` lines prove the types are not `any`: tsc
// fails if the line below one of them type-checks.

import init, { UIApplication, URLSessionConfiguration, URLSession, URLSessionTask, FileManager, URLError } from "../../www/pkg/bgsession.js";
import type {
    URLSessionDelegate,
    UIApplicationDelegate,
    NSError,
    HTTPURLResponse,
    URLRequest,
    URLRequestInit,
    FileAttributes,
    FileEntry,
    StorageUsage,
    URLSessionTaskState,
} from "../../www/pkg/bgsession.js";

export async function sample(): Promise<void> {
    await init();

    // --- App delegate (UIApplication.shared.delegate) ----------------------
    const saved: Record<string, () => void> = {};
    let session: URLSession | undefined;

    // --- The session delegate: every method of the contract's table --------
    const delegate: URLSessionDelegate = {
        didWriteData(session, task, bytesWritten, totalBytesWritten, totalBytesExpectedToWrite) {
            const s: URLSession = session;
            const t: URLSessionTask = task;
            const progress: number = totalBytesExpectedToWrite === -1 ? 0 : totalBytesWritten / totalBytesExpectedToWrite;
            void [s, t, bytesWritten, progress];
        },
        didResumeAtOffset(_session, task, fileOffset, expectedTotalBytes) {
            const n: number = fileOffset + expectedTotalBytes + task.countOfBytesReceived;
            void n;
        },
        async didFinishDownloadingTo(_session, task, location) {
            // Move the file before the Promise resolves, or it is deleted.
            const to = `file:///Documents/${task.taskDescription}`;
            await FileManager.default.moveItem(location, to);
        },
        didSendBodyData(_session, task, bytesSent, totalBytesSent, totalBytesExpectedToSend) {
            const n: number = bytesSent + totalBytesSent + totalBytesExpectedToSend + task.countOfBytesSent + task.countOfBytesExpectedToSend;
            void n;
        },
        taskIsWaitingForConnectivity(_session, task) {
            const d: string = task.taskDescription;
            void d;
        },
        willBeginDelayedRequest(_session, task, request) {
            const r: URLRequest = request;
            if (task.priority < 0.1) return "cancel";
            if (r.method !== "GET") return "continue";
            const replacement: URLRequestInit = { url: r.url, method: "GET", headers: { ...r.headers, "x-delayed": "1" } };
            return replacement;
        },
        didCompleteWithError(session, task, error) {
            if (error === null) return;
            const e: NSError = error;
            const domain: string = e.domain;
            const code: number = e.code;
            const text: string = e.localizedDescription;
            void [domain, text];
            if (code === URLError.cancelled || code === URLError.timedOut) return;
            const resumeData = e.userInfo.NSURLSessionDownloadTaskResumeData;
            if (resumeData) {
                const again: URLSessionTask = session.downloadTaskWithResumeData(resumeData);
                void again.resume();
            }
            void task;
        },
        urlSessionDidFinishEvents(session) {
            saved[session.configuration.identifier]?.();
        },
        didBecomeInvalidWithError(session, error) {
            const e: NSError | null = error;
            void [session.sessionDescription, e];
        },
    };

    // A delegate method may return a Promise (the session awaits it), and
    // willBeginDelayedRequest may answer asynchronously.
    const asyncDelegate: URLSessionDelegate = {
        async willBeginDelayedRequest(_session, _task, request) {
            await Promise.resolve();
            return request.url.endsWith(".mp3") ? "continue" : { url: request.url };
        },
        async didCompleteWithError() {},
    };

    const appDelegate: UIApplicationDelegate = {
        handleEventsForBackgroundURLSession(identifier, completionHandler) {
            saved[identifier] = completionHandler; // call it from urlSessionDidFinishEvents
            session ??= new URLSession(URLSessionConfiguration.background(identifier), delegate);
        },
    };
    UIApplication.shared.delegate = appDelegate;
    const launched: string[] = await UIApplication.shared.launched;
    const completed: string[] = UIApplication.shared.completedBackgroundSessions;
    void [launched, completed];

    // --- Configuration ----------------------------------------------------
    const config = URLSessionConfiguration.background("com.example.podcasts");
    const identifier: string = config.identifier;
    config.isDiscretionary = false;
    config.sessionSendsLaunchEvents = true;
    config.allowsCellularAccess = true;
    config.httpMaximumConnectionsPerHost = 4;
    config.timeoutIntervalForRequest = 60;
    config.timeoutIntervalForResource = 7 * 24 * 3600;
    config.httpAdditionalHeaders = { "x-app": "sample" };
    const headers: Record<string, string> = config.httpAdditionalHeaders;
    config.waitsForConnectivity = true;
    config.serviceWorkerURL = "./bgsession-sw.js";
    void [identifier, headers];

    session ??= new URLSession(config, delegate);
    const other = new URLSession(URLSessionConfiguration.background("com.example.other"), asyncDelegate);
    const withoutDelegate = new URLSession(URLSessionConfiguration.background("com.example.quiet"));
    const sessionConfig: URLSessionConfiguration = session.configuration;
    session.sessionDescription = "Podcasts";
    void [other, withoutDelegate, sessionConfig];

    // --- Tasks --------------------------------------------------------------
    const task: URLSessionTask = session.downloadTask("https://example.test/ep1.mp3");
    const fromRequest = session.downloadTask({ url: "https://example.test/ep2.mp3", method: "GET", headers: { accept: "audio/*" } });
    const fromURL = session.downloadTask(new URL("https://example.test/ep3.mp3"));
    task.taskDescription = "Episode 1";
    task.earliestBeginDate = new Date(Date.now() + 60_000);
    const begin: Date | null = task.earliestBeginDate;
    task.priority = 0.75;
    await task.resume();
    await task.suspend();
    await fromRequest.cancel();
    void [fromURL, begin];

    const id: number = task.taskIdentifier;
    const state: URLSessionTaskState = task.state;
    const original: URLRequest = task.originalRequest;
    const current: URLRequest = task.currentRequest;
    const response: HTTPURLResponse | null = task.response;
    if (response) {
        const r: { url: string; statusCode: number; headers: Record<string, string> } = response;
        void r;
    }
    const error: NSError | null = task.error;
    const counts: number[] = [task.countOfBytesReceived, task.countOfBytesExpectedToReceive, task.countOfBytesSent, task.countOfBytesExpectedToSend];
    void [id, state, original, current, error, counts];

    const resumeData: Uint8Array | null = await task.cancelByProducingResumeData();
    if (resumeData) {
        const resumed = session.downloadTaskWithResumeData(resumeData);
        await resumed.resume();
    }

    const upload: URLSessionTask = session.uploadTask({ url: "https://example.test/up", method: "PUT" }, "file:///Documents/ep1.mp3");
    void upload;

    const all: URLSessionTask[] = await session.getAllTasks();
    void all;

    // Background sessions have no data tasks: always throws.
    try {
        session.dataTask("https://example.test/", () => {});
    } catch (e) {
        void e;
    }

    other.finishTasksAndInvalidate();
    await withoutDelegate.invalidateAndCancel();

    // --- Files ----------------------------------------------------------------
    const files = FileManager.default;
    await files.copyItem("file:///Documents/ep1.mp3", "file:///Library/Caches/ep1.mp3");
    const exists: boolean = await files.fileExists("file:///Library/Caches/ep1.mp3");
    const blob: Blob = await files.contents("file:///Documents/ep1.mp3");
    const listing: string[] = await files.contentsOfDirectory("file:///Documents/");
    const attributes: FileAttributes = await files.attributesOfItem("file:///Documents/ep1.mp3");
    const size: number = attributes.size;
    const modified: Date = attributes.modificationDate;
    const usage: StorageUsage = await files.usage();
    const used: number = usage.tmp + usage.documents + usage.caches;
    const share: number = usage.total / usage.quota;
    const largest: FileEntry[] = await files.largestFiles(5);
    await files.removeItem("file:///Library/Caches/ep1.mp3");
    void [exists, blob, listing, size, modified, used, share, largest];

    // --- Error codes -----------------------------------------------------------
    const codes: number[] = [
        URLError.cancelled,
        URLError.timedOut,
        URLError.unsupportedURL,
        URLError.cannotConnectToHost,
        URLError.networkConnectionLost,
        URLError.notConnectedToInternet,
        URLError.badServerResponse,
        URLError.cannotCreateFile,
        URLError.cannotWriteToFile,
        URLError.backgroundSessionWasDisconnected,
    ];
    void codes;

    // --- Proofs that the declarations are typed (each line below must fail) --
    // @ts-expect-error a task's state is a string union, not a number
    const notANumber: number = task.state;
    // @ts-expect-error "paused" is not a state
    if (task.state === "paused") void 0;
    // @ts-expect-error the response is null until the server answers
    const status: number = task.response.statusCode;
    // @ts-expect-error task.error is an NSError or null
    const notNull: NSError = task.error;
    // @ts-expect-error a background session refuses completion handlers
    session.downloadTask("https://example.test/ep4.mp3", () => {});
    // @ts-expect-error uploads come from a file location, not from memory
    session.uploadTask({ url: "https://example.test/up" }, new Uint8Array(4));
    // @ts-expect-error usage() values are numbers
    const quotaText: string = usage.quota;
    // @ts-expect-error getAllTasks() resolves with tasks
    const notStrings: string[] = await session.getAllTasks();
    const badDelegate: URLSessionDelegate = {
        // @ts-expect-error not a delegate method (background sessions have no auth challenges here)
        didReceiveChallenge() {},
    };
    UIApplication.shared.delegate = {
        // @ts-expect-error the identifier is a string
        handleEventsForBackgroundURLSession(identifier: number) {
            void identifier;
        },
    };
    // @ts-expect-error the configuration has no such property
    config.allowsBluetooth = true;
    void [notANumber, status, notNull, quotaText, notStrings, badDelegate];
}
