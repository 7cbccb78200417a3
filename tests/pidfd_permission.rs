//! `PidFd` permission denials, exercised even though the tests run as root.
//!
//! The parent re-executes this binary as user and group 65534 (`nobody`);
//! the child opens a pidfd for the root parent (which needs no privilege),
//! then checks that copying a descriptor out of it (ptrace access) and
//! signalling it are both refused with `Error::Permission`. The child
//! exits 0 when they are, non-zero with a message otherwise.

use std::os::unix::process::CommandExt;
use std::process::{Command, ExitCode};

use iofd::sys::process::getuid;
use iofd::{Error, PidFd, Signal};

/// Set in the child's environment to the parent's pid, with the check to
/// run after a colon.
const ROLE_VAR: &str = "IOFD_PIDFD_PERMISSION_CHILD";
const NOBODY: u32 = 65534;

/// One check, run in the unprivileged child against the root `parent`.
fn child_check(name: &str, parent: u32) -> Result<(), String> {
    if getuid() != NOBODY {
        return Err(format!("child runs as uid {}, not {NOBODY}", getuid()));
    }
    let p = PidFd::open(parent).map_err(|e| format!("open({parent}): {e:?}"))?;
    let got = match name {
        // ptrace access to a root process is denied.
        "get_fd" => p.get_fd(0).map(drop),
        // SIGURG is ignored by default, so a wrongly allowed signal is
        // harmless to the parent.
        "send_signal" => p.send_signal(Signal::URG),
        other => return Err(format!("unknown check {other}")),
    };
    match got {
        Err(Error::Permission) => Ok(()),
        other => Err(format!("{name}: expected Err(Permission), got {other:?}")),
    }
}

/// Runs `name` in a child dropped to `nobody`; `Err` with its output if it
/// failed.
fn run_in_child(name: &str) -> Result<(), String> {
    let exe = std::env::current_exe().map_err(|e| format!("current_exe: {e}"))?;
    // `uid` makes std call `setgroups(0)` too when dropping from root.
    let out = Command::new(exe)
        .env(ROLE_VAR, format!("{}:{name}", std::process::id()))
        .gid(NOBODY)
        .uid(NOBODY)
        .output()
        .map_err(|e| format!("spawn: {e}"))?;
    if out.status.success() {
        Ok(())
    } else {
        Err(format!(
            "child {}: {}{}",
            out.status,
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        ))
    }
}

fn main() -> ExitCode {
    if let Ok(role) = std::env::var(ROLE_VAR) {
        let result = role
            .split_once(':')
            .and_then(|(pid, name)| Some((pid.parse::<u32>().ok()?, name)))
            .ok_or_else(|| format!("bad {ROLE_VAR}: {role}"))
            .and_then(|(pid, name)| child_check(name, pid));
        return match result {
            Ok(()) => ExitCode::SUCCESS,
            Err(msg) => {
                eprintln!("{msg}");
                ExitCode::FAILURE
            }
        };
    }

    let checks = ["get_fd", "send_signal"];
    if getuid() != 0 {
        println!(
            "skipped: not root (uid {}), so no child can drop to an unprivileged uid",
            getuid()
        );
        println!("0 passed, 0 failed");
        return ExitCode::SUCCESS;
    }
    let mut failed = 0;
    for name in checks {
        match run_in_child(name) {
            Ok(()) => println!("test {name}_is_denied_to_an_unprivileged_process ... ok"),
            Err(msg) => {
                failed += 1;
                println!("test {name}_is_denied_to_an_unprivileged_process ... FAILED\n{msg}");
            }
        }
    }
    println!("{} passed, {failed} failed", checks.len() - failed);
    if failed == 0 {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    }
}
