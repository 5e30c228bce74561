// Public types of oss-turbo: ali-oss's whole client (its types come from @types/ali-oss), with oss-turbo's
// own, more precise types for the accelerated methods and its additions.
/// <reference types="node" />
import AliOSS = require('ali-oss')

declare namespace OSS {
  interface Options {
    /** Access key id (required; trimmed). */
    accessKeyId: string
    /** Access key secret (required; trimmed). Never logged, never put in errors. */
    accessKeySecret: string
    /** STS security token, sent as `x-oss-security-token`. */
    stsToken?: string
    /** Called when the STS token is older than `refreshSTSTokenInterval`; returns fresh credentials. */
    // Any first-letter case, as ali-oss takes it (STS assumeRole answers `{AccessKeyId, AccessKeySecret, SecurityToken}`).
    refreshSTSToken?: () => Promise<
      | { accessKeyId: string; accessKeySecret: string; stsToken?: string; securityToken?: string }
      | { AccessKeyId: string; AccessKeySecret: string; SecurityToken?: string; StsToken?: string }
    >
    /** Milliseconds between STS refreshes (default 300000; 0 refreshes before every request). */
    refreshSTSTokenInterval?: number
    /** Default bucket. */
    bucket?: string
    /** OSS endpoint, e.g. `oss-cn-hangzhou.aliyuncs.com`, `http://127.0.0.1:9000`. */
    endpoint?: string
    /** Region, default `oss-cn-hangzhou`. */
    region?: string
    /** Use the internal (VPC) endpoint of the region. */
    internal?: boolean
    /** Use HTTPS (default false, like ali-oss). */
    secure?: boolean
    /** Per-request timeout: milliseconds or a string like `'2m'` (default 60000). */
    timeout?: string | number
    /** The endpoint is a custom domain bound to the bucket. */
    cname?: boolean
    /** Path-style addressing (`/bucket/key`). */
    sldEnable?: boolean
    /** Sign with OSS V4 (`OSS4-HMAC-SHA256`) instead of V1. */
    authorizationV4?: boolean
    /**
     * How many times a failed request is retried, with exponential backoff, for network errors, timeouts,
     * 5xx and throttling (default 3; `0` = no retry, as ali-oss's default).
     */
    retryMax?: number
    /** oss-turbo: extra trusted CA certificates (PEM), for a private CA; the system trust store is always used. */
    ca?: string | Buffer | Array<string | Buffer>
  }

  /** ali-oss's `res` of every result. */
  interface ResponseInfo {
    status: number
    statusCode: number
    statusMessage: string
    headers: Record<string, string>
    size: number
    aborted: boolean
    rt: number
    keepAliveSocket: boolean
    data: Buffer
    requestUrls: string[]
    timing: null
  }

  interface DonePart {
    number: number
    /** The part's ETag exactly as the server returned it, quotes included. */
    etag: string
  }

  /** The checkpoint ali-oss builds after Initiate and mutates after every part; JSON-serialisable for a path. */
  interface Checkpoint {
    file: string | Buffer
    name: string
    fileSize: number
    partSize: number
    uploadId: string
    doneParts: DonePart[]
  }

  interface Callback {
    url: string
    host?: string
    body: string
    contentType?: string
    callbackSNI?: boolean
    customValue?: Record<string, unknown>
  }

  /** `progress(percentage, checkpoint, res)`: awaited; `checkpoint` is `null` in the last call (after Complete). */
  type Progress = (percentage: number, checkpoint: Checkpoint | null, res?: ResponseInfo) => unknown

  interface RequestOptions {
    timeout?: number | string
    headers?: Record<string, string | number> | object
  }

