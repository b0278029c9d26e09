//! Output files that appear whole or not at all.
//!
//! Takes the path a user named for an output; gives the path to write it
//! at: a `.partial` file beside it, renamed over it once complete (and
//! removed on failure), or none when the path exists and is not a regular
//! file or a directory (`/dev/null`, a FIFO, a terminal): such a path is
//! written in place, since a rename would replace the device or pipe with
//! a plain file and a removal would delete it.

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
