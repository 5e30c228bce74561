//! Buckets, objects and multipart uploads: an in-memory index over files in the data
//! directory (or, in bench mode, over sizes and CRCs only).

use std::collections::{BTreeMap, HashMap};
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::SystemTime;

use http::HeaderMap;
use serde::{Deserialize, Serialize};

use crate::error::OssError;
use crate::util::lock;
use crate::util::unique_name;

/// Headers stored at Initiate/Put and echoed on HEAD/GET.
#[derive(Clone, Debug, Default, Serialize, Deserialize)]
pub struct ObjHeaders {
    pub content_type: Option<String>,
    pub cache_control: Option<String>,
    pub content_disposition: Option<String>,
    pub content_encoding: Option<String>,
    pub expires: Option<String>,
    pub storage_class: Option<String>,
    pub sse: Option<String>,
    pub tagging: Option<String>,
    pub meta: Vec<(String, String)>,
}

fn hv(h: &HeaderMap, name: &str) -> Option<String> {
    h.get(name)
        .map(|v| String::from_utf8_lossy(v.as_bytes()).into_owned())
}

impl ObjHeaders {
    pub fn from_request(h: &HeaderMap) -> Self {
        let mut meta: Vec<(String, String)> = h
            .iter()
            .filter(|(k, _)| k.as_str().starts_with("x-oss-meta-"))
            .map(|(k, v)| {
                (
                    k.as_str().to_string(),
                    String::from_utf8_lossy(v.as_bytes()).into_owned(),
                )
            })
            .collect();
        meta.sort();
        meta.dedup_by(|a, b| a.0 == b.0);
        ObjHeaders {
            content_type: hv(h, "content-type"),
            cache_control: hv(h, "cache-control"),
            content_disposition: hv(h, "content-disposition"),
            content_encoding: hv(h, "content-encoding"),
            expires: hv(h, "expires"),
            storage_class: hv(h, "x-oss-storage-class"),
            sse: hv(h, "x-oss-server-side-encryption"),
            tagging: hv(h, "x-oss-tagging"),
            meta,
        }
    }

    /// `(name, value)` pairs to send on GET/HEAD.
    pub fn response_headers(&self) -> Vec<(String, String)> {
        let mut v = Vec::new();
        v.push((
            "content-type".to_string(),
            self.content_type
                .clone()
                .unwrap_or_else(|| "application/octet-stream".to_string()),
        ));
        let mut opt = |name: &str, val: &Option<String>| {
            if let Some(x) = val {
                v.push((name.to_string(), x.clone()));
            }
        };
        opt("cache-control", &self.cache_control);
        opt("content-disposition", &self.content_disposition);
        opt("content-encoding", &self.content_encoding);
        opt("expires", &self.expires);
        opt("x-oss-server-side-encryption", &self.sse);
        opt("x-oss-tagging", &self.tagging);
        v.push((
            "x-oss-storage-class".to_string(),
            self.storage_class
                .clone()
                .unwrap_or_else(|| "Standard".to_string()),
        ));
        if let Some(t) = &self.tagging {
            let n = t.split('&').filter(|s| !s.is_empty()).count();
            v.push(("x-oss-tagging-count".to_string(), n.to_string()));
        }
        for (k, val) in &self.meta {
            v.push((k.clone(), val.clone()));
        }
        v
    }
}

#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct Object {
    pub bucket: String,
    pub key: String,
    pub size: u64,
    /// Without quotes: 32 uppercase hex, or `<hex>-<parts>` for multipart objects.
    pub etag: String,
    pub crc64: u64,
    /// base64 MD5 (Normal objects only).
    pub content_md5: Option<String>,
    pub last_modified: SystemTime,
    pub multipart: bool,
    /// Created by AppendObject (`x-oss-object-type: Appendable`); only such objects take more appends.
    #[serde(default)]
    pub appendable: bool,
    pub headers: ObjHeaders,
    /// Data file; None in bench mode.
    pub data: Option<PathBuf>,
}

#[derive(Clone, Debug)]
pub struct Part {
    pub size: u64,
    pub md5: [u8; 16],
    pub crc64: u64,
    pub last_modified: SystemTime,
    pub data: Option<PathBuf>,
}

impl Part {
    pub fn etag(&self) -> String {
        hex::encode_upper(self.md5)
    }
}