  interface MultipartUploadOptions extends RequestOptions {
    /** Parts uploaded at once (default 5). */
    parallel?: number
    /** Bytes per part: an integer ≥ 102400 (default 1 MiB; raised to fit 10,000 parts). */
    partSize?: number
    // Method syntax on purpose: a callback typed with a non-null checkpoint (as code written against
    // @types/ali-oss often is) still fits; the last call, after Complete, passes `null`.
    progress?(percentage: number, checkpoint: Checkpoint, res: ResponseInfo): unknown
    /** Resume from this checkpoint (the same object is mutated as parts finish). */
    checkpoint?: Checkpoint
    /** User metadata, sent as `x-oss-meta-*`. */
    meta?: Record<string, string | number>
    /** Content type, or an extension to look one up by. */
    mime?: string
    callback?: Callback
    disabledMD5?: boolean
    /**
     * oss-turbo: keep the checkpoint durably in this file. It is written atomically after Initiate and after
     * each part, resumed from automatically when it matches the call (bucket, name, file path, size, mtime),
     * and removed after a successful Complete.
     */
    checkpointFile?: string
    /** oss-turbo: cancels this upload only; it then rejects with `{status: 0, name: 'cancel'}`. */
    signal?: AbortSignal
    /** oss-turbo: bytes sent so far, at most about ten times a second; the last call has `loaded === total`. */
    onUploadProgress?: (progress: { loaded: number; total: number }) => void
  }

  interface MultipartUploadResult {
    res: ResponseInfo
    bucket: string | null
    name: string
    etag: string
    /** The callback server's JSON answer, with `callback`. */
    data?: unknown
  }

  interface PutOptions extends RequestOptions {
    mime?: string
    meta?: Record<string, string | number>
    callback?: Callback
  }

  /**
   * What `multipartUpload` and `putStream` read from: a Node `Readable`, a web `ReadableStream` or any async
   * iterable of Buffers / Uint8Arrays (or strings), of unknown length. Chunks are handed to the native
   * engine without a copy: do not modify a chunk after the stream yielded it.
   */
  type StreamSource = NodeJS.ReadableStream | ReadableStream<Uint8Array> | AsyncIterable<Uint8Array | string>

  /**
   * oss-turbo: the options of a stream upload. A stream **cannot be resumed from a checkpoint** (its bytes are
   * gone once sent): `checkpoint` and `checkpointFile` are refused, and any failure aborts the multipart upload.
   */
  interface StreamUploadOptions
    extends Omit<MultipartUploadOptions, 'checkpoint' | 'checkpointFile' | 'progress' | 'onUploadProgress'> {
    /**
     * Called after Initiate with `0`, after each stored part, and with `1` after Complete (or after the single
     * put of a stream that ended within its first part). While the stream's length is unknown `percentage`
     * is `0`; once the stream has ended (or with `contentLength`, from the start) it is ali-oss's
     * `doneParts.length / (numParts + 1)`. The checkpoint shows what is stored (`file` is `null`, `fileSize`
     * is `null` until the stream ended) and cannot resume anything.
     */
    progress?(percentage: number, checkpoint: StreamCheckpoint, res: ResponseInfo): unknown
    /** Bytes sent so far, about ten times a second; `total` is `undefined` until the stream has ended. */
    onUploadProgress?: (progress: { loaded: number; total: number | undefined }) => void
    /** The stream's length, when known: it must deliver exactly this many bytes (else the upload fails). */
    contentLength?: number
  }

  interface StreamCheckpoint {
    file: null
    name: string
    fileSize: number | null
    partSize: number
    uploadId: string
    doneParts: DonePart[]
  }

  interface PutStreamOptions extends StreamUploadOptions {}

