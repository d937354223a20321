//! TypeScript declarations for what wasm-bindgen cannot infer: the shapes of
//! the plain objects the API hands out or accepts (delegates, requests,
//! responses, errors, file attributes). They go into `bgsession.d.ts`; the
//! exported items' signatures refer to them with `unchecked_return_type` /
//! `unchecked_param_type`. `tests/api/sample.ts` type-checks a use of every
//! name of the API contract against the built declarations.
//!
//! Also here: `URLError`, Apple's `NSURLErrorDomain` codes by their Swift
//! names (`URLError.cancelled === -999`, `URLError[-999] === "cancelled"`),
//! checked at compile time against the codes the core produces.

use crate::core::error::UrlErrorCode;
use wasm_bindgen::prelude::*;

#[wasm_bindgen(typescript_custom_section)]
const TS_TYPES: &'static str = r#"
/** The result a delegate method may return: the session awaits a Promise
 *  before it delivers that session's next event. */
export type DelegateResult = void | Promise<void>;

/** A request as a method accepts it (`downloadTask`, `uploadTask`,
 *  `willBeginDelayedRequest`'s answer); a URL string or `URL` is accepted too
 *  where a method takes `string | URL | URLRequestInit`. */
export interface URLRequestInit {
    url: string;
    /** Default `"GET"`. */
    method?: string;
    headers?: Record<string, string> | Headers;
}

/** `URLRequest` as a task holds it (`originalRequest`, `currentRequest`). */
export interface URLRequest {
    url: string;
    method: string;
    /** Header names lower-cased. */
    headers: Record<string, string>;
}

/** `HTTPURLResponse`: `task.response` once the server answered. */
export interface HTTPURLResponse {
    url: string;
    /** An HTTP error status is not a task error: a 404 download finishes with the body. */
    statusCode: number;
    /** Header names lower-cased. */
    headers: Record<string, string>;
}

/** `NSError.userInfo`. */
export interface NSErrorUserInfo {
    /** Present when a failed download can be continued:
     *  `session.downloadTaskWithResumeData(error.userInfo.NSURLSessionDownloadTaskResumeData)`. */
    NSURLSessionDownloadTaskResumeData?: Uint8Array;
    /** What happened in this case, when known. */
    NSLocalizedFailureReason?: string;
    [key: string]: unknown;
}

/** An `NSError` as the delegate and `task.error` give it. */
export interface NSError {
    /** `"NSURLErrorDomain"` for transfer errors (codes in `URLError`). */
    domain: string;
    code: number;
    localizedDescription: string;
    userInfo: NSErrorUserInfo;
}

/** A rejected `FileManager` operation: a thrown `Error` carrying NSError
 *  fields (`domain` `"NSCocoaErrorDomain"`; code 4 no such file, 516 file exists). */
export interface NSErrorThrown extends Error, NSError {}

/** A task's state. */
export type URLSessionTaskState = "running" | "suspended" | "canceling" | "completed";

/** What `willBeginDelayedRequest` answers: go on, cancel, or go on with a new request. */
export type DelayedRequestDisposition = "continue" | "cancel" | URLRequestInit;

/** A background session's delegate (every method optional). Arguments
 *  follow Apple's `URLSessionDownloadDelegate` / `URLSessionTaskDelegate`. */
