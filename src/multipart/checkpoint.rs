//! The durable checkpoint file (`options.checkpointFile`): ali-oss's checkpoint JSON — so ali-oss can read
//! it too — plus the bucket and the file's mtime, which tell whether it still matches the call. It is
//! written atomically (temp file, fsync, rename, fsync of the folder), so a crash leaves either the old or
//! the new checkpoint, never half of one.

use std::fs::{self, File, OpenOptions};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::time::UNIX_EPOCH;

use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DonePart {
    pub number: u32,
    pub etag: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct CheckpointFile {
    /// The source file's absolute path; `null` for a Buffer.
    pub file: Option<String>,
    pub name: String,
    pub file_size: u64,
    pub part_size: u64,
    pub upload_id: String,
    pub done_parts: Vec<DonePart>,
    /// oss-turbo's additions (ali-oss ignores them).
    #[serde(default)]
    pub bucket: Option<String>,
    #[serde(default)]
    pub file_mtime_ms: Option<u64>,
}

/// What a checkpoint file must match to be resumed from.
#[derive(Debug, Clone)]
pub struct Identity {
    pub bucket: Option<String>,
    pub name: String,
    pub file: Option<String>,
    pub file_size: u64,
    pub file_mtime_ms: Option<u64>,
}

impl Identity {
    /// Why `cp` cannot be resumed for this call, or `None` when it matches.
    pub fn mismatch(&self, cp: &CheckpointFile) -> Option<String> {
        if cp.bucket.is_some() && cp.bucket != self.bucket {
            return Some(format!(
                "it is for bucket {:?}, not {:?}",
                cp.bucket.as_deref().unwrap_or(""),
                self.bucket.as_deref().unwrap_or("")
            ));
        }
        if cp.name != self.name {
            return Some(format!(
                "it is for object {:?}, not {:?}",
                cp.name, self.name
            ));
        }
        if cp.file != self.file {
            return Some(format!(
                "it is for file {:?}, not {:?}",
                cp.file.as_deref().unwrap_or("<Buffer>"),
                self.file.as_deref().unwrap_or("<Buffer>")
            ));
        }
        if cp.file_size != self.file_size {
            return Some(format!(
                "the file is now {} bytes, the checkpoint was made for {} bytes",
                self.file_size, cp.file_size
            ));
        }
        if let (Some(then), Some(now)) = (cp.file_mtime_ms, self.file_mtime_ms) {
            if then != now {
                return Some("the file was modified after the checkpoint was saved".into());
            }
        }
        None
    }
}

/// The modification time of a file, in ms since the epoch.
pub fn mtime_ms(path: &str) -> Option<u64> {
    let modified = fs::metadata(path).ok()?.modified().ok()?;
    Some(modified.duration_since(UNIX_EPOCH).ok()?.as_millis() as u64)
}

/// Reads a checkpoint file: `Ok(None)` when there is none, `Err(reason)` when it cannot be used.
pub fn load(path: &Path) -> Result<Option<CheckpointFile>, String> {
    load_json(path, "checkpoint")
}

/// Reads a JSON checkpoint of any kind (`what` names it in the reason): `Ok(None)` when there is none.
pub fn load_json<T: serde::de::DeserializeOwned>(
    path: &Path,
    what: &str,
) -> Result<Option<T>, String> {
    let text = match fs::read(path) {
        Ok(t) => t,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(format!("it cannot be read ({e})")),
    };
    serde_json::from_slice(&text)
        .map(Some)
        .map_err(|e| format!("it is not a valid {what} ({e})"))
}

/// Writes `cp` (any checkpoint: uploads', downloads') to `path` atomically: a temp file beside it, fsync,
/// rename, fsync of the folder. A reader sees the old file or the new one, never a half-written one.
pub fn save<T: serde::Serialize>(path: &Path, cp: &T) -> std::io::Result<()> {
    let json = serde_json::to_vec_pretty(cp).map_err(std::io::Error::other)?;
    let dir = match path.parent() {
        Some(d) if !d.as_os_str().is_empty() => d.to_path_buf(),
        _ => PathBuf::from("."),
    };
    let file_name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_else(|| "checkpoint".into());
    let tmp = dir.join(format!(".{file_name}.{}.tmp", std::process::id()));
    let result = (|| {
        let mut f = OpenOptions::new()
            .write(true)
            .create(true)
            .truncate(true)
            .open(&tmp)?;
        f.write_all(&json)?;
        f.sync_all()?;
        fs::rename(&tmp, path)?;
        // Make the rename itself durable.
        File::open(&dir)?.sync_all()
    })();
    if result.is_err() {
        let _ = fs::remove_file(&tmp);
    }
    result
}

/// The first write of a checkpoint in a run: removes the temp files that earlier runs killed mid-write
/// left beside it (`.<name>.<pid>.tmp` of a process that no longer runs), then writes `cp`.
pub fn save_first(path: &Path, cp: &CheckpointFile) -> std::io::Result<()> {
    remove_stale_temps(path);
    save(path, cp)
}

/// Removes `.<name>.<pid>.tmp` files beside `path` left by processes that are gone; returns how many.
pub fn remove_stale_temps(path: &Path) -> usize {
    let dir = match path.parent() {
        Some(d) if !d.as_os_str().is_empty() => d.to_path_buf(),
        _ => PathBuf::from("."),
    };
    let Some(file_name) = path.file_name().map(|n| n.to_string_lossy().into_owned()) else {
        return 0;
    };
    let Ok(entries) = fs::read_dir(&dir) else {
        return 0;
    };
    let prefix = format!(".{file_name}.");
    let own = std::process::id();
    let mut removed = 0;
    for entry in entries.flatten() {
        let name = entry.file_name().to_string_lossy().into_owned();
        let Some(pid) = name
            .strip_prefix(&prefix)
            .and_then(|rest| rest.strip_suffix(".tmp"))
            .and_then(|pid| pid.parse::<u32>().ok())
        else {
            continue;
        };
        if pid != own && !process_alive(pid) && fs::remove_file(entry.path()).is_ok() {
            removed += 1;
        }
    }
    removed
}

/// Whether a process with this id runs (Linux: `/proc/<pid>`); elsewhere every other writer counts as gone.
fn process_alive(pid: u32) -> bool {
    if cfg!(target_os = "linux") {
        Path::new("/proc").join(pid.to_string()).exists()
    } else {
        false
    }
}

/// Removes the checkpoint after a successful upload; a missing file is fine.
pub fn remove(path: &Path) -> std::io::Result<()> {
    match fs::remove_file(path) {
        Err(e) if e.kind() != std::io::ErrorKind::NotFound => Err(e),
        _ => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample() -> CheckpointFile {
        CheckpointFile {
            file: Some("/data/a.bin".into()),
            name: "dir/a.bin".into(),
            file_size: 300_000,
            part_size: 102_400,
            upload_id: "UP".into(),
            done_parts: vec![DonePart {
                number: 2,
                etag: "\"ABC\"".into(),
            }],
            bucket: Some("bkt".into()),
            file_mtime_ms: Some(1000),
        }
    }

    fn identity() -> Identity {
        Identity {
            bucket: Some("bkt".into()),
            name: "dir/a.bin".into(),
            file: Some("/data/a.bin".into()),
            file_size: 300_000,
            file_mtime_ms: Some(1000),
        }
    }

    #[test]
    fn saves_atomically_and_reads_back_as_ali_oss_json() {
        let dir = std::env::temp_dir().join(format!("oss-turbo-cp-{}", std::process::id()));
        fs::create_dir_all(&dir).unwrap();
        let path = dir.join("up.json");
        save(&path, &sample()).unwrap();
        assert_eq!(load(&path).unwrap(), Some(sample()));
        let json: serde_json::Value = serde_json::from_slice(&fs::read(&path).unwrap()).unwrap();
        for key in [
            "file",
            "name",
            "fileSize",
            "partSize",
            "uploadId",
            "doneParts",
        ] {
            assert!(json.get(key).is_some(), "{key}");
        }
        assert_eq!(json["doneParts"][0]["etag"], "\"ABC\"");
        // No temp file is left behind.
        assert_eq!(fs::read_dir(&dir).unwrap().count(), 1);
        remove(&path).unwrap();
        remove(&path).unwrap();
        assert_eq!(load(&path).unwrap(), None);
        fs::remove_dir_all(&dir).ok();
    }

    #[test]
    fn stale_temp_files_of_dead_writers_are_removed() {
        let dir = std::env::temp_dir().join(format!("oss-turbo-cp-stale-{}", std::process::id()));
        fs::create_dir_all(&dir).unwrap();
        let path = dir.join("up.json");
        // A pid above Linux's pid_max (4194304) never runs.
        let dead = dir.join(".up.json.4999999.tmp");
        let other = dir.join(".other.json.4999999.tmp");
        let unrelated = dir.join(".up.json.x.tmp");
        for f in [&dead, &other, &unrelated] {
            fs::write(f, b"{").unwrap();
        }
        save_first(&path, &sample()).unwrap();
        assert!(!dead.exists(), "the dead writer's temp file is gone");
        assert!(other.exists(), "another checkpoint's temp file is kept");
        assert!(
            unrelated.exists(),
            "a file that is not a temp file of ours is kept"
        );
        assert_eq!(load(&path).unwrap(), Some(sample()));
        fs::remove_dir_all(&dir).ok();
    }

    #[test]
    fn a_corrupt_file_says_why() {
        let path =
            std::env::temp_dir().join(format!("oss-turbo-cp-bad-{}.json", std::process::id()));
        fs::write(&path, b"{\"uploadId\": ").unwrap();
        assert!(load(&path).unwrap_err().contains("not a valid checkpoint"));
        fs::remove_file(&path).ok();
    }

    #[test]
    fn mismatches_are_explained() {
        let id = identity();
        assert_eq!(id.mismatch(&sample()), None);
        let other = |f: &dyn Fn(&mut CheckpointFile)| {
            let mut cp = sample();
            f(&mut cp);
            id.mismatch(&cp).expect("mismatch")
        };
        assert!(other(&|c| c.name = "x".into()).contains("object"));
        assert!(other(&|c| c.bucket = Some("other".into())).contains("bucket"));
        assert!(other(&|c| c.file_size = 1).contains("bytes"));
        assert!(other(&|c| c.file_mtime_ms = Some(5)).contains("modified"));
        assert!(other(&|c| c.file = None).contains("<Buffer>"));
        // A checkpoint written by ali-oss (no bucket, no mtime) matches on what it has.
        let mut ali = sample();
        ali.bucket = None;
        ali.file_mtime_ms = None;
        assert_eq!(id.mismatch(&ali), None);
    }
}
