//! The benchmark harness's files (`--plot`, `--hlog`, `--save`,
//! `--compare`, `--runs`), run as a user runs it: what it writes, and the
//! input it refuses with exit status 2 before running, leaving nothing
//! written.

use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

use crate::support;

/// A fresh, empty directory for one test.
fn scratch(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("iofd-hfiles-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).expect("scratch dir");
    dir
}

fn harness(args: &[&str]) -> Output {
    Command::new(support::server_binary("harness"))
        .args(args)
        .stdin(Stdio::null())
        .output()
        .expect("running the harness")
}

/// The names in `dir`, sorted.
fn names(dir: &Path) -> Vec<String> {
    let mut v: Vec<String> = std::fs::read_dir(dir)
        .expect("list")
        .map(|e| e.expect("entry").file_name().to_string_lossy().into_owned())
        .collect();
    v.sort();
    v
}

#[test]
fn a_run_writes_its_plot_log_and_saved_run_then_compares() {
    let dir = scratch("write");
    let d = dir.to_str().expect("utf-8 path");
    let plot = format!("{d}/run.svg");
    let hlog = format!("{d}/run.hlog");
    let out = harness(&[
        "-n",
        "2000",
        "-d",
        "16",
        "-b",
        "4",
        "--baseline",
        "--runs",
        "2",
        "--plot",
        &plot,
        "--hlog",
        &hlog,
        "--save",
        "first",
        "--save-dir",
        d,
    ]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{:?}: {stderr}", out.status);
    assert!(
        stderr.ends_with(&format!("saved run `first` to {d}/first.json\n")),
        "{stderr}"
    );
    let table = String::from_utf8_lossy(&out.stdout);
    assert!(table.contains("ring over 2 runs: ops/s median"), "{table}");
    assert_eq!(names(&dir), ["first.json", "run.hlog", "run.svg"]);
    let svg = std::fs::read_to_string(&plot).expect("svg");
    assert!(svg.starts_with("<svg") && svg.contains(">\nbaseline\n</text>"));
    // Titled with what tells two runs apart.
    assert!(
        svg.contains("nop, depth 16, batch 4: latency by percentile"),
        "{svg}"
    );
    let log = std::fs::read_to_string(&hlog).expect("hlog");
    assert!(
        log.contains("\nTag=ring,") && log.contains("\nTag=baseline,"),
        "{log}"
    );

    let out = harness(&[
        "-n",
        "2000",
        "-d",
        "16",
        "-b",
        "4",
        "--json",
        "--compare",
        "first",
        "--save-dir",
        d,
    ]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let json: serde_json::Value = serde_json::from_slice(&out.stdout).expect("JSON");
    let c = &json["comparison"];
    assert_eq!(c["name"], "first");
    assert_eq!(c["figures"][0]["path"], "ring");
    assert_eq!(c["figures"][0]["figure"], "ops/s");
    // The saved run had --runs 2: its spread decides.
    let verdict = c["figures"][0]["verdict"].as_str().expect("verdict");
    assert!(verdict.ends_with("the spread"), "{verdict}");
    std::fs::remove_dir_all(&dir).expect("clean up");
}

#[test]
fn bad_files_are_refused_before_the_run_with_status_2() {
    let dir = scratch("refuse");
    let d = dir.to_str().expect("utf-8 path");
    // A nop run of the same directory, to compare a memfd run with.
    assert!(
        harness(&["-n", "100", "--save", "nops", "--save-dir", d])
            .status
            .success()
    );
    let missing_dir = format!("{d}/no/such/dir/plot.svg");
    // A directory where the plot would go.
    let a_dir = format!("{d}/taken.svg");
    std::fs::create_dir(&a_dir).expect("a directory");
    let cases: [(Vec<&str>, String); 5] = [
        (
            vec!["--plot", &missing_dir],
            format!("error: --plot {missing_dir} cannot be written: No such file or directory (os error 2)\n"),
        ),
        (
            vec!["--plot", &a_dir],
            format!("error: --plot {a_dir} is a directory: give a file name\n"),
        ),
        (
            vec!["--save", "new", "--compare", "absent"],
            format!("error: --compare absent: no saved run {d}/absent.json (No such file or directory (os error 2)); save one with --save absent\n"),
        ),
        (
            vec!["-w", "memfd", "--save", "new", "--compare", "nops"],
            "error: --compare nops: that run is of the nop workload, this one of memfd: compare runs of the same workload\n".into(),
        ),
        (
            vec!["--runs", "0"],
            "error: invalid value '0' for '--runs <K>': 0 is not in 1..=1000\n".into(),
        ),
    ];
    // A --compare that fails creates no --save-dir either.
    let fresh = format!("{d}/fresh");
    let (code, err) = support::refused(
        "harness",
        &["--save", "x", "--compare", "x", "--save-dir", &fresh],
    );
    assert_eq!(code, Some(2), "{err}");
    assert!(!Path::new(&fresh).exists(), "{err}");
    for (args, message) in cases {
        let mut argv = vec!["-t", "30", "--save-dir", d];
        argv.extend_from_slice(&args);
        let (code, err) = support::refused("harness", &argv);
        assert_eq!(code, Some(2), "{args:?}: {err}");
        assert!(err.starts_with(&message), "{args:?}: {err}");
        assert_eq!(
            names(&dir),
            ["nops.json", "taken.svg"],
            "{args:?} wrote nothing"
        );
        assert!(
            names(Path::new(&a_dir)).is_empty(),
            "{args:?} wrote nothing"
        );
    }
    std::fs::remove_dir_all(&dir).expect("clean up");
}