export interface URLSessionDelegate {
    /** `urlSession(_:downloadTask:didWriteData:totalBytesWritten:totalBytesExpectedToWrite:)`;
     *  `totalBytesExpectedToWrite` is -1 when unknown. Coalesced on replay. */
    didWriteData?(session: URLSession, task: URLSessionTask, bytesWritten: number, totalBytesWritten: number, totalBytesExpectedToWrite: number): DelegateResult;
    /** `urlSession(_:downloadTask:didResumeAtOffset:expectedTotalBytes:)`. */
    didResumeAtOffset?(session: URLSession, task: URLSessionTask, fileOffset: number, expectedTotalBytes: number): DelegateResult;
    /** `urlSession(_:downloadTask:didFinishDownloadingTo:)`: `location` is a
     *  `file:///tmp/…` file, deleted when the call (and its Promise) returns
     *  unless moved with `FileManager.default.moveItem`. */
    didFinishDownloadingTo?(session: URLSession, task: URLSessionTask, location: string): DelegateResult;
    /** `urlSession(_:task:didSendBodyData:totalBytesSent:totalBytesExpectedToSend:)`. */
    didSendBodyData?(session: URLSession, task: URLSessionTask, bytesSent: number, totalBytesSent: number, totalBytesExpectedToSend: number): DelegateResult;
    /** `urlSession(_:dataTask:didReceive:)`, for upload tasks: part of the
     *  server's response body (bgsession addition to the contract's table). */
    didReceiveData?(session: URLSession, task: URLSessionTask, data: Uint8Array): DelegateResult;
    /** `urlSession(_:taskIsWaitingForConnectivity:)`. */
    taskIsWaitingForConnectivity?(session: URLSession, task: URLSessionTask): DelegateResult;
    /** `urlSession(_:task:willBeginDelayedRequest:completionHandler:)`: the
     *  answer replaces the completion handler. */
    willBeginDelayedRequest?(session: URLSession, task: URLSessionTask, request: URLRequest): DelayedRequestDisposition | Promise<DelayedRequestDisposition>;
    /** `urlSession(_:task:didCompleteWithError:)`: `error` is null on success. */
    didCompleteWithError?(session: URLSession, task: URLSessionTask, error: NSError | null): DelegateResult;
    /** `urlSessionDidFinishEvents(forBackgroundURLSession:)`: every queued
     *  event has been delivered; call the saved completion handler. */
    urlSessionDidFinishEvents?(session: URLSession): DelegateResult;
    /** `urlSession(_:didBecomeInvalidWithError:)`: null after `finishTasksAndInvalidate`. */
    didBecomeInvalidWithError?(session: URLSession, error: NSError | null): DelegateResult;
}

/** The app delegate (`UIApplication.shared.delegate`). */
export interface UIApplicationDelegate {
    /** `application(_:handleEventsForBackgroundURLSession:completionHandler:)`:
     *  called once per session identifier with queued events when the page
     *  (re)opens. Recreate the session; call `completionHandler` from
     *  `urlSessionDidFinishEvents`. */
    handleEventsForBackgroundURLSession?(identifier: string, completionHandler: () => void): DelegateResult;
}

/** `FileManager.default.attributesOfItem(at)`. */
export interface FileAttributes {
    /** Bytes. */
    size: number;
    modificationDate: Date;
}

/** One of `FileManager.default.largestFiles()`. */
export interface FileEntry extends FileAttributes {
    /** `file:///…` location. */
    url: string;
}

/** `FileManager.default.usage()`, in bytes (`quota` from
 *  `navigator.storage.estimate()`, -1 when unknown). */
export interface StorageUsage {
    tmp: number;
    documents: number;
    caches: number;
    total: number;
    quota: number;
    /** Bytes the daemon holds outside the sandbox (not in `total`): downloads in progress and resume data. */
    daemon: number;
}

/** A sandbox location: `file:///tmp/…`, `file:///Documents/…`, `file:///Library/Caches/…`. */
export type FileLocation = string | URL;

/** `session.daemonStatus()` (a bgsession addition). */
export interface DaemonStatus {
    transfers: number;
    backgroundFetches: number;
    /** Running tasks of every session the daemon has to carry out (transferring, waiting for a connection, a retry or a begin date). */
    pending: number;
}

/** `session.simulateNetworkConditions(...)` (a bgsession addition): the
 *  link as `navigator.connection` would describe it. */
export interface NetworkConditions {
    /** "wifi", "cellular", "ethernet", "bluetooth", "wimax", "none", "other", "unknown". */
    type?: string;
    /** "slow-2g", "2g", "3g", "4g". */
    effectiveType?: string;
    saveData?: boolean;
}

/** `config.transport` (a bgsession addition). */
export type URLSessionTransport = "fetch" | "backgroundFetch";
"#;