  /** oss-turbo: options of `uploadDirectory`. */
  interface UploadDirectoryOptions extends RequestOptions {
    /** Requests at once over all files and parts (default 5): one limit for the whole job. */
    parallel?: number
    /** Part size of the files that go up in parts (those of 102400 bytes or more), as `multipartUpload`. */
    partSize?: number
    /**
     * Globs over the path relative to the folder (`/` separators): `*`, `**`, `?`, `[a-z]`. A pattern without
     * `/` matches the file name at any depth (`*.map`). Only files matching an `include` (when given) and no
     * `exclude` are uploaded.
     */
    include?: string | string[]
    exclude?: string | string[]
    /** Follow symlinks (default false: they are skipped and counted in `symlinksSkipped`). */
    followSymlinks?: boolean
    /** Skip a file whose object already has the same size and CRC-64 (one HEAD per file, no re-upload). */
    update?: boolean
    /**
     * Resumable: keep a journal of finished files and a checkpoint per large file in this folder. A rerun of
     * the same job (bucket, prefix, folder) skips files finished before and resumes the large file that was
     * in flight. Removed when a job finishes without failures.
     */
    checkpointDir?: string
    /** User metadata for every object, sent as `x-oss-meta-*`. */
    meta?: Record<string, string | number>
    /** Job-wide figures about four times a second (awaited; the upload does not wait for it). */
    progress?: (progress: UploadDirectoryProgress) => unknown
    /** Called once per file with what happened to it. */
    onFile?: (file: {
      path: string
      key: string
      size: number
      status: 'uploaded' | 'skipped' | 'failed'
      reason?: string
    }) => unknown
    /** Cancels the job; it then rejects with `{status: 0, name: 'cancel'}` (finished files stay uploaded). */
    signal?: AbortSignal
  }

  interface UploadDirectoryProgress {
    filesDone: number
    /** Known once the folder has been counted (a second walk beside the upload). */
    filesTotal: number | undefined
    bytesDone: number
    bytesTotal: number | undefined
    bytesPerSecond: number
    etaMs: number | undefined
    elapsedMs: number
  }

  interface UploadDirectoryResult {
    uploaded: number
    skipped: number
    /** Files that failed (the others were still uploaded), with the reason; also unreadable paths. */
    failed: { path: string; key: string; reason: string }[]
    symlinksSkipped: number
    bytesUploaded: number
    elapsedMs: number
  }

  interface PutResult {
    name: string
    url: string
    res: ResponseInfo
    data?: unknown
  }

  interface GetOptions extends RequestOptions {
    /**
     * oss-turbo (a file path target only): bytes per ranged GET, an integer ≥ 102400 (default 8 MiB).
     * Objects up to this size are fetched with one GET.
     */
    partSize?: number
    /** oss-turbo: ranged GETs in flight at once (default 5). */
    parallel?: number
    /**
     * oss-turbo: keep a durable download checkpoint in this file (written atomically after each range). A
     * later `get` of the same object version into the same file resumes from it; it is removed on success.
     */
    checkpointFile?: string
    /** oss-turbo: stops this download; it then rejects with `{status: 0, name: 'cancel'}`. */
    signal?: AbortSignal
    /** oss-turbo: bytes written so far, at most about ten times a second; the last call has `loaded === total`. */
    onDownloadProgress?: (progress: { loaded: number; total: number }) => void
    /** ali-oss: these make `get` ali-oss's own single GET. */
    process?: string
    versionId?: string
    subres?: Record<string, string>
    responseCacheControl?: string | null
  }

  interface GetResult {
    res: ResponseInfo
    /** The object's bytes when no file or stream was given; `undefined` for a file path. */
    content?: Buffer
  }

  interface HeadResult {
    status: number
    meta: Record<string, string> | null
    res: ResponseInfo
  }

  interface InitMultipartUploadResult {
    res: ResponseInfo
    bucket: string
    name: string
    uploadId: string
  }

  interface UploadPartResult {
    name: string
    etag: string
    res: ResponseInfo
  }

  interface ListPartsResult {
    res: ResponseInfo
    uploadId: string
    bucket: string
    name: string
    partNumberMarker: string
    nextPartNumberMarker: string
    maxParts: string
    isTruncated: string
    parts: Array<{ PartNumber: string; LastModified: string; ETag: string; Size: string; [k: string]: string }>
  }

  interface ListUploadsResult {
    res: ResponseInfo
    uploads: Array<{ name: string; uploadId: string; initiated: string }>
    bucket: string
    nextKeyMarker: string
    nextUploadIdMarker: string
    isTruncated: boolean
  }

  interface CompleteMultipartUploadOptions extends RequestOptions {
    callback?: Callback
    progress?(percentage: number, checkpoint: null, res: ResponseInfo): unknown
  }

