//! Reading a server-state file: what `show servers state` writes (format version `1`), read back when the proxy
//! starts (`load-server-state-from-file`). Pure parsing; the proxy decides what to apply.
//!
//! The file is a version line (`1`), then one line per server with at least the 20 columns up to `srv_port`
//! (HAProxy 2.6 writes 25; more are ignored). Empty lines and lines starting with `#` are skipped. A data line with
//! fewer columns makes the whole file unusable, as HAProxy treats it; a line whose values do not parse is
//! skipped on its own.

use std::collections::HashMap;
use std::net::IpAddr;

/// The fewest columns a version-1 line may have (up to `srv_port`).
pub const MIN_FIELDS: usize = 20;

/// One server's line of a state file, with the columns the proxy uses.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StateLine {
    /// Line number in the file (1-based).
    pub line: usize,
    /// `be_id`
    pub be_id: u32,
    /// `be_name`
    pub be_name: String,
    /// `srv_id`
    pub srv_id: u32,
    /// `srv_name`
    pub srv_name: String,
    /// `srv_addr`
    pub addr: IpAddr,
    /// `srv_op_state`: 0 stopped, 1 starting, 2 running, 3 stopping.
    pub op_state: u8,
    /// `srv_admin_state`: HAProxy's admin flags (0x01 forced maintenance, 0x04 maintenance from the
    /// configuration, 0x08 forced drain, ...).
    pub admin_state: u8,
    /// `srv_uweight`: the weight in force (set at run time).
    pub uweight: u32,
    /// `srv_iweight`: the configured weight when the file was written.
    pub iweight: u32,
    /// `srv_time_since_last_change`, in seconds.
    pub since_last_change: u64,
    /// `srv_check_state`: 0x02 configured, 0x04 enabled, 0x08 paused.
    pub check_state: u32,
    /// `srv_agent_state`: the same flags for the agent check (0x10 marks it an agent).
    pub agent_state: u32,
    /// `bk_f_forced_id`: the backend's id was set with `id`.
    pub bk_forced_id: bool,
    /// `srv_f_forced_id`: the server's id was set with `id`.
    pub srv_forced_id: bool,
    /// `srv_port`
    pub port: u16,
}

/// Why a state file (or one of its lines) cannot be used.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum StateFileError {
    /// The file is empty or its first line is not a version fulcrum reads.
    #[error("unknown format version '{0}' (expected '1')")]
    Version(String),
    /// A data line has too few columns: the file is not used at all.
    #[error("corrupted at line {0}: {1} columns, at least 20 expected")]
    Corrupted(usize, usize),
}

/// A line that was skipped on its own, and why.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SkippedLine {
    /// Line number in the file (1-based).
    pub line: usize,
    /// The column that did not parse.
    pub column: &'static str,
    /// Its text.
    pub value: String,
}

/// A parsed state file: the usable lines by `(backend, server)` name (the first line for a pair wins), and the
/// lines skipped for a bad value.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct StateFile {
    /// The usable lines, keyed by backend and server name.
    pub lines: HashMap<(String, String), StateLine>,
    /// Lines whose values did not parse.
    pub skipped: Vec<SkippedLine>,
}

impl StateFile {
    /// The line of `backend`/`server`, if the file has one.
    pub fn get(&self, backend: &str, server: &str) -> Option<&StateLine> {
        self.lines.get(&(backend.to_string(), server.to_string()))
    }
}

/// Parses the text of a state file.
pub fn parse(text: &str) -> Result<StateFile, StateFileError> {
    let mut lines = text.lines().enumerate();
    let version = lines.next().map_or("", |(_, l)| l.trim());
    if version != "1" {
        return Err(StateFileError::Version(version.to_string()));
    }
    let mut out = StateFile::default();
    for (i, raw) in lines {
        let n = i + 1;
        let text = raw.trim();
        if text.is_empty() || text.starts_with('#') {
            continue;
        }
        let fields: Vec<&str> = text.split_ascii_whitespace().collect();
        if fields.len() < MIN_FIELDS {
            return Err(StateFileError::Corrupted(n, fields.len()));
        }
        match parse_line(n, &fields) {
            Ok(l) => {
                out.lines
                    .entry((l.be_name.clone(), l.srv_name.clone()))
                    .or_insert(l);
            }
            Err(s) => out.skipped.push(s),
        }
    }
    Ok(out)
}

/// The columns of a version-1 line, in order.
const COLUMNS: [&str; MIN_FIELDS] = [
    "be_id",
    "be_name",
    "srv_id",
    "srv_name",
    "srv_addr",
    "srv_op_state",
    "srv_admin_state",
    "srv_uweight",
    "srv_iweight",
    "srv_time_since_last_change",
    "srv_check_status",
    "srv_check_result",
    "srv_check_health",
    "srv_check_state",
    "srv_agent_state",
    "bk_f_forced_id",
    "srv_f_forced_id",
    "srv_fqdn",
    "srv_port",
    "srvrecord",
];

