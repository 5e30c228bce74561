//! The durable checkpoint of a download (`options.checkpointFile`): which ranges of which object version
//! are already in which temp file. Written atomically (temp file, fsync, rename, fsync of the folder), so
//! a crash leaves the old or the new checkpoint, never half of one. It holds no credentials.

use std::fs;
use std::path::Path;

use serde::{Deserialize, Serialize};

/// What `kind` says in every download checkpoint (an upload checkpoint is never mistaken for one).
pub const KIND: &str = "oss-turbo-download";

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct DonePart {
    pub number: u32,
    /// CRC-64 of the part's bytes as they were written (combined into the whole object's at the end).
    pub crc64: u64,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct DownloadCheckpoint {
    pub kind: String,
    pub bucket: Option<String>,
    pub name: String,
    /// The target file's absolute path.
    pub file_path: String,
    /// The temp file the parts are written into (renamed onto `file_path` at the end).
    pub temp_path: String,
    pub object_size: u64,
    pub etag: String,
    pub part_size: u64,
    pub done_parts: Vec<DonePart>,
}

/// What a checkpoint must match to be resumed from.
pub struct Identity<'a> {
    pub bucket: Option<&'a str>,
    pub name: &'a str,
    pub file_path: &'a str,
    pub object_size: u64,
    pub etag: &'a str,
}

impl DownloadCheckpoint {
    /// Why this checkpoint cannot be resumed for `id`, or `None` when it can.
    pub fn mismatch(&self, id: &Identity<'_>) -> Option<String> {
        if self.kind != KIND {
            return Some("it is not a download checkpoint".into());
        }
        if self.bucket.as_deref() != id.bucket || self.name != id.name {
            return Some(format!(
                "it is for object {:?} in bucket {:?}",
                self.name,
                self.bucket.as_deref().unwrap_or("")
            ));
        }
        if self.file_path != id.file_path {
            return Some(format!("it is for file {:?}", self.file_path));
        }
        if self.etag != id.etag || self.object_size != id.object_size {
            return Some("the object changed on the server since it was saved".into());
        }
        if self.part_size == 0 {
            return Some("its partSize is 0".into());
        }
        match fs::metadata(&self.temp_path) {
            Ok(m) if m.len() == self.object_size => None,
            Ok(_) => Some("its temp file has the wrong size".into()),
            Err(_) => Some("its temp file is gone".into()),
        }
    }
}

/// Reads a checkpoint: `Ok(None)` when there is none, `Err(reason)` when it cannot be used.
pub fn load(path: &Path) -> Result<Option<DownloadCheckpoint>, String> {
    crate::multipart::checkpoint::load_json(path, "download checkpoint")
}

/// Writes `cp` to `path` atomically (the same durable write as uploads' checkpoints).
pub fn save(path: &Path, cp: &DownloadCheckpoint) -> std::io::Result<()> {
    crate::multipart::checkpoint::save(path, cp)
}

/// Removes a file; a missing one is fine.
pub fn remove(path: &Path) -> std::io::Result<()> {
    match fs::remove_file(path) {
        Err(e) if e.kind() != std::io::ErrorKind::NotFound => Err(e),
        _ => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cp(dir: &Path) -> DownloadCheckpoint {
        let temp = dir.join("t.tmp");
        fs::write(&temp, vec![0u8; 10]).expect("temp");
        DownloadCheckpoint {
            kind: KIND.into(),
            bucket: Some("b".into()),
            name: "k".into(),
            file_path: "/x/f".into(),
            temp_path: temp.to_string_lossy().into_owned(),
            object_size: 10,
            etag: "\"E\"".into(),
            part_size: 4,
            done_parts: vec![DonePart {
                number: 1,
                crc64: u64::MAX,
            }],
        }
    }

    #[test]
    fn round_trip_and_identity() {
        let dir = std::env::temp_dir().join(format!("oss-turbo-dcp-{}", std::process::id()));
        fs::create_dir_all(&dir).expect("dir");
        let c = cp(&dir);
        let path = dir.join("cp.json");
        save(&path, &c).expect("save");
        let back = load(&path).expect("load").expect("some");
        assert_eq!(back, c);
        let id = Identity {
            bucket: Some("b"),
            name: "k",
            file_path: "/x/f",
            object_size: 10,
            etag: "\"E\"",
        };
        assert_eq!(back.mismatch(&id), None);
        let changed = Identity {
            etag: "\"F\"",
            ..id
        };
        assert!(back.mismatch(&changed).unwrap().contains("changed"));
        fs::write(&c.temp_path, b"short").expect("rewrite");
        assert!(back.mismatch(&id).unwrap().contains("wrong size"));
        remove(&path).expect("remove");
        assert_eq!(load(&path), Ok(None));
        fs::write(&path, b"{").expect("junk");
        assert!(load(&path).is_err());
        let _ = fs::remove_dir_all(&dir);
    }
}