  // The names @types/ali-oss gives the same shapes, so code typed against it compiles unchanged.
  type NormalSuccessResponse = ResponseInfo
  type ObjectCallback = Callback
  type UserMeta = Record<string, string | number>
  type PutObjectOptions = PutOptions
  type PutObjectResult = PutResult
  type HeadObjectOptions = RequestOptions
  type HeadObjectResult = HeadResult
  type InitMultipartUploadOptions = PutOptions
  type CompleteMultipartUploadResult = MultipartUploadResult
  type ListPartsQuery = {
    'max-parts'?: number | string
    'part-number-marker'?: number | string
    'encoding-type'?: string
  }
  type ListUploadsQuery = {
    prefix?: string
    'max-uploads'?: number | string
    'key-marker'?: string
    'upload-id-marker'?: string
  }

  /**
   * An OSS, network or local error, shaped like ali-oss's. What `name`/`code` say:
   * - OSS answered with an error: `name` is `Code + 'Error'` (e.g. `SignatureDoesNotMatchError`), `code` the OSS code.
   * - no usable answer: `RequestError` (status -1), `ConnectionTimeoutError` / `ResponseTimeoutError` (status -2).
   * - a local file: `name` `'Error'`, `code` the errno name (`ENOENT`, `EACCES`, `EISDIR`, `EROFS`, `ENOSPC` …) and
   *   Node's message (`ENOENT: no such file or directory, stat '/x'`); a checkpoint file that cannot be written
   *   says `cannot write the checkpoint file <path>: <code> (…)`.
   * - the file changed during the upload (size, mtime, ctime, inode or device): `FileChangedError`,
   *   code `FileChanged`; nothing was completed and the upload was aborted.
   * - a server reply that cannot be understood: `ProtocolError`, code `ProtocolError`.
   * - a failure inside oss-turbo: `InternalError`, code `OssTurboInternal`.
   * - the CRC-64 of what the server stored differs from what was sent: `CrcMismatchError`, code `CrcMismatch`.
   */
  interface OSSError extends Error {
    name: string
    code?: string
    /** HTTP status; -1 network error, -2 timeout. */
    status?: number
    requestId?: string
    hostId?: string
    ecCode?: string
    /** The part that failed, in multipart uploads. */
    partNum?: number
  }

  /** What `multipartUpload` rejects with after `cancel()`. */
  interface CancelEvent {
    status: 0
    name: 'cancel'
  }

  /** What `multipartUpload` rejects with when the upload vanished on the server. */
  interface AbortEvent {
    status: 0
    name: 'abort'
    message: string
    partNum?: number
  }

