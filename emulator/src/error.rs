//! The OSS error value every failing request ends in.

/// An OSS error: HTTP status, `Code`, `Message` and extra XML elements.
#[derive(Debug, Clone)]
pub struct OssError {
    pub status: u16,
    pub code: String,
    pub message: String,
    /// Extra elements in document order (`Key`, `BucketName`, `UploadId`, `StringToSign`, …).
    pub extra: Vec<(String, String)>,
}

impl OssError {
    pub fn new(status: u16, code: &str, message: impl Into<String>) -> Self {
        OssError {
            status,
            code: code.to_string(),
            message: message.into(),
            extra: Vec::new(),
        }
    }

    pub fn with(mut self, name: &str, value: impl Into<String>) -> Self {
        self.extra.push((name.to_string(), value.into()));
        self
    }

    pub fn invalid_argument(message: impl Into<String>) -> Self {
        Self::new(400, "InvalidArgument", message)
    }

    pub fn access_denied(message: impl Into<String>) -> Self {
        Self::new(403, "AccessDenied", message)
    }

    pub fn no_such_bucket(bucket: &str) -> Self {
        Self::new(404, "NoSuchBucket", "The specified bucket does not exist.")
            .with("BucketName", bucket)
    }

    pub fn no_such_key(key: &str) -> Self {
        Self::new(404, "NoSuchKey", "The specified key does not exist.").with("Key", key)
    }

    pub fn no_such_upload(upload_id: &str) -> Self {
        Self::new(
            404,
            "NoSuchUpload",
            "The specified upload does not exist. The upload ID may be invalid, or the upload may have been aborted or completed.",
        )
        .with("UploadId", upload_id)
    }

    pub fn malformed_xml(detail: impl Into<String>) -> Self {
        Self::new(
            400,
            "MalformedXML",
            format!(
                "The XML you provided was not well-formed or did not validate against our published schema: {}",
                detail.into()
            ),
        )
    }

    pub fn internal(detail: impl std::fmt::Display) -> Self {
        Self::new(
            500,
            "InternalError",
            format!("We encountered an internal error: {detail}"),
        )
    }

    /// The `EC` value sent with this error. Real OSS uses a per-cause catalogue; the
    /// emulator only reproduces the code documented for NoSuchKey and uses a stable
    /// per-code value of its own (`0000-` prefix) for the rest.
    pub fn ec(&self) -> String {
        let n = match self.code.as_str() {
            "NoSuchKey" => return "0026-00000001".to_string(),
            "AccessDenied" => 1,
            "InvalidAccessKeyId" => 2,
            "SignatureDoesNotMatch" => 3,
            "RequestTimeTooSkewed" => 4,
            "InvalidSecurityToken" => 5,
            "SecurityTokenExpired" => 6,
            "NoSuchBucket" => 7,
            "NoSuchUpload" => 8,
            "InvalidPart" => 9,
            "InvalidPartOrder" => 10,
            "EntityTooSmall" => 11,
            "EntityTooLarge" => 12,
            "InvalidDigest" => 13,
            "MissingContentLength" => 14,
            "MalformedXML" => 15,
            "InvalidArgument" => 16,
            "InvalidURI" => 17,
            "InvalidBucketName" => 18,
            "InvalidObjectName" => 19,
            "FileAlreadyExists" => 20,
            "CallbackFailed" => 21,
            "InvalidRange" => 22,
            "NotImplemented" => 23,
            "IncompleteBody" => 24,
            "InternalError" => 25,
            _ => 99,
        };
        format!("0000-{n:08}")
    }
}