#[derive(Clone, Debug)]
pub struct Upload {
    pub id: String,
    pub bucket: String,
    pub key: String,
    pub initiated: SystemTime,
    pub headers: ObjHeaders,
    pub forbid_overwrite: bool,
    pub parts: BTreeMap<u32, Part>,
    pub dir: Option<PathBuf>,
}

#[derive(Default)]
struct Bucket {
    created: Option<SystemTime>,
    objects: BTreeMap<String, Arc<Object>>,
}

#[derive(Default)]
struct Inner {
    buckets: BTreeMap<String, Bucket>,
    uploads: HashMap<String, Upload>,
}

pub struct Store {
    root: Option<PathBuf>,
    inner: Mutex<Inner>,
}

/// Bucket naming rule (3–63 chars, lowercase letters, digits, hyphens, not at the ends).
pub fn valid_bucket_name(b: &str) -> bool {
    (3..=63).contains(&b.len())
        && b.bytes()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == b'-')
        && !b.starts_with('-')
        && !b.ends_with('-')
}

fn remove_quietly(p: &Option<PathBuf>) {
    if let Some(p) = p {
        let _ = std::fs::remove_file(p);
        let _ = std::fs::remove_file(p.with_extension("json"));
    }
}

impl Store {
    /// `root` None = bench mode (no data kept).
    pub fn open(root: Option<PathBuf>) -> std::io::Result<Store> {
        let store = Store {
            root,
            inner: Mutex::new(Inner::default()),
        };
        if let Some(r) = &store.root {
            std::fs::create_dir_all(r.join("buckets"))?;
            // Multipart uploads are not restored across restarts: drop their leftovers.
            let _ = std::fs::remove_dir_all(r.join("uploads"));
            std::fs::create_dir_all(r.join("uploads"))?;
            let tmp = r.join("tmp");
            let _ = std::fs::remove_dir_all(&tmp);
            std::fs::create_dir_all(&tmp)?;
            store.load()?;
        }
        Ok(store)
    }

    /// Re-reads buckets and completed objects left in the data directory by an earlier
    /// run (multipart uploads in progress are not restored).
    fn load(&self) -> std::io::Result<()> {
        let Some(root) = &self.root else {
            return Ok(());
        };
        let mut inner = lock(&self.inner);
        for entry in std::fs::read_dir(root.join("buckets"))? {
            let entry = entry?;
            let name = entry.file_name().to_string_lossy().into_owned();
            if !entry.file_type()?.is_dir() || !valid_bucket_name(&name) {
                continue;
            }
            let bucket = inner.buckets.entry(name.clone()).or_default();
            bucket.created = entry.metadata().and_then(|m| m.modified()).ok();
            for f in std::fs::read_dir(entry.path())? {
                let f = f?;
                let p = f.path();
                if p.extension().and_then(|e| e.to_str()) != Some("json") {
                    continue;
                }
                let Ok(text) = std::fs::read(&p) else {
                    continue;
                };
                let Ok(mut obj) = serde_json::from_slice::<Object>(&text) else {
                    continue;
                };
                let data = p.with_extension("data");
                if !data.exists() || obj.bucket != name {
                    continue;
                }
                obj.data = Some(data.clone());
                let newer = bucket
                    .objects
                    .get(&obj.key)
                    .is_none_or(|o| o.last_modified <= obj.last_modified);
                if newer {
                    if let Some(old) = bucket.objects.insert(obj.key.clone(), Arc::new(obj)) {
                        remove_quietly(&old.data);
                    }
                } else {
                    remove_quietly(&Some(data));
                }
            }
        }
        Ok(())
    }

    pub fn bench(&self) -> bool {
        self.root.is_none()
    }

    /// A fresh path for an in-flight write (None in bench mode).
    pub fn tmp_path(&self) -> Option<PathBuf> {
        self.root
            .as_ref()
            .map(|r| r.join("tmp").join(unique_name()))
    }

    pub fn create_bucket(&self, name: &str, now: SystemTime) -> std::io::Result<bool> {
        if let Some(r) = &self.root {
            std::fs::create_dir_all(r.join("buckets").join(name))?;
        }
        let mut inner = lock(&self.inner);
        if inner.buckets.contains_key(name) {
            return Ok(false);
        }
        inner.buckets.insert(
            name.to_string(),
            Bucket {
                created: Some(now),
                objects: BTreeMap::new(),
            },
        );
        Ok(true)
    }