  // ali-oss's other types (from @types/ali-oss), under the same names: code typed against ali-oss compiles.
  type STS = AliOSS.STS
  const STS: typeof AliOSS.STS
  type Credentials = AliOSS.Credentials
  type STSOptions = AliOSS.STSOptions
  type Bucket = AliOSS.Bucket
  type StorageType = AliOSS.StorageType
  type ACLType = AliOSS.ACLType
  type HTTPMethods = AliOSS.HTTPMethods
  type RedundancyType = AliOSS.RedundancyType
  type RuleStatusType = AliOSS.RuleStatusType
  type LifecycleRule = AliOSS.LifecycleRule
  type CORSRule = AliOSS.CORSRule
  type OwnerType = AliOSS.OwnerType
  type ObjectMeta = AliOSS.ObjectMeta
  type BucketPolicy = AliOSS.BucketPolicy
  type ModifyData = AliOSS.ModifyData
  type ObjectPart = AliOSS.ObjectPart
  type Upload = AliOSS.Upload
  type Channel = AliOSS.Channel
  type ChannelHistory = AliOSS.ChannelHistory
  type ListBucketsQueryType = AliOSS.ListBucketsQueryType
  type PutBucketOptions = AliOSS.PutBucketOptions
  type PutBucketWebsiteConfig = AliOSS.PutBucketWebsiteConfig
  type ListObjectsQuery = AliOSS.ListObjectsQuery
  type ListV2ObjectsQuery = AliOSS.ListV2ObjectsQuery
  type ListObjectResult = AliOSS.ListObjectResult
  type ListV2ObjectResult = AliOSS.ListV2ObjectResult
  type PutStreamOptions = AliOSS.PutStreamOptions
  type AppendObjectOptions = AliOSS.AppendObjectOptions
  type AppendObjectResult = AliOSS.AppendObjectResult
  type GetObjectOptions = AliOSS.GetObjectOptions
  type GetObjectResult = AliOSS.GetObjectResult
  type GetStreamOptions = AliOSS.GetStreamOptions
  type GetStreamResult = AliOSS.GetStreamResult
  type CopyObjectOptions = AliOSS.CopyObjectOptions
  type CopyAndPutMetaResult = AliOSS.CopyAndPutMetaResult
  type DeleteResult = AliOSS.DeleteResult
  type DeleteMultiOptions = AliOSS.DeleteMultiOptions
  type DeleteMultiResult = AliOSS.DeleteMultiResult
  type ResponseHeaderType = AliOSS.ResponseHeaderType
  type SignatureUrlOptions = AliOSS.SignatureUrlOptions
  type GetACLResult = AliOSS.GetACLResult
  type MultipartUploadCopyResult = AliOSS.MultipartUploadCopyResult
  type MultipartUploadCopySourceData = AliOSS.MultipartUploadCopySourceData
  type PutSymlinkOptions = AliOSS.PutSymlinkOptions
  type PutChannelConf = AliOSS.PutChannelConf
  type PutChannelResult = AliOSS.PutChannelResult
  type GetChannelResult = AliOSS.GetChannelResult
  type ListChannelsQuery = AliOSS.ListChannelsQuery
  type ListChannelsResult = AliOSS.ListChannelsResult
  type ChannelHistoryResult = AliOSS.ChannelHistoryResult
  type GetRtmpUrlOptions = AliOSS.GetRtmpUrlOptions
  type GetBucketPolicyResult = AliOSS.GetBucketPolicyResult
  type PostObjectParams = AliOSS.PostObjectParams
  type ClusterType = AliOSS.ClusterType
  type ClusterOptions = AliOSS.ClusterOptions
  type ClusterClient = AliOSS.ClusterClient
  const ClusterClient: typeof AliOSS.ClusterClient
  type ImageClientOptions = AliOSS.ImageClientOptions
  type ImageGetOptions = AliOSS.ImageGetOptions
  type StyleData = AliOSS.StyleData
  type ImageClient = AliOSS.ImageClient
  const ImageClient: typeof AliOSS.ImageClient
}

/** The accelerated methods and oss-turbo's typed options: everything else is ali-oss's own (see below). */
type Accelerated =
  | 'options'
  | 'multipartUpload'
  | 'initMultipartUpload'
  | 'uploadPart'
  | 'completeMultipartUpload'
  | 'abortMultipartUpload'
  | 'listParts'
  | 'listUploads'
  | 'put'
  | 'head'
  | 'cancel'
  | 'isCancel'
  | 'resetCancelFlag'

/** Every other method of ali-oss's client (get, list, copy, signatureUrl, …), with @types/ali-oss's types. */
// eslint-disable-next-line @typescript-eslint/no-empty-interface
interface OSS extends Omit<AliOSS, Accelerated> {}

declare class OSS {
  constructor(options: OSS.Options)
  /** `true` when the native addon loaded; `false` when oss-turbo is plain ali-oss on this platform. */
  static native: boolean
  /** Why the native addon did not load (`code: 'OSS_TURBO_NO_BINARY'`), or null. */
  static nativeError: (Error & { code?: string }) | null
  /** ali-oss's statics. */
  static STS: typeof AliOSS.STS
  static ClusterClient: typeof AliOSS.ClusterClient
  static ImageClient: typeof AliOSS.ImageClient
  static initOptions(options: OSS.Options): Record<string, unknown>
  /** ali-oss's normalised options: defaults applied, `endpoint` parsed, `timeout` in ms; secrets not enumerable. */
  options: Omit<OSS.Options, 'accessKeySecret' | 'endpoint' | 'timeout'> & {
    bucket: string | null
    accessKeySecret?: string
    endpoint: import('url').UrlWithStringQuery
    timeout: number
    [key: string]: unknown
  }
  /** ali-oss's bucket switch (as `useBucket`); the next accelerated call goes to that bucket. */
  setBucket(name: string): this
  getBucket(): string | null

