//! `--cpu LIST`: which CPUs the harness's threads run on, pinned through
//! iofd's `sched_setaffinity` wrapper.
//!
//! The submitting thread (the one that pushes operations, and reaps them
//! with `--reaper inline`) runs on the list's first CPU; the reaping thread
//! of `--reaper thread` on its second, or on the first when the list has
//! one. Other threads (the progress line, the in-process echo server) are
//! not pinned.

use iofd::sys::process::{CpuSet, sched_getaffinity, sched_setaffinity};

/// A parsed `--cpu` list (a type of its own: clap takes a bare `Vec` for
/// an option given many times).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CpuList(pub Vec<usize>);

/// [`parse_cpus`] for clap.
pub fn parse_cpu_list(s: &str) -> Result<CpuList, String> {
    parse_cpus(s).map(CpuList)
}

/// Parses a CPU list: numbers and inclusive ranges separated by commas,
/// like `0`, `0,1`, `0-3,6`; each CPU once, in the order given.
pub fn parse_cpus(s: &str) -> Result<Vec<usize>, String> {
    if s.trim().is_empty() {
        return Err(
            "the CPU list is empty: want CPU numbers or ranges, like 0 or 0,1 or 0-1".into(),
        );
    }
    let cpu = |t: &str| -> Result<usize, String> {
        t.trim()
            .parse()
            .map_err(|_| format!("`{t}` is not a CPU number: want a list like 0 or 0,1 or 0-1"))
    };
    let mut cpus = Vec::new();
    for part in s.split(',') {
        let (lo, hi) = match part.split_once('-') {
            Some((lo, hi)) => (cpu(lo)?, cpu(hi)?),
            None => (cpu(part)?, cpu(part)?),
        };
        if lo > hi {
            return Err(format!("`{part}` is not a range: {lo} is above {hi}"));
        }
        for c in lo..=hi {
            // A set holds CPUs up to 1023: refuse larger numbers before a
            // range like 0-18446744073709551615 runs for ever.
            CpuSet::new().insert(c).map_err(|e| e.to_string())?;
            if cpus.contains(&c) {
                return Err(format!("CPU {c} is listed twice"));
            }
            cpus.push(c);
        }
    }
    Ok(cpus)
}

/// Checks that the harness may run on each CPU of `cpus`: that the machine
/// has it and this process's affinity allows it.
pub fn check_cpus(cpus: &[usize]) -> Result<(), String> {
    if cpus.is_empty() {
        return Ok(());
    }
    let allowed = sched_getaffinity(0).map_err(|e| format!("sched_getaffinity: {e}"))?;
    for &c in cpus {
        if !allowed.contains(c) {
            return Err(format!(
                "--cpu {c}: this machine has no CPU {c} the harness may run on (it may run on {})",
                ranges(&allowed)
            ));
        }
    }
    Ok(())
}

/// A set as a CPU list: `0-3,6`.
fn ranges(set: &CpuSet) -> String {
    let mut out: Vec<String> = Vec::new();
    let mut cpus = set.iter().peekable();
    while let Some(lo) = cpus.next() {
        let mut hi = lo;
        while cpus.next_if_eq(&(hi + 1)).is_some() {
            hi += 1;
        }
        out.push(if hi == lo {
            lo.to_string()
        } else {
            format!("{lo}-{hi}")
        });
    }
    out.join(",")
}

/// Which thread to pin.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Role {
    Submitter,
    Reaper,
}

/// The CPU `role` runs on with `cpus`, if pinned.
pub fn cpu_of(cpus: &[usize], role: Role) -> Option<usize> {
    match role {
        Role::Submitter => cpus.first().copied(),
        Role::Reaper => cpus.get(1).or(cpus.first()).copied(),
    }
}

/// The calling thread pinned to one CPU; its former affinity comes back on
/// drop (the baseline, run next on the same thread, pins itself again).
pub struct Pinned {
    before: Option<CpuSet>,
}

impl Pinned {
    /// Pins the calling thread as `role` (nothing when `cpus` is empty).
    pub fn this_thread(cpus: &[usize], role: Role) -> iofd::Result<Pinned> {
        let Some(cpu) = cpu_of(cpus, role) else {
            return Ok(Pinned { before: None });
        };
        let before = sched_getaffinity(0)?;
        let set = CpuSet::from_cpus([cpu]).map_err(|_| iofd::Error::InvalidParam("CPU number"))?;
        sched_setaffinity(0, &set)?;
        Ok(Pinned {
            before: Some(before),
        })
    }
}

impl Drop for Pinned {
    fn drop(&mut self) {
        if let Some(set) = &self.before {
            let _ = sched_setaffinity(0, set);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cpu_lists_parse() {
        assert_eq!(parse_cpus("0"), Ok(vec![0]));
        assert_eq!(parse_cpus("0,1"), Ok(vec![0, 1]));
        assert_eq!(parse_cpus("0-1"), Ok(vec![0, 1]));
        assert_eq!(parse_cpus("1,0"), Ok(vec![1, 0]), "the order given");
        assert_eq!(parse_cpus("2-4,0"), Ok(vec![2, 3, 4, 0]));
        assert_eq!(parse_cpus("1023"), Ok(vec![1023]));
    }

    #[test]
    fn bad_cpu_lists_are_refused() {
        let err = |s| parse_cpus(s).expect_err(s);
        assert!(err("").contains("the CPU list is empty"));
        assert!(err(" ").contains("the CPU list is empty"));
        assert!(err("a").contains("`a` is not a CPU number"));
        assert!(err("0,").contains("`` is not a CPU number"));
        assert!(err("-1").contains("`` is not a CPU number"));
        assert_eq!(err("5-2"), "`5-2` is not a range: 5 is above 2");
        assert_eq!(
            err("1024"),
            "CPU 1024 is out of range: a CPU set holds CPUs 0 to 1023"
        );
        assert!(err("0-99999999999999").contains("out of range"));
        assert_eq!(err("0,0-1"), "CPU 0 is listed twice");
    }

    #[test]
    fn only_cpus_the_process_may_use_pass() {
        let allowed = sched_getaffinity(0).expect("affinity");
        let first = allowed.iter().next().expect("a CPU");
        assert_eq!(check_cpus(&[first]), Ok(()));
        let e = check_cpus(&[first, 1023]).expect_err("no machine here has 1024 CPUs");
        assert!(
            e.starts_with("--cpu 1023: this machine has no CPU 1023 the harness may run on"),
            "{e}"
        );
    }

    #[test]
    fn roles_map_to_the_list_and_pinning_is_undone() {
        assert_eq!(cpu_of(&[], Role::Submitter), None);
        assert_eq!(cpu_of(&[3], Role::Reaper), Some(3));
        assert_eq!(cpu_of(&[3, 1], Role::Submitter), Some(3));
        assert_eq!(cpu_of(&[3, 1], Role::Reaper), Some(1));
        let set = CpuSet::from_cpus([0, 1, 2, 5, 7, 8]).expect("set");
        assert_eq!(ranges(&set), "0-2,5,7-8");
        std::thread::spawn(|| {
            let before = sched_getaffinity(0).expect("affinity");
            let last = before.iter().last().expect("a CPU");
            {
                let _pin = Pinned::this_thread(&[last], Role::Submitter).expect("pin");
                let now = sched_getaffinity(0).expect("affinity");
                assert_eq!(now.iter().collect::<Vec<_>>(), [last]);
            }
            assert_eq!(sched_getaffinity(0).expect("affinity"), before);
        })
        .join()
        .expect("pinning thread");
    }
}
