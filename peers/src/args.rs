//! The command line of every rival, parsed as iofd's example servers parse
//! theirs: `--addr ADDR`, `--threads N` and, for the echo servers,
//! `--idle-ms MS`; `--name=value` or `--name value`; `-h`/`--help`.

use std::net::SocketAddr;
use std::process::exit;
use std::time::Duration;

/// Which of the two servers a binary is: its options and defaults.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    /// The echo server: port 7878, `--idle-ms` (default 30 s).
    Echo,
    /// The HTTP server: port 8080, no idle timeout.
    Http,
}

/// What a rival was asked to do.
#[derive(Clone, Debug)]
pub struct Config {
    pub addr: SocketAddr,
    pub threads: usize,
    /// The echo servers' idle timeout; `None` for HTTP.
    pub idle: Option<Duration>,
}

/// The usage text of binary `name` of `kind`.
pub fn usage(name: &str, kind: Kind) -> String {
    match kind {
        Kind::Echo => format!(
            "usage: {name} [--addr ADDR] [--threads N] [--idle-ms MS]
  --addr ADDR    IP:PORT to listen on (default 127.0.0.1:7878; port 0 picks one)
  --threads N    threads, each with its own runtime and listener (default 1)
  --idle-ms MS   close connections idle this long (default 30000)"
        ),
        Kind::Http => format!(
            "usage: {name} [--addr ADDR] [--threads N]
  --addr ADDR    IP:PORT to listen on (default 127.0.0.1:8080; port 0 picks one)
  --threads N    threads, each with its own runtime and listener (default 1)"
        ),
    }
}

/// Parses `args` (without the program name): `Ok(None)` for `--help`.
pub fn parse(kind: Kind, mut args: impl Iterator<Item = String>) -> Result<Option<Config>, String> {
    let mut cfg = match kind {
        Kind::Echo => Config {
            addr: SocketAddr::from(([127, 0, 0, 1], 7878)),
            threads: 1,
            idle: Some(Duration::from_millis(30_000)),
        },
        Kind::Http => Config {
            addr: SocketAddr::from(([127, 0, 0, 1], 8080)),
            threads: 1,
            idle: None,
        },
    };
    while let Some(arg) = args.next() {
        let (name, inline) = match arg.split_once('=') {
            Some((n, v)) if n.starts_with("--") => (n.to_owned(), Some(v.to_owned())),
            _ => (arg, None),
        };
        if name == "-h" || name == "--help" {
            return Ok(None);
        }
        let known = match name.as_str() {
            "--addr" | "--threads" => true,
            "--idle-ms" => kind == Kind::Echo,
            _ => false,
        };
        if !known {
            return Err(format!("unknown option '{name}'"));
        }
        let value = inline
            .or_else(|| args.next())
            .ok_or_else(|| format!("{name} needs a value"))?;
        match name.as_str() {
            "--addr" => {
                cfg.addr = value
                    .parse()
                    .map_err(|e| format!("invalid --addr '{value}' (want IP:PORT): {e}"))?;
            }
            "--threads" => match value.parse::<usize>() {
                Ok(n) if (1..=1024).contains(&n) => cfg.threads = n,
                _ => return Err(format!("invalid --threads '{value}' (want 1 to 1024)")),
            },
            _ => match value.parse::<u64>() {
                Ok(ms) if ms > 0 => cfg.idle = Some(Duration::from_millis(ms)),
                _ => {
                    return Err(format!(
                        "invalid --idle-ms '{value}' (want a positive integer)"
                    ));
                }
            },
        }
    }
    Ok(Some(cfg))
}

/// The configuration of binary `name` from the process's arguments:
/// prints the usage and exits 0 for `--help`, exits 2 with a message and
/// the usage for bad arguments.
pub fn from_env(name: &str, kind: Kind) -> Config {
    match parse(kind, std::env::args().skip(1)) {
        Ok(Some(cfg)) => cfg,
        Ok(None) => {
            println!("{}", usage(name, kind));
            exit(0);
        }
        Err(msg) => {
            eprintln!("{name}: {msg}\n{}", usage(name, kind));
            exit(2);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse_strs(kind: Kind, args: &[&str]) -> Result<Option<Config>, String> {
        parse(kind, args.iter().map(|s| (*s).to_owned()))
    }

    #[test]
    fn defaults_and_forms() {
        let c = parse_strs(Kind::Echo, &[]).unwrap().unwrap();
        assert_eq!(c.addr.to_string(), "127.0.0.1:7878");
        assert_eq!((c.threads, c.idle), (1, Some(Duration::from_secs(30))));
        let c = parse_strs(Kind::Http, &["--addr=127.0.0.1:0", "--threads", "3"])
            .unwrap()
            .unwrap();
        assert_eq!((c.addr.port(), c.threads, c.idle), (0, 3, None));
        let c = parse_strs(Kind::Echo, &["--idle-ms", "200"])
            .unwrap()
            .unwrap();
        assert_eq!(c.idle, Some(Duration::from_millis(200)));
        assert!(parse_strs(Kind::Http, &["--help"]).unwrap().is_none());
    }

    #[test]
    fn refusals_name_the_option() {
        let cases: [(Kind, &[&str], &str); 6] = [
            (Kind::Echo, &["--addr", "nonsense"], "nonsense"),
            (Kind::Echo, &["--threads", "0"], "--threads"),
            (Kind::Http, &["--threads", "many"], "--threads"),
            (Kind::Http, &["--idle-ms", "5"], "--idle-ms"),
            (Kind::Echo, &["--idle-ms", "0"], "--idle-ms"),
            (Kind::Echo, &["--addr"], "--addr"),
        ];
        for (kind, args, needle) in cases {
            let err = parse_strs(kind, args).expect_err("refused");
            assert!(err.contains(needle), "{args:?}: {err}");
        }
    }
}
