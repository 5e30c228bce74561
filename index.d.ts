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

  interface PutResult {
    name: string
    url: string
    res: ResponseInfo
    data?: unknown
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
  type ListPartsQuery = { 'max-parts'?: number | string; 'part-number-marker'?: number | string; 'encoding-type'?: string }
  type ListUploadsQuery = { prefix?: string; 'max-uploads'?: number | string; 'key-marker'?: string; 'upload-id-marker'?: string }

  /** An OSS or network error, shaped like ali-oss's. */
  interface OSSError extends Error {
    /** `Code + 'Error'` (e.g. `SignatureDoesNotMatchError`), or `RequestError`/`ResponseTimeoutError`. */
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

  multipartUpload(name: string, file: string | Buffer, options?: OSS.MultipartUploadOptions): Promise<OSS.MultipartUploadResult>
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
  listUploads(
    query?: OSS.ListUploadsQuery,
    options?: OSS.RequestOptions,
  ): Promise<OSS.ListUploadsResult>
  /** A path or a Buffer is uploaded natively; a stream (or `append`'s call) goes to ali-oss's own put. */
  put(name: string, file: string | Buffer | NodeJS.ReadableStream, options?: OSS.PutOptions): Promise<OSS.PutResult>
  head(name: string, options?: OSS.RequestOptions): Promise<OSS.HeadResult>

  /** Stops every upload of this client (ali-oss semantics); with `abort`, also aborts that upload on the server. */
  cancel(abort?: { name: string; uploadId: string; options?: OSS.RequestOptions }): void
  isCancel(): boolean
  resetCancelFlag(): void
}

export = OSS
