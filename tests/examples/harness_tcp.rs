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

/// Bad --cpu and --warmup input, on every workload: exit status 2, one
/// message on stderr, nothing on stdout.
#[test]
fn bad_cpu_and_warmup_input_is_status_2_with_nothing_written() {
    let cases: [(&[&str], &str); 7] = [
        (
            &["--cpu", ""],
            "error: invalid value '' for '--cpu <LIST>': the CPU list is empty: want CPU numbers or ranges, like 0 or 0,1 or 0-1\n",
        ),
        (
            &["--cpu", "a"],
            "error: invalid value 'a' for '--cpu <LIST>': `a` is not a CPU number: want a list like 0 or 0,1 or 0-1\n",
        ),
        (
            &["--cpu", "5-2"],
            "error: invalid value '5-2' for '--cpu <LIST>': `5-2` is not a range: 5 is above 2\n",
        ),
        (
            &["--cpu", "0,1023"],
            "error: --cpu 1023: this machine has no CPU 1023 the harness may run on (it may run on ",
        ),
        (
            &["--cpu", "4096"],
            "error: invalid value '4096' for '--cpu <LIST>': CPU 4096 is out of range: a CPU set holds CPUs 0 to 1023\n",
        ),
        (
            &["--warmup", "-0.5"],
            "error: invalid value '-0.5' for '--warmup <SECONDS>': the warm-up must be 0 seconds or more\n",
        ),
        (
            &["-w", "tcp-echo", "-n", "10", "--warmup", "1"],
            "error: --warmup with tcp-echo needs --duration: the warm-up is time, and --ops would count requests sent in it\n",
        ),
    ];
    for (args, message) in cases {
        let out = Command::new(support::server_binary("harness"))
            .args(args)
            .stdin(Stdio::null())
            .output()
            .expect("running the harness");
        let err = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{args:?}: {err}");
        assert!(out.stdout.is_empty(), "{args:?}: nothing on stdout");
        assert!(err.starts_with(message), "{args:?}: {err}");
        assert_eq!(err.matches("error:").count(), 1, "{args:?}: {err}");
    }
}

/// A tcp-echo run with a warm-up and a pinned client: the JSON says how
/// long the warm-up was, what it left out, and where the client ran.
#[test]
fn a_warmed_up_pinned_tcp_run_says_so() {
    let out = Command::new(support::server_binary("harness"))
        .args(["-w", "tcp-echo", "-c", "4", "-t", "0.2", "--warmup", "0.1"])
        .args(["--cpu", "0", "-r", "2000", "--json"])
        .stdin(Stdio::null())
        .output()
        .expect("running the harness");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{:?}: {stderr}", out.status);
    let json: serde_json::Value = serde_json::from_slice(&out.stdout).expect("JSON on stdout");
    assert_eq!(json["warmup_seconds"], 0.1);
    assert_eq!(json["cpus"], serde_json::json!([0]));
    assert_eq!(json["latency_from"], "scheduled start");
    let run = &json["runs"][0];
    let (ops, warm) = (run["ops"].as_u64(), run["warmup_ops"].as_u64());
    // About 200 requests in the warm-up, 400 after it.
    assert!(warm.is_some_and(|n| (100..=260).contains(&n)), "{json}");
    assert!(ops.is_some_and(|n| (300..=460).contains(&n)), "{json}");
    let seconds = run["seconds"].as_f64().expect("seconds");
    assert!(
        (0.19..0.35).contains(&seconds),
        "the warm-up is not timed: {json}"
    );
}