  multipartUpload(
    name: string,
    file: string | Buffer,
    options?: OSS.MultipartUploadOptions,
  ): Promise<OSS.MultipartUploadResult>
  /** A stream of unknown length, cut into parts of `partSize`, `parallel` at a time, with backpressure. */
  multipartUpload(
    name: string,
    file: OSS.StreamSource,
    options?: OSS.StreamUploadOptions,
  ): Promise<OSS.MultipartUploadResult>
  /**
   * ali-oss's `putStream`, with its result shape. oss-turbo sends a stream that ends within the first part
   * as one PutObject and a longer one as a multipart upload (bounded memory, retried parts, no 5 GB limit).
   */
  putStream(name: string, stream: OSS.StreamSource, options?: OSS.PutStreamOptions): Promise<OSS.PutResult>
  initMultipartUpload(name: string, options?: OSS.PutOptions): Promise<OSS.InitMultipartUploadResult>
  uploadPart(
    name: string,
    uploadId: string,
    partNo: number,
    file: string | Buffer,
    start: number,
    end: number,
    options?: OSS.RequestOptions & { mime?: string },
  ): Promise<OSS.UploadPartResult>
  completeMultipartUpload(
    name: string,
    uploadId: string,
    parts: OSS.DonePart[],
    options?: OSS.CompleteMultipartUploadOptions,
  ): Promise<OSS.MultipartUploadResult>
  abortMultipartUpload(name: string, uploadId: string, options?: OSS.RequestOptions): Promise<{ res: OSS.ResponseInfo }>
  listParts(
    name: string,
    uploadId: string,
    query?: OSS.ListPartsQuery,
    options?: OSS.RequestOptions,
  ): Promise<OSS.ListPartsResult>
  listUploads(query?: OSS.ListUploadsQuery, options?: OSS.RequestOptions): Promise<OSS.ListUploadsResult>
  /** A path or a Buffer is uploaded natively; a stream goes to `putStream` (as in ali-oss, which also sends
   * `append`'s calls to its own put). */
  put(name: string, file: string | Buffer, options?: OSS.PutOptions): Promise<OSS.PutResult>
  put(name: string, file: OSS.StreamSource, options?: OSS.PutStreamOptions): Promise<OSS.PutResult>
  /**
   * oss-turbo: uploads every file under `dir` to `prefix` + its path relative to `dir` (`/` separators).
   * Resolves with a summary even when some files failed (see `failed`); rejects only when the job cannot run.
   */
  uploadDirectory(
    dir: string,
    prefix?: string,
    options?: OSS.UploadDirectoryOptions,
  ): Promise<OSS.UploadDirectoryResult>
  head(name: string, options?: OSS.RequestOptions): Promise<OSS.HeadResult>
  /**
   * With a file path: a native, parallel, resumable download verified by CRC-64, written to a temp file
   * beside `file` and renamed onto it at the end. Every other form is ali-oss's own `get`.
   */
  get(name: string, file: string, options?: OSS.GetOptions): Promise<OSS.GetResult>
  get(name: string, file?: NodeJS.WritableStream | null, options?: OSS.GetOptions): Promise<OSS.GetResult>
  get(name: string, options?: OSS.GetOptions): Promise<OSS.GetResult>

  /** Stops every upload of this client (ali-oss semantics); with `abort`, also aborts that upload on the server. */
  cancel(abort?: { name: string; uploadId: string; options?: OSS.RequestOptions }): void
  isCancel(): boolean
  resetCancelFlag(): void
}

export = OSS
