//! The seam between the upload scheduler ([`super::upload`]) and the OSS calls it makes.
//!
//! The scheduler is generic over [`MultipartStore`], so it runs against [`Client`] in the addon and
//! against a scripted fake in its unit tests (ordering, settling, cancel, retry, resume) without HTTP.
//! The methods return `Send` futures (the part workers are spawned tasks); being generic, the hot path
//! has no boxing or extra allocation per part.

use std::future::Future;
use std::sync::atomic::AtomicU64;
use std::sync::Arc;

use crate::client::{CallOptions, CancelFlag, Client, CompleteFailure, PartOutcome, PartRequest};
use crate::error::Error;
use crate::http::Response;
use crate::source::Source;
use crate::xml::InitiateResult;

/// The calls of one multipart upload, as [`Client`] makes them (each with its own retries).
pub trait MultipartStore: Send + Sync + 'static {
    /// The client-wide cancel flag (`client.cancel()`), checked besides the upload's own.
    fn cancel_flag(&self) -> &CancelFlag;

    /// The bucket, for the checkpoint file's identity.
    fn bucket(&self) -> Option<String>;

    /// PutObject (a file below the multipart threshold); bytes sent are added to `sent`.
    fn put(
        &self,
        key: &str,
        source: &Source,
        opts: &CallOptions,
        sent: Option<Arc<AtomicU64>>,
    ) -> impl Future<Output = Result<Response, Error>> + Send;

    /// InitiateMultipartUpload.
    fn initiate(
        &self,
        key: &str,
        opts: &CallOptions,
    ) -> impl Future<Output = Result<(InitiateResult, Response), Error>> + Send;

    /// UploadPart, with the server's CRC-64 of the part checked.
    fn upload_part(
        &self,
        part: &PartRequest<'_>,
        sent: Option<Arc<AtomicU64>>,
    ) -> impl Future<Output = Result<PartOutcome, Error>> + Send;

    /// One page of ListParts, in xml2js's JSON shape.
    fn list_parts(
        &self,
        key: &str,
        upload_id: &str,
        query: Vec<(String, String)>,
        opts: &CallOptions,
    ) -> impl Future<Output = Result<(serde_json::Value, Response), Error>> + Send;

    /// CompleteMultipartUpload, telling the first failed try's error too.
    fn complete(
        &self,
        key: &str,
        upload_id: &str,
        parts: &[(u32, String)],
        opts: &CallOptions,
    ) -> impl Future<Output = Result<Response, CompleteFailure>> + Send;

    /// AbortMultipartUpload.
    fn abort(
        &self,
        key: &str,
        upload_id: &str,
        opts: &CallOptions,
    ) -> impl Future<Output = Result<Response, Error>> + Send;

    /// HeadObject.
    fn head(
        &self,
        key: &str,
        opts: &CallOptions,
    ) -> impl Future<Output = Result<Response, Error>> + Send;
}

impl MultipartStore for Client {
    fn cancel_flag(&self) -> &CancelFlag {
        &self.cancel
    }

    fn bucket(&self) -> Option<String> {
        Client::bucket(self)
    }

    fn put(
        &self,
        key: &str,
        source: &Source,
        opts: &CallOptions,
        sent: Option<Arc<AtomicU64>>,
    ) -> impl Future<Output = Result<Response, Error>> + Send {
        Client::put(self, key, source, opts, sent)
    }

    fn initiate(
        &self,
        key: &str,
        opts: &CallOptions,
    ) -> impl Future<Output = Result<(InitiateResult, Response), Error>> + Send {
        self.init_multipart(key, opts)
    }

    fn upload_part(
        &self,
        part: &PartRequest<'_>,
        sent: Option<Arc<AtomicU64>>,
    ) -> impl Future<Output = Result<PartOutcome, Error>> + Send {
        Client::upload_part(self, part, sent)
    }

    fn list_parts(
        &self,
        key: &str,
        upload_id: &str,
        query: Vec<(String, String)>,
        opts: &CallOptions,
    ) -> impl Future<Output = Result<(serde_json::Value, Response), Error>> + Send {
        Client::list_parts(self, key, upload_id, query, opts)
    }

    fn complete(
        &self,
        key: &str,
        upload_id: &str,
        parts: &[(u32, String)],
        opts: &CallOptions,
    ) -> impl Future<Output = Result<Response, CompleteFailure>> + Send {
        self.complete_tracked(key, upload_id, parts, opts)
    }

    fn abort(
        &self,
        key: &str,
        upload_id: &str,
        opts: &CallOptions,
    ) -> impl Future<Output = Result<Response, Error>> + Send {
        Client::abort(self, key, upload_id, opts)
    }

    fn head(
        &self,
        key: &str,
        opts: &CallOptions,
    ) -> impl Future<Output = Result<Response, Error>> + Send {
        Client::head(self, key, opts)
    }
}
