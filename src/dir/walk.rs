//! A lazy walk of a folder tree: one open directory per level, never the list of all files, so memory does
//! not grow with the number of files. Symlinks are skipped (and counted) unless followed; a followed link
//! to a folder already on the current path (a loop) is skipped.

use std::fs::{self, Metadata, ReadDir};
use std::path::{Path, PathBuf};

use super::glob::Glob;

/// A regular file to upload.
#[derive(Debug, Clone)]
pub struct FileEntry {
    pub path: PathBuf,
    /// Relative to the root, with `/` separators.
    pub rel: String,
    pub size: u64,
}

/// What the walk yields besides files.
#[derive(Debug)]
pub enum Item {
    File(FileEntry),
    /// A symlink that was not followed.
    SkippedSymlink(String),
    /// A path that could not be read (listed as a failure).
    Unreadable {
        rel: String,
        reason: String,
    },
}

pub struct Filters {
    pub include: Vec<Glob>,
    pub exclude: Vec<Glob>,
    pub follow_symlinks: bool,
}

impl Filters {
    pub fn wanted(&self, rel: &str) -> bool {
        (self.include.is_empty() || self.include.iter().any(|g| g.matches(rel)))
            && !self.exclude.iter().any(|g| g.matches(rel))
    }
}

/// What identifies a folder, to detect symlink loops: (device, inode) on Unix, the canonical path elsewhere.
#[cfg(unix)]
type DirId = (u64, u64);
#[cfg(not(unix))]
type DirId = PathBuf;

#[cfg(unix)]
fn dir_id(meta: &Metadata, _path: &Path) -> DirId {
    use std::os::unix::fs::MetadataExt;
    (meta.dev(), meta.ino())
}

#[cfg(not(unix))]
fn dir_id(_meta: &Metadata, path: &Path) -> DirId {
    fs::canonicalize(path).unwrap_or_else(|_| path.to_path_buf())
}

struct Level {
    rel: String,
    entries: ReadDir,
    id: DirId,
}

pub struct Walker<'a> {
    filters: &'a Filters,
    stack: Vec<Level>,
}

impl<'a> Walker<'a> {
    pub fn new(root: &Path, filters: &'a Filters) -> std::io::Result<Walker<'a>> {
        let meta = fs::metadata(root)?;
        if !meta.is_dir() {
            return Err(std::io::Error::new(
                std::io::ErrorKind::NotADirectory,
                format!("{} is not a folder", root.display()),
            ));
        }
        let entries = fs::read_dir(root)?;
        Ok(Walker {
            filters,
            stack: vec![Level {
                rel: String::new(),
                entries,
                id: dir_id(&meta, root),
            }],
        })
    }

    fn on_path(&self, id: &DirId) -> bool {
        self.stack.iter().any(|l| &l.id == id)
    }
}

impl Iterator for Walker<'_> {
    type Item = Item;

    fn next(&mut self) -> Option<Item> {
        loop {
            let level = self.stack.last_mut()?;
            let Some(entry) = level.entries.next() else {
                self.stack.pop();
                continue;
            };
            let parent = level.rel.clone();
            let entry = match entry {
                Ok(e) => e,
                Err(e) => {
                    return Some(Item::Unreadable {
                        rel: parent,
                        reason: e.to_string(),
                    })
                }
            };
            let name = entry.file_name().to_string_lossy().into_owned();
            let rel = if parent.is_empty() {
                name
            } else {
                format!("{parent}/{name}")
            };
            let path = entry.path();
            let link = match fs::symlink_metadata(&path) {
                Ok(m) => m,
                Err(e) => {
                    return Some(Item::Unreadable {
                        rel,
                        reason: e.to_string(),
                    })
                }
            };
            let meta = if link.file_type().is_symlink() {
                if !self.filters.follow_symlinks {
                    if self.filters.wanted(&rel) {
                        return Some(Item::SkippedSymlink(rel));
                    }
                    continue;
                }
                match fs::metadata(&path) {
                    Ok(m) => m,
                    Err(e) => {
                        return Some(Item::Unreadable {
                            rel,
                            reason: format!("broken symlink: {e}"),
                        })
                    }
                }
            } else {
                link
            };
            if meta.is_dir() {
                let id = dir_id(&meta, &path);
                if self.on_path(&id) {
                    // A symlink back up the tree: following it would never end.
                    continue;
                }
                match fs::read_dir(&path) {
                    Ok(entries) => self.stack.push(Level { rel, entries, id }),
                    Err(e) => {
                        return Some(Item::Unreadable {
                            rel,
                            reason: e.to_string(),
                        })
                    }
                }
                continue;
            }
            if !meta.is_file() || !self.filters.wanted(&rel) {
                continue;
            }
            return Some(Item::File(FileEntry {
                path,
                rel,
                size: meta.len(),
            }));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[cfg(unix)]
    #[test]
    fn walks_nested_folders_filters_and_skips_links() {
        let root = std::env::temp_dir().join(format!("oss-turbo-walk-{}", std::process::id()));
        let _ = fs::remove_dir_all(&root);
        fs::create_dir_all(root.join("a/b")).expect("mkdir");
        fs::write(root.join("top.txt"), b"1").expect("write");
        fs::write(root.join("a/x.log"), b"22").expect("write");
        fs::write(root.join("a/b/deep.txt"), b"333").expect("write");
        std::os::unix::fs::symlink(root.join("top.txt"), root.join("link.txt")).expect("symlink");
        std::os::unix::fs::symlink(&root, root.join("a/loop")).expect("symlink");

        let filters = Filters {
            include: vec![],
            exclude: vec![Glob::new("*.log").expect("glob")],
            follow_symlinks: false,
        };
        let mut files = Vec::new();
        let mut links = Vec::new();
        for item in Walker::new(&root, &filters).expect("walker") {
            match item {
                Item::File(f) => files.push((f.rel, f.size)),
                Item::SkippedSymlink(r) => links.push(r),
                Item::Unreadable { rel, reason } => panic!("{rel}: {reason}"),
            }
        }
        files.sort();
        links.sort();
        assert_eq!(
            files,
            vec![("a/b/deep.txt".to_string(), 3), ("top.txt".to_string(), 1)]
        );
        assert_eq!(links, vec!["a/loop".to_string(), "link.txt".to_string()]);

        let follow = Filters {
            include: vec![Glob::new("*.txt").expect("glob")],
            exclude: vec![],
            follow_symlinks: true,
        };
        let mut followed: Vec<String> = Walker::new(&root, &follow)
            .expect("walker")
            .filter_map(|i| match i {
                Item::File(f) => Some(f.rel),
                _ => None,
            })
            .collect();
        followed.sort();
        // The loop back to the root is not followed; the file link is.
        assert_eq!(followed, vec!["a/b/deep.txt", "link.txt", "top.txt"]);
        let _ = fs::remove_dir_all(&root);
    }
}
