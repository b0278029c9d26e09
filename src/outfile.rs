//! Output files that appear whole or not at all.
//!
//! Takes the path a user named for an output; gives the path to write it
//! at: a `.partial` file beside it, which takes its name once complete
//! ([`publish`]; removed on failure), or none when the path exists and is
//! not a regular file or a directory (`/dev/null`, a FIFO, a terminal):
//! such a path is written in place, since a rename would replace the
//! device or pipe with a plain file and a removal would delete it.

use std::path::{Path, PathBuf};

/// The temporary path to write `dest` through, or `None` to write `dest`
/// itself.
pub(crate) fn partial_path(dest: &Path) -> Option<PathBuf> {
    if std::fs::metadata(dest).is_ok_and(|m| !m.is_file() && !m.is_dir()) {
        return None;
    }
    let mut name = dest.as_os_str().to_owned();
    name.push(".partial");
    Some(PathBuf::from(name))
}

/// Open the file to write: create (truncate) it, or, `in_place` (the path
/// [`partial_path`] left as it is), open the device or pipe for writing.
pub(crate) fn create(path: &Path, in_place: bool) -> std::io::Result<std::fs::File> {
    if in_place {
        std::fs::OpenOptions::new().write(true).open(path)
    } else {
        std::fs::File::create(path)
    }
}

/// Give the complete temporary file `tmp` the name `dest`: remove an
/// earlier `dest` (a regular file), then rename. A reader sees the old
/// file, no file for an instant, or the new file; never part of one.
///
/// Why not rename over it: ext4 (`auto_da_alloc`) starts writeback of the
/// whole new file when a rename replaces an existing one, and frees the old
/// file's cached pages there too; with a 70 MB flows CSV that rename took
/// 30-39 ms, the last serial step of a run (a tenth of it on the bench
/// capture). Removing first and renaming to a free name took 6-17 ms.
pub(crate) fn publish(tmp: &Path, dest: &Path) -> std::io::Result<()> {
    // A temporary that is not there fails here, with the earlier output
    // still in place.
    std::fs::symlink_metadata(tmp)?;
    if std::fs::symlink_metadata(dest).is_ok_and(|m| m.is_file())
        && let Err(e) = std::fs::remove_file(dest)
        && e.kind() != std::io::ErrorKind::NotFound
    {
        return Err(e);
    }
    std::fs::rename(tmp, dest)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// `out.csv` in `dir` and its temporary, holding `text`.
    fn staged(dir: &Path, text: &[u8]) -> (PathBuf, PathBuf) {
        let dest = dir.join("out.csv");
        let tmp = partial_path(&dest).unwrap();
        std::fs::write(&tmp, text).unwrap();
        (dest, tmp)
    }

    #[test]
    fn publish_replaces_an_earlier_output_and_leaves_no_temporary() {
        let dir = tempfile::tempdir().unwrap();
        let (dest, tmp) = staged(dir.path(), b"first");
        publish(&tmp, &dest).unwrap();
        assert_eq!(std::fs::read(&dest).unwrap(), b"first");
        std::fs::write(&tmp, b"second, longer").unwrap();
        publish(&tmp, &dest).unwrap();
        assert_eq!(std::fs::read(&dest).unwrap(), b"second, longer");
        assert!(!tmp.exists());
    }

    #[cfg(unix)]
    #[test]
    fn publish_replaces_a_symlink_not_its_target() {
        // As a rename over it would: the link goes, what it pointed to stays.
        let dir = tempfile::tempdir().unwrap();
        let target = dir.path().join("target.csv");
        std::fs::write(&target, b"kept").unwrap();
        let (dest, tmp) = staged(dir.path(), b"new");
        std::os::unix::fs::symlink(&target, &dest).unwrap();
        publish(&tmp, &dest).unwrap();
        assert_eq!(std::fs::read(&dest).unwrap(), b"new");
        assert_eq!(std::fs::read(&target).unwrap(), b"kept");
    }

    #[test]
    fn publish_of_a_missing_temporary_fails_and_keeps_the_earlier_output() {
        let dir = tempfile::tempdir().unwrap();
        let dest = dir.path().join("out.csv");
        std::fs::write(&dest, b"earlier").unwrap();
        let tmp = dir.path().join("missing.partial");
        assert!(publish(&tmp, &dest).is_err());
        assert_eq!(std::fs::read(&dest).unwrap(), b"earlier");
    }
}