/// Apple's `NSURLErrorDomain` codes that bgsession reports, by their Swift
/// names (`URLError.Code`): `error.code === URLError.cancelled`.
#[wasm_bindgen(js_name = URLError)]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[allow(non_camel_case_types)] // Apple's (Swift) names, as JS sees them
pub enum UrlError {
    /// -999 (`NSURLErrorCancelled`): the task was cancelled.
    cancelled = -999,
    /// -1001 (`NSURLErrorTimedOut`): `timeoutIntervalForResource` ran out
    /// (a request that gets no data for `timeoutIntervalForRequest` is
    /// retried: a background session's rule, as on iOS).
    timedOut = -1001,
    /// -1000 (`NSURLErrorBadURL`): the request cannot be sent as it is (a
    /// header with CR/LF, a forbidden name or an oversized value).
    badURL = -1000,
    /// -1002 (`NSURLErrorUnsupportedURL`): not an http(s) URL.
    unsupportedURL = -1002,
    /// -1004 (`NSURLErrorCannotConnectToHost`): no response from the host.
    cannotConnectToHost = -1004,
    /// -1005 (`NSURLErrorNetworkConnectionLost`): the transfer broke, or the
    /// body ended short.
    networkConnectionLost = -1005,
    /// -1007 (`NSURLErrorHTTPTooManyRedirects`): the redirects could not be
    /// followed (a loop: more than 20).
    httpTooManyRedirects = -1007,
    /// -1009 (`NSURLErrorNotConnectedToInternet`): the browser is offline.
    notConnectedToInternet = -1009,
    /// -1011 (`NSURLErrorBadServerResponse`): the server's answer made no
    /// sense, or the browser withheld it (no CORS).
    badServerResponse = -1011,
    /// -1100 (`NSURLErrorFileDoesNotExist`): an upload's `fromFile` is missing.
    fileDoesNotExist = -1100,
    /// -3000 (`NSURLErrorCannotCreateFile`): the download's file could not be made.
    cannotCreateFile = -3000,
    /// -3003 (`NSURLErrorCannotWriteToFile`): storing bytes failed (e.g. the
    /// storage quota).
    cannotWriteToFile = -3003,
    /// -997 (`NSURLErrorBackgroundSessionWasDisconnected`): the daemon went away.
    backgroundSessionWasDisconnected = -997,
}

/// The JS value of a core code (exhaustive: a new core code does not compile
/// until it has its JS name).
const fn js_code(c: UrlErrorCode) -> UrlError {
    match c {
        UrlErrorCode::Cancelled => UrlError::cancelled,
        UrlErrorCode::TimedOut => UrlError::timedOut,
        UrlErrorCode::BadUrl => UrlError::badURL,
        UrlErrorCode::UnsupportedUrl => UrlError::unsupportedURL,
        UrlErrorCode::CannotConnectToHost => UrlError::cannotConnectToHost,
        UrlErrorCode::NetworkConnectionLost => UrlError::networkConnectionLost,
        UrlErrorCode::HttpTooManyRedirects => UrlError::httpTooManyRedirects,
        UrlErrorCode::NotConnectedToInternet => UrlError::notConnectedToInternet,
        UrlErrorCode::BadServerResponse => UrlError::badServerResponse,
        UrlErrorCode::FileDoesNotExist => UrlError::fileDoesNotExist,
        UrlErrorCode::CannotCreateFile => UrlError::cannotCreateFile,
        UrlErrorCode::CannotWriteToFile => UrlError::cannotWriteToFile,
        UrlErrorCode::BackgroundSessionWasDisconnected => UrlError::backgroundSessionWasDisconnected,
    }
}

// Every code the core produces has the same number in `URLError`.
const _: () = {
    let mut i = 0;
    while i < UrlErrorCode::ALL.len() {
        let c = UrlErrorCode::ALL[i];
        assert!(js_code(c) as i64 == c.code(), "URLError differs from core::error::UrlErrorCode");
        i += 1;
    }
};