    pub fn bucket_exists(&self, name: &str) -> bool {
        lock(&self.inner).buckets.contains_key(name)
    }

    pub fn list_buckets(&self) -> Vec<(String, Option<SystemTime>)> {
        lock(&self.inner)
            .buckets
            .iter()
            .map(|(k, b)| (k.clone(), b.created))
            .collect()
    }

    pub fn object_exists(&self, bucket: &str, key: &str) -> bool {
        lock(&self.inner)
            .buckets
            .get(bucket)
            .is_some_and(|b| b.objects.contains_key(key))
    }

    /// Moves a finished temp file into the bucket, writes its metadata, and indexes it.
    /// `forbid_overwrite` fails with FileAlreadyExists when the key exists.
    pub fn commit_object(
        &self,
        mut obj: Object,
        tmp: Option<PathBuf>,
        forbid_overwrite: bool,
    ) -> Result<(), OssError> {
        if forbid_overwrite && self.object_exists(&obj.bucket, &obj.key) {
            remove_quietly(&tmp);
            return Err(file_exists(&obj.key));
        }
        if let (Some(root), Some(tmp)) = (&self.root, tmp) {
            let base = root.join("buckets").join(&obj.bucket).join(unique_name());
            let data = base.with_extension("data");
            std::fs::rename(&tmp, &data).map_err(OssError::internal)?;
            obj.data = Some(data.clone());
            let meta = serde_json::to_vec(&obj).map_err(OssError::internal)?;
            std::fs::write(base.with_extension("json"), meta).map_err(OssError::internal)?;
        }
        let old = {
            let mut inner = lock(&self.inner);
            let Some(b) = inner.buckets.get_mut(&obj.bucket) else {
                remove_quietly(&obj.data);
                return Err(OssError::no_such_bucket(&obj.bucket));
            };
            if forbid_overwrite && b.objects.contains_key(&obj.key) {
                let key = obj.key.clone();
                remove_quietly(&obj.data);
                return Err(file_exists(&key));
            }
            b.objects.insert(obj.key.clone(), Arc::new(obj))
        };
        if let Some(old) = old {
            remove_quietly(&old.data);
        }
        Ok(())
    }

    pub fn get_object(&self, bucket: &str, key: &str) -> Result<Arc<Object>, OssError> {
        let inner = lock(&self.inner);
        let b = inner
            .buckets
            .get(bucket)
            .ok_or_else(|| OssError::no_such_bucket(bucket))?;
        b.objects
            .get(key)
            .cloned()
            .ok_or_else(|| OssError::no_such_key(key))
    }

    pub fn delete_object(&self, bucket: &str, key: &str) -> Result<(), OssError> {
        let old = {
            let mut inner = lock(&self.inner);
            let b = inner
                .buckets
                .get_mut(bucket)
                .ok_or_else(|| OssError::no_such_bucket(bucket))?;
            b.objects.remove(key)
        };
        if let Some(old) = old {
            remove_quietly(&old.data);
        }
        Ok(())
    }

    /// Objects of a bucket with key > `after` and starting with `prefix`, in key order,
    /// stopping once `limit` items were produced by `take` (which returns false to stop).
    pub fn scan_objects(
        &self,
        bucket: &str,
        prefix: &str,
        after: &str,
        mut take: impl FnMut(&Arc<Object>) -> bool,
    ) -> Result<(), OssError> {
        let inner = lock(&self.inner);
        let b = inner
            .buckets
            .get(bucket)
            .ok_or_else(|| OssError::no_such_bucket(bucket))?;
        let start = if after >= prefix { after } else { prefix };
        use std::ops::Bound;
        let lower = if start == after && !after.is_empty() {
            Bound::Excluded(start.to_string())
        } else {
            Bound::Included(start.to_string())
        };
        for (k, o) in b.objects.range((lower, Bound::Unbounded)) {
            if !k.starts_with(prefix) {
                if k.as_str() > prefix {
                    break;
                }
                continue;
            }
            if !take(o) {
                break;
            }
        }
        Ok(())
    }

    pub fn create_upload(&self, up: Upload) -> Result<(), OssError> {
        if let Some(d) = &up.dir {
            std::fs::create_dir_all(d).map_err(OssError::internal)?;
        }
        let mut inner = lock(&self.inner);
        if !inner.buckets.contains_key(&up.bucket) {
            return Err(OssError::no_such_bucket(&up.bucket));
        }
        inner.uploads.insert(up.id.clone(), up);
        Ok(())
    }

