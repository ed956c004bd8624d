//! The files keepalived writes on a signal: `/tmp/keepalived.data` on SIGUSR1 (see [`crate::data::render`]),
//! `/tmp/keepalived.stats` on SIGUSR2 (see [`crate::stats::render`]) and `/tmp/keepalived.json` on the JSON signal
//! (see [`crate::json::render`]).
//!
//! keepalived 2.2.7 always writes to `/tmp` (its `instance` and `net_namespace` names do not change the file
//! name). Several `fulcrum keepalived` on one host (network namespaces share `/tmp`) would overwrite each other's
//! file, so the directory can be changed with `FULCRUM_KEEPALIVED_DUMP_DIR` (fulcrum only; keepalived has no such
//! setting).
//!
//! The file is written as keepalived writes it, mode 0600, but never through a link an attacker placed in `/tmp`:
//! the text goes to a new file created with `O_EXCL | O_NOFOLLOW` beside it, which is then renamed over the name
//! (rename replaces a link, it does not follow it), so a reader sees the old file or the new one, never half.

use std::io::{self, Write};
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};

/// The environment variable naming the directory of the dump files (default `/tmp`).
pub const DUMP_DIR_ENV: &str = "FULCRUM_KEEPALIVED_DUMP_DIR";
/// The statistics file's name, as keepalived's.
pub const STATS_FILE: &str = "keepalived.stats";
/// The data file's name, as keepalived's.
pub const DATA_FILE: &str = "keepalived.data";

fn dump_dir() -> PathBuf {
    std::env::var_os(DUMP_DIR_ENV)
        .filter(|d| !d.is_empty())
        .map_or_else(|| PathBuf::from("/tmp"), PathBuf::from)
}

/// The JSON dump's name, as keepalived's.
pub const JSON_FILE: &str = "keepalived.json";

/// Where the JSON dump goes: `$FULCRUM_KEEPALIVED_DUMP_DIR/keepalived.json`, or `/tmp/keepalived.json`.
pub fn json_path() -> PathBuf {
    dump_dir().join(JSON_FILE)
}

/// Where the statistics file goes: `$FULCRUM_KEEPALIVED_DUMP_DIR/keepalived.stats`, or `/tmp/keepalived.stats`.
pub fn stats_path() -> PathBuf {
    dump_dir().join(STATS_FILE)
}

/// Where the data dump goes: `$FULCRUM_KEEPALIVED_DUMP_DIR/keepalived.data`, or `/tmp/keepalived.data`.
pub fn data_path() -> PathBuf {
    dump_dir().join(DATA_FILE)
}

/// Replaces `path` with `text` (mode 0600) in one rename.
pub fn write_replacing(path: &Path, text: &str) -> io::Result<()> {
    let name = path
        .file_name()
        .ok_or_else(|| io::Error::new(io::ErrorKind::InvalidInput, "no file name"))?;
    let mut tmp_name = std::ffi::OsString::from(".");
    tmp_name.push(name);
    tmp_name.push(format!(".{}.tmp", std::process::id()));
    let tmp = path.with_file_name(tmp_name);
    let open = || {
        std::fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(0o600)
            .custom_flags(libc::O_NOFOLLOW)
            .open(&tmp)
    };
    let mut f = match open() {
        Err(e) if e.kind() == io::ErrorKind::AlreadyExists => {
            // Left by an earlier run of this PID; removing a link removes the link only.
            std::fs::remove_file(&tmp)?;
            open()?
        }
        r => r?,
    };
    let written = f.write_all(text.as_bytes()).and_then(|()| f.flush());
    drop(f);
    if let Err(e) = written.and_then(|()| std::fs::rename(&tmp, path)) {
        let _ = std::fs::remove_file(&tmp);
        return Err(e);
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::PermissionsExt;

    #[test]
    fn replaces_the_file_and_a_link_without_following_it() {
        let dir = std::env::temp_dir().join(format!("fulcrum-dump-test-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let target = dir.join("victim");
        std::fs::write(&target, "keep me").unwrap();
        let path = dir.join(STATS_FILE);
        std::os::unix::fs::symlink(&target, &path).unwrap();
        write_replacing(&path, "one\n").unwrap();
        assert_eq!(std::fs::read_to_string(&target).unwrap(), "keep me");
        assert_eq!(std::fs::read_to_string(&path).unwrap(), "one\n");
        assert!(!std::fs::symlink_metadata(&path)
            .unwrap()
            .file_type()
            .is_symlink());
        write_replacing(&path, "two\n").unwrap();
        assert_eq!(std::fs::read_to_string(&path).unwrap(), "two\n");
        let mode = std::fs::metadata(&path).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o600);
        // Nothing left beside it but the file and the untouched target.
        assert_eq!(std::fs::read_dir(&dir).unwrap().count(), 2);
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
