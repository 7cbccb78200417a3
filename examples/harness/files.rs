//! Files the harness writes (`--plot`, `--hlog`, `--save`): checked before
//! the run, so that a path that cannot be written costs no run, and
//! written whole or not at all (a temporary file beside the target,
//! renamed over it).

use std::fs::{self, OpenOptions};
use std::io::Write;
use std::path::{Path, PathBuf};

/// The temporary file beside `path`.
fn temporary(path: &Path) -> PathBuf {
    let mut name = path.file_name().unwrap_or_default().to_os_string();
    name.push(format!(".tmp{}", std::process::id()));
    path.with_file_name(name)
}

/// Whether `path` (named by `flag` in messages) can be written: its
/// directory exists and takes a new file, and it is not a directory.
/// Creates and removes the temporary file to be sure.
pub fn check_writable(flag: &str, path: &Path) -> Result<(), String> {
    let shown = path.display();
    if path.is_dir() {
        return Err(format!("{flag} {shown} is a directory: give a file name"));
    }
    if path.file_name().is_none() {
        return Err(format!("{flag} {shown}: not a file name"));
    }
    let tmp = temporary(path);
    match OpenOptions::new().write(true).create_new(true).open(&tmp) {
        Ok(_) => {
            let _ = fs::remove_file(&tmp);
            Ok(())
        }
        Err(e) => Err(format!("{flag} {shown} cannot be written: {e}")),
    }
}

/// Writes `bytes` to `path` through a temporary file renamed over it.
pub fn write_whole(flag: &str, path: &Path, bytes: &[u8]) -> Result<(), String> {
    let tmp = temporary(path);
    let written = (|| {
        let mut f = OpenOptions::new().write(true).create_new(true).open(&tmp)?;
        f.write_all(bytes)?;
        f.sync_all()?;
        fs::rename(&tmp, path)
    })();
    written.map_err(|e| {
        let _ = fs::remove_file(&tmp);
        format!("{flag} {}: cannot be written: {e}", path.display())
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_file_is_written_whole_and_a_bad_path_refused() {
        let dir = std::env::temp_dir().join(format!("iofd-files-{}", std::process::id()));
        fs::create_dir_all(&dir).expect("dir");
        let good = dir.join("out.svg");
        check_writable("--plot", &good).expect("writable");
        assert!(!good.exists(), "the check leaves nothing behind");
        write_whole("--plot", &good, b"<svg/>").expect("write");
        assert_eq!(fs::read(&good).expect("read"), b"<svg/>");
        assert_eq!(
            fs::read_dir(&dir).expect("list").count(),
            1,
            "no temporary left"
        );
        let missing = dir.join("no/such/dir.svg");
        let e = check_writable("--plot", &missing).expect_err("missing dir");
        assert!(
            e.starts_with("--plot ") && e.contains("cannot be written"),
            "{e}"
        );
        let e = check_writable("--plot", &dir).expect_err("a directory");
        assert!(e.ends_with("is a directory: give a file name"), "{e}");
        let e = check_writable("--plot", Path::new("/")).expect_err("the root");
        assert!(e.ends_with("is a directory: give a file name"), "{e}");
        let e = check_writable("--plot", Path::new("..")).expect_err("no name");
        assert!(
            e.contains("is a directory") || e.contains("not a file name"),
            "{e}"
        );
        fs::remove_dir_all(&dir).expect("clean up");
    }
}