    pub fn upload_dir(&self, id: &str) -> Option<PathBuf> {
        self.root.as_ref().map(|r| r.join("uploads").join(id))
    }

    /// Checks that the upload exists for this bucket/key.
    pub fn check_upload(&self, bucket: &str, key: &str, id: &str) -> Result<(), OssError> {
        let inner = lock(&self.inner);
        match inner.uploads.get(id) {
            Some(u) if u.bucket == bucket && u.key == key => Ok(()),
            _ => Err(OssError::no_such_upload(id)),
        }
    }

    /// Records a part (its file already in place); the replaced part's file is removed.
    pub fn put_part(
        &self,
        bucket: &str,
        key: &str,
        id: &str,
        number: u32,
        part: Part,
    ) -> Result<(), OssError> {
        let old = {
            let mut inner = lock(&self.inner);
            match inner.uploads.get_mut(id) {
                Some(u) if u.bucket == bucket && u.key == key => u.parts.insert(number, part),
                _ => {
                    remove_quietly(&part.data);
                    return Err(OssError::no_such_upload(id));
                }
            }
        };
        if let Some(old) = old {
            remove_quietly(&old.data);
        }
        Ok(())
    }

    /// A snapshot of an upload.
    pub fn get_upload(&self, bucket: &str, key: &str, id: &str) -> Result<Upload, OssError> {
        let inner = lock(&self.inner);
        match inner.uploads.get(id) {
            Some(u) if u.bucket == bucket && u.key == key => Ok(u.clone()),
            _ => Err(OssError::no_such_upload(id)),
        }
    }

    /// Validates an upload under the lock with `check`, and on success removes it from
    /// the index (the caller then owns its part files).
    pub fn take_upload<T>(
        &self,
        bucket: &str,
        key: &str,
        id: &str,
        check: impl FnOnce(&Upload) -> Result<T, OssError>,
    ) -> Result<(Upload, T), OssError> {
        let mut inner = lock(&self.inner);
        let t = match inner.uploads.get(id) {
            Some(u) if u.bucket == bucket && u.key == key => check(u)?,
            _ => return Err(OssError::no_such_upload(id)),
        };
        let up = inner
            .uploads
            .remove(id)
            .ok_or_else(|| OssError::no_such_upload(id))?;
        Ok((up, t))
    }

    /// Deletes an upload's files.
    pub fn discard_upload(&self, up: &Upload) {
        for p in up.parts.values() {
            remove_quietly(&p.data);
        }
        if let Some(d) = &up.dir {
            let _ = std::fs::remove_dir_all(d);
        }
    }

    /// Uploads of a bucket sorted by (key, initiation, id).
    pub fn list_uploads(
        &self,
        bucket: &str,
    ) -> Result<Vec<(String, String, SystemTime)>, OssError> {
        let inner = lock(&self.inner);
        if !inner.buckets.contains_key(bucket) {
            return Err(OssError::no_such_bucket(bucket));
        }
        let mut v: Vec<(String, String, SystemTime)> = inner
            .uploads
            .values()
            .filter(|u| u.bucket == bucket)
            .map(|u| (u.key.clone(), u.id.clone(), u.initiated))
            .collect();
        v.sort_by(|a, b| a.0.cmp(&b.0).then(a.2.cmp(&b.2)).then(a.1.cmp(&b.1)));
        Ok(v)
    }

    /// Removes uploads matching the selector (both None = all); returns them.
    pub fn expire_uploads(&self, id: Option<&str>, key: Option<&str>) -> Vec<Upload> {
        let mut inner = lock(&self.inner);
        let ids: Vec<String> = inner
            .uploads
            .values()
            .filter(|u| id.is_none_or(|i| i == u.id) && key.is_none_or(|k| k == u.key))
            .map(|u| u.id.clone())
            .collect();
        ids.iter().filter_map(|i| inner.uploads.remove(i)).collect()
    }

    pub fn counts(&self) -> (usize, usize) {
        let inner = lock(&self.inner);
        (
            inner.buckets.values().map(|b| b.objects.len()).sum(),
            inner.uploads.len(),
        )
    }
}

fn file_exists(key: &str) -> OssError {
    OssError::new(
        409,
        "FileAlreadyExists",
        "The object you specified already exists and can not be overwritten.",
    )
    .with("Key", key)
}
