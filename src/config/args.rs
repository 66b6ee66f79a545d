//! The command line, read as redis-server reads it: an optional config file
//! first, then `--name value...` options that become config lines appended to
//! the file (so every parameter is also a flag, with the file's rules).

use super::{repr, split_quoted};

/// What the command line asks for.
#[derive(Debug, PartialEq, Eq)]
pub enum Startup {
    Help,
    Version,
    /// Run with this config file (if any) and these redis.conf lines on top.
    Run {
        file: Option<String>,
        options: String,
    },
}

pub const USAGE: &str = "\
Usage: corekv [/path/to/redis.conf] [options]
       corekv --config /path/to/redis.conf [options]
       corekv -v or --version
       corekv -h or --help

Every configuration parameter is also an option: --<name> <value>...
Examples:
       corekv --port 7777 --shards 4
       corekv /etc/redis/6379.conf --loglevel verbose --save \"\"

corekv's own parameters: --shards N (default: one per online core),
--io-memory-kb N, --spin-before-park-us N.";

/// Parses the arguments after the program name.
pub fn parse_args(argv: &[String]) -> Startup {
    match argv.first().map(String::as_str) {
        Some("-v" | "--version") => return Startup::Version,
        Some("-h" | "--help") => return Startup::Help,
        _ => {}
    }
    let mut file = None;
    let mut j = 0;
    if argv.first().is_some_and(|a| !a.starts_with('-')) {
        file = Some(argv[0].clone());
        j = 1;
    }
    let mut options = String::new();
    // Whether the last option name already has a value, so that a following
    // `--word` is the next option rather than its value.
    let mut named = true;
    while j < argv.len() {
        let a = &argv[j];
        if named && a == "--config" && j + 1 < argv.len() {
            file = Some(argv[j + 1].clone());
            j += 2;
            continue;
        }
        if named && a.starts_with("--") {
            if !options.is_empty() {
                options.push('\n');
            }
            options.push_str(&a[2..]);
            options.push(' ');
            let words = split_quoted(a).map_or(0, |w| w.len());
            // `--port 6380` as one argument carries its value already.
            named = words != 1;
            let last = j + 1 == argv.len();
            // `--save` with nothing after it (or another option next) is `save ""`.
            if words == 1
                && a.eq_ignore_ascii_case("--save")
                && (last || argv[j + 1].starts_with("--"))
            {
                options.push_str("\"\"");
                named = true;
            }
        } else {
            options.push_str(&repr(a));
            options.push(' ');
            named = true;
        }
        j += 1;
    }
    Startup::Run { file, options }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn run(args: &[&str]) -> (Option<String>, String) {
        let v: Vec<String> = args.iter().map(|s| s.to_string()).collect();
        match parse_args(&v) {
            Startup::Run { file, options } => (file, options),
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn options_become_config_lines() {
        assert_eq!(
            run(&["--port", "7000", "--save", "", "--loglevel", "warning"]),
            (
                None,
                "port \"7000\" \nsave \"\" \nloglevel \"warning\" ".to_string()
            )
        );
        assert_eq!(run(&["a.conf", "--save"]).0.as_deref(), Some("a.conf"));
        assert_eq!(run(&["--save", "--port", "1"]).1, "save \"\"\nport \"1\" ");
        assert_eq!(run(&["--maxmemory 700mb"]).1, "maxmemory 700mb ");
        assert_eq!(
            run(&["--config", "x.conf", "--port", "1"]),
            (Some("x.conf".into()), "port \"1\" ".into())
        );
        // A value may start with `--` right after its name.
        assert_eq!(
            run(&["--logfile", "--my--log", "--port", "1"]).1,
            "logfile \"--my--log\" \nport \"1\" "
        );
        assert_eq!(parse_args(&["-v".into()]), Startup::Version);
    }
}