fn parse_line(n: usize, f: &[&str]) -> Result<StateLine, SkippedLine> {
    fn num<T: std::str::FromStr>(n: usize, f: &[&str], i: usize) -> Result<T, SkippedLine> {
        f[i].parse().map_err(|_| SkippedLine {
            line: n,
            column: COLUMNS[i],
            value: f[i].to_string(),
        })
    }
    fn flag(n: usize, f: &[&str], i: usize) -> Result<bool, SkippedLine> {
        Ok(num::<u8>(n, f, i)? != 0)
    }
    let op_state: u8 = num(n, f, 5)?;
    if op_state > 3 {
        return Err(SkippedLine {
            line: n,
            column: COLUMNS[5],
            value: f[5].to_string(),
        });
    }
    Ok(StateLine {
        line: n,
        be_id: num(n, f, 0)?,
        be_name: f[1].to_string(),
        srv_id: num(n, f, 2)?,
        srv_name: f[3].to_string(),
        addr: num(n, f, 4)?,
        op_state,
        admin_state: num(n, f, 6)?,
        uweight: num(n, f, 7)?,
        iweight: num(n, f, 8)?,
        since_last_change: num(n, f, 9)?,
        check_state: num(n, f, 13)?,
        agent_state: num(n, f, 14)?,
        bk_forced_id: flag(n, f, 15)?,
        srv_forced_id: flag(n, f, 16)?,
        port: num(n, f, 18)?,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    const HEADER: &str = "1\n# be_id be_name srv_id srv_name srv_addr srv_op_state srv_admin_state srv_uweight \
srv_iweight srv_time_since_last_change srv_check_status srv_check_result srv_check_health srv_check_state \
srv_agent_state bk_f_forced_id srv_f_forced_id srv_fqdn srv_port srvrecord srv_use_ssl srv_check_port \
srv_check_addr srv_agent_addr srv_agent_port\n";

    #[test]
    fn reads_what_show_servers_state_writes() {
        let text = format!(
            "{HEADER}2 app 1 s1 127.0.0.1 0 1 10 10 5 1 0 0 0 0 0 0 - 18081 - 0 0 - - 0\n\
             2 app 2 s2 ::1 2 8 7 20 0 6 3 4 6 0 0 0 - 18082 - 0 0 - - 0\n"
        );
        let f = parse(&text).unwrap();
        assert_eq!(f.lines.len(), 2);
        let s1 = f.get("app", "s1").unwrap();
        assert_eq!(
            (s1.line, s1.op_state, s1.admin_state, s1.uweight, s1.iweight),
            (3, 0, 1, 10, 10)
        );
        assert_eq!((s1.since_last_change, s1.port), (5, 18081));
        let s2 = f.get("app", "s2").unwrap();
        assert_eq!(s2.addr, "::1".parse::<IpAddr>().unwrap());
        assert_eq!((s2.op_state, s2.admin_state, s2.uweight), (2, 8, 7));
        assert_eq!(s2.check_state, 6);
        assert!(f.skipped.is_empty());
        let text =
            format!("{HEADER}2 app 1 s1 127.0.0.1 2 0 1 1 0 1 0 2 0 18 0 0 - 80 - 0 0 - - 5555\n");
        assert_eq!(
            parse(&text).unwrap().get("app", "s1").unwrap().agent_state,
            0x12
        );
    }

    #[test]
    fn twenty_columns_are_enough_and_extra_ones_are_ignored() {
        let text = format!(
            "{HEADER}2 app 1 s1 127.0.0.1 2 0 1 1 0 1 0 2 0 0 0 0 - 80 -\n\
             2 app 2 s2 127.0.0.1 2 0 1 1 0 1 0 2 0 0 0 0 - 80 - 0 0 - - 0 extra\n"
        );
        assert_eq!(parse(&text).unwrap().lines.len(), 2);
    }

    #[test]
    fn a_short_line_discards_the_file() {
        let text = format!(
            "{HEADER}2 app 1 s1 127.0.0.1 2 0 1 1 0 1 0 2 0 0 0 0 - 80 - 0 0 - - 0\n\n\
             2 app 2 s2 127.0.0.1 2 0 1 1 0 1 0 2 0 0 0 0 - 80\n"
        );
        assert_eq!(parse(&text), Err(StateFileError::Corrupted(5, 19)));
    }

    #[test]
    fn version_must_be_one() {
        assert_eq!(parse(""), Err(StateFileError::Version(String::new())));
        assert_eq!(parse("2\n"), Err(StateFileError::Version("2".to_string())));
        assert_eq!(parse("1\n").unwrap(), StateFile::default());
    }

    #[test]
    fn first_line_of_a_pair_wins_and_bad_values_skip_one_line() {
        let text = format!(
            "{HEADER}2 app 1 s1 127.0.0.1 2 0 3 3 0 1 0 2 0 0 0 0 - 80 - 0 0 - - 0\n\
             2 app 1 s1 127.0.0.1 0 1 9 9 0 1 0 2 0 0 0 0 - 80 - 0 0 - - 0\n\
             2 app 2 s2 not-an-ip 2 0 1 1 0 1 0 2 0 0 0 0 - 80 - 0 0 - - 0\n\
             2 app 3 s3 127.0.0.1 7 0 1 1 0 1 0 2 0 0 0 0 - 80 - 0 0 - - 0\n\
             2 app 4 s4 127.0.0.1 2 0 1 1 0 1 0 2 0 0 0 0 - 99999 - 0 0 - - 0\n"
        );
        let f = parse(&text).unwrap();
        assert_eq!(f.lines.len(), 1);
        assert_eq!(f.get("app", "s1").unwrap().uweight, 3);
        let bad: Vec<_> = f.skipped.iter().map(|s| (s.line, s.column)).collect();
        assert_eq!(bad, [(5, "srv_addr"), (6, "srv_op_state"), (7, "srv_port")]);
    }
}
