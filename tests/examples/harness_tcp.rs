//! The benchmark harness's tcp-echo workload (`examples/harness`), run as
//! a user runs it: built with cargo, its exit status and what it prints
//! for a short run and for input it refuses.

use std::net::TcpListener;
use std::process::{Command, Stdio};

use crate::support;

/// Runs the harness with `args`, which it should refuse: its exit status
/// and stderr.
fn refused(args: &[&str]) -> (Option<i32>, String) {
    support::refused("harness", args)
}

#[test]
fn a_short_run_against_the_in_process_server_prints_json() {
    let out = Command::new(support::server_binary("harness"))
        .args(["-w", "tcp-echo", "-c", "4", "-t", "0.2", "--json"])
        .stdin(Stdio::null())
        .output()
        .expect("running the harness");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{:?}: {stderr}", out.status);
    assert!(stderr.is_empty(), "nothing on stderr: {stderr}");
    // Only the report on stdout: the server prints nothing there.
    let json: serde_json::Value = serde_json::from_slice(&out.stdout).expect("JSON on stdout");
    let ops = json["runs"][0]["ops"].as_u64().expect("requests");
    assert!(ops > 0, "{json}");
    assert_eq!(json["runs"][0]["errors"], 0);
    assert_eq!(json["tcp"]["echoed_bytes"].as_u64(), Some(ops * 64));
    assert_eq!(json["tcp"]["server"], "in-process echo_server");
}

#[test]
fn bad_input_is_refused_with_one_message_and_status_2() {
    let cases: [(&[&str], &str); 5] = [
        (
            &["--connections", "0"],
            "error: invalid value '0' for '--connections <N>': 0 is not in 1..=65536\n",
        ),
        (
            &["--size", "0"],
            "error: invalid value '0' for '--size <BYTES>': 0 is not in 1..=1048576\n",
        ),
        (
            &["--target", "nowhere:echo"],
            "error: invalid value 'nowhere:echo' for '--target <ADDR>': `nowhere:echo` is not an address: want IP:PORT, like 127.0.0.1:7878\n",
        ),
        (
            &["--baseline"],
            "error: --baseline does not apply to tcp-echo: there is no one-syscall-per-operation run of it to compare with\n",
        ),
        (
            &["--reaper", "thread"],
            "error: --reaper thread cannot run tcp-echo: its event loop runs on one thread\n",
        ),
    ];
    for (args, message) in cases {
        let mut argv = vec!["-w", "tcp-echo"];
        argv.extend_from_slice(args);
        let (code, err) = refused(&argv);
        assert_eq!(code, Some(2), "{args:?}: {err}");
        // Clap follows its one-line message with a pointer to --help.
        assert!(err.starts_with(message), "{args:?}: {err}");
    }
}

#[test]
fn a_target_that_refuses_the_connection_is_status_2() {
    // A port that was just free: nothing listens there.
    let port = TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("a port")
        .port();
    let target = format!("127.0.0.1:{port}");
    let (code, err) = refused(&["-w", "tcp-echo", "--target", &target, "-t", "0.2"]);
    assert_eq!(code, Some(2), "{err}");
    assert_eq!(
        err,
        format!(
            "error: cannot connect to {target}: connection refused (is an echo server listening there?)\n"
        )
    );
}

/// The memfd workload through both reapers, as a user runs it: the inline
/// reaper reports its queue held within a batch of `--depth`, and the
/// threaded reaper (refused for memfd and mix before their buffers were
/// owned by their operations) runs them too.
#[test]
fn memfd_keeps_its_queue_full_and_runs_on_both_reapers() {
    let run = |args: &[&str]| {
        let out = Command::new(support::server_binary("harness"))
            .args(args)
            .arg("--json")
            .stdin(Stdio::null())
            .output()
            .expect("running the harness");
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(out.status.success(), "{args:?}: {:?}: {stderr}", out.status);
        serde_json::from_slice::<serde_json::Value>(&out.stdout).expect("JSON on stdout")
    };
    let json = run(&["-w", "memfd", "-d", "32", "-b", "8", "-n", "20000"]);
    let ring = &json["runs"][0];
    assert_eq!(
        (ring["ops"].as_u64(), ring["errors"].as_u64()),
        (Some(20_000), Some(0))
    );
    let min = ring["queue"]["min"].as_u64().expect("the queue sampled");
    assert!((25..=32).contains(&min), "{json}");
    for w in ["memfd", "mix"] {
        let json = run(&["-w", w, "--reaper", "thread", "-n", "5000"]);
        assert_eq!(json["runs"][0]["ops"], 5000, "{json}");
        assert_eq!(json["runs"][0]["errors"], 0, "{json}");
    }
}
