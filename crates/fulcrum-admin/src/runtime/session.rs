//! The line protocol of one runtime API connection, as HAProxy 2.6 speaks it: commands end with a newline and
//! several may share a line separated by `;` (`\;` is a semicolon inside a word). A session starts
//! non-interactive: it answers the lines it has received, then the connection closes (what `socat` and `nc -U`
//! expect). `prompt` switches to the interactive mode: every answer is followed by a `> ` prompt and the
//! connection stays open until `quit`.

use super::commands::{execute_in, execute_with_payload, split_commands, Reply};
use super::{Control, Level};

/// The longest line accepted; a longer one closes the connection.
const MAX_LINE: usize = 64 * 1024;
/// The largest payload (`<<`) accepted: a certificate chain with its key fits many times.
const MAX_PAYLOAD: usize = 1024 * 1024;

/// One connection's state.
pub struct Session {
    level: Level,
    interactive: bool,
    buf: Vec<u8>,
    closed: bool,
    /// The command whose payload lines are being received, and those lines so far.
    payload: Option<(String, String)>,
    /// `experimental-mode on`: the experimental commands (`set var`) are allowed.
    experimental: bool,
}

impl Session {
    /// A new session at the socket's level.
    pub fn new(level: Level) -> Self {
        Session {
            level,
            interactive: false,
            buf: Vec::new(),
            closed: false,
            payload: None,
            experimental: false,
        }
    }

    /// Whether the connection must now be closed (after sending what [`Session::receive`] returned).
    pub fn is_closed(&self) -> bool {
        self.closed
    }

    /// Whether the session is in the interactive (prompt) mode.
    pub fn is_interactive(&self) -> bool {
        self.interactive
    }

    /// The session's current level.
    pub fn level(&self) -> Level {
        self.level
    }

    /// Takes bytes from the client, runs every complete line, and returns what to send back.
    pub fn receive(&mut self, data: &[u8], ctl: &dyn Control) -> Vec<u8> {
        let mut out = Vec::new();
        if self.closed {
            return out;
        }
        self.buf.extend_from_slice(data);
        let mut ran = false;
        while let Some(pos) = self.buf.iter().position(|&b| b == b'\n') {
            let line: Vec<u8> = self.buf.drain(..=pos).collect();
            let line = String::from_utf8_lossy(&line[..pos]);
            let line = line.strip_suffix('\r').unwrap_or(&line);
            // A command ending in `<<` takes the lines after it, up to an empty line, as its payload.
            if let Some((command, payload)) = self.payload.as_mut() {
                if !line.is_empty() {
                    payload.push_str(line);
                    payload.push('\n');
                    if payload.len() > MAX_PAYLOAD {
                        self.closed = true;
                        return out;
                    }
                    continue;
                }
                let (command, payload) = (command.clone(), std::mem::take(payload));
                self.payload = None;
                ran = true;
                self.answer(
                    execute_with_payload(&command, &payload, self.level, ctl),
                    &mut out,
                );
                continue;
            }
            if let Some(command) = line.trim_end().strip_suffix("<<") {
                self.payload = Some((command.trim_end().to_string(), String::new()));
                continue;
            }
            ran = true;
            self.run_line(line, ctl, &mut out);
            if self.closed {
                return out;
            }
        }
        if (ran && !self.interactive) || self.buf.len() > MAX_LINE {
            self.closed = true;
        }
        out
    }

    fn run_line(&mut self, line: &str, ctl: &dyn Control, out: &mut Vec<u8>) {
        for part in split_commands(line) {
            self.answer(execute_in(part, self.level, self.experimental, ctl), out);
            if self.closed {
                return;
            }
        }
    }

    fn answer(&mut self, reply: Reply, out: &mut Vec<u8>) {
        match reply {
            Reply::Text(t) => {
                out.extend_from_slice(t.as_bytes());
                out.push(b'\n');
            }
            Reply::Bare(t) => out.extend_from_slice(t.as_bytes()),
            Reply::Quit => {
                self.closed = true;
                return;
            }
            Reply::TogglePrompt => {
                self.interactive = !self.interactive;
                out.push(b'\n');
            }
            Reply::SetLevel(l) => {
                self.level = l;
                out.push(b'\n');
            }
            Reply::Experimental(on) => {
                self.experimental = on;
                out.push(b'\n');
            }
        }
        if self.interactive {
            out.extend_from_slice(b"> ");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::super::*;
    use super::*;

    struct Fake;

    impl Control for Fake {
        fn proc_var(&self, name: &str) -> Option<String> {
            (name == "proc.x").then(|| "proc.x: type=sint value=<5>".to_string())
        }
        fn info(&self) -> Info {
            Info::default()
        }
        fn backends(&self) -> Vec<String> {
            vec!["app".into()]
        }
        fn servers_state(&self, _: Option<&str>) -> Option<Vec<ServerState>> {
            None
        }
        fn lookup(&self, b: &str, s: &str) -> Result<(), CtlError> {
            match (b, s) {
                ("app", "s1") => Ok(()),
                ("app", _) => Err(CtlError::NoServer),
                _ => Err(CtlError::NoBackend),
            }
        }
        fn weight(&self, b: &str, s: &str) -> Result<(u32, u32), CtlError> {
            self.lookup(b, s).map(|()| (10, 10))
        }
        fn set_weight(&self, b: &str, s: &str, _: Weight) -> Result<(), CtlError> {
            self.lookup(b, s)
        }
        fn set_server_ssl(&self, b: &str, s: &str, _: bool) -> Result<(), CtlError> {
            self.lookup(b, s)
        }
        fn set_state(&self, b: &str, s: &str, _: AdminState) -> Result<(), CtlError> {
            self.lookup(b, s)
        }
        fn set_maint(&self, b: &str, s: &str, _: bool) -> Result<(), CtlError> {
            self.lookup(b, s)
        }
        fn set_health(&self, b: &str, s: &str, _: bool) -> Result<(), CtlError> {
            self.lookup(b, s)
        }
        fn add_server(&self, _: &str, _: &str, _: &NewServer) -> Result<(), CtlError> {
            Ok(())
        }
        fn del_server(&self, b: &str, s: &str) -> Result<(), CtlError> {
            self.lookup(b, s).and(Err(CtlError::NotInMaint))
        }
        fn stats(&self) -> Option<crate::Stats> {
            None
        }
        fn acl_refs(&self) -> Vec<PatternRef> {
            vec![PatternRef {
                id: 0,
                file: Some("/f.acl".into()),
                display: "pattern loaded from file '/f.acl' used by acl at file 'h.cfg' line 3"
                    .into(),
                entries: 1,
            }]
        }
        fn acl_entries(&self, r: &str) -> Option<Vec<PatternEntry>> {
            (r == "/f.acl" || r == "#0").then(|| {
                vec![PatternEntry {
                    id: 0x2a,
                    text: "a b;".into(),
                }]
            })
        }
        fn add_acl(&self, r: &str, p: &str) -> Result<(), AclError> {
            match (r, p) {
                ("/f.acl", "a b;") => Ok(()),
                ("/f.acl", _) => Err(AclError::Invalid(format!("'{p}' is not a number."))),
                _ => Err(AclError::UnknownRef),
            }
        }
        fn del_acl(&self, r: &str, k: &str) -> Result<(), AclError> {
            match (r, k) {
                ("/f.acl", "a b;" | "#0x2a") => Ok(()),
                ("/f.acl", _) => Err(AclError::KeyNotFound),
                _ => Err(AclError::UnknownRef),
            }
        }
        fn ssl_cert_set(&self, name: &str, payload: &str) -> Result<String, String> {
            Ok(format!("set {name} with {payload:?}\n"))
        }
    }

    fn run(level: Level, input: &str) -> (String, bool) {
        let mut s = Session::new(level);
        let out = s.receive(input.as_bytes(), &Fake);
        (String::from_utf8(out).unwrap(), s.is_closed())
    }

    #[test]
    fn a_payload_runs_with_its_command_once_an_empty_line_ends_it() {
        let (out, closed) = run(
            Level::Admin,
            "set ssl cert /c.pem <<\n-----BEGIN X-----\nAAAA\n-----END X-----\n\n",
        );
        assert_eq!(
            out,
            "set /c.pem with \"-----BEGIN X-----\\nAAAA\\n-----END X-----\\n\"\n\n"
        );
        assert!(closed);
        // Until the empty line, nothing runs and the connection stays open.
        assert_eq!(
            run(Level::Admin, "set ssl cert /c.pem <<\nAAAA\n"),
            (String::new(), false)
        );
        // The certificate commands need the admin level.
        assert!(run(Level::Operator, "set ssl cert /c.pem <<\nA\n\n")
            .0
            .contains("Permission denied"));
        assert!(run(Level::Operator, "show ssl cert\n")
            .0
            .contains("Permission denied"));
    }

    /// `set var` only in experimental mode, as haproxy 2.6.12 answers it.
    #[test]
    fn set_var_needs_experimental_mode() {
        assert_eq!(
            run(Level::Admin, "set var proc.x int(3)\n"),
            (
                "This command is restricted to experimental mode only.\n\n".into(),
                true
            )
        );
        assert_eq!(
            run(
                Level::Admin,
                "experimental-mode on; set var proc.x int(3)\n"
            ),
            ("\n'set var' is not available here.\n".into(), true)
        );
        assert_eq!(
            run(Level::Admin, "experimental-mode on; set var proc.x\n"),
            (
                "\nMissing either 'expr', 'fmt' or expression.\n\n".into(),
                true
            )
        );
        assert_eq!(
            run(Level::Operator, "experimental-mode on\n"),
            ("Permission denied\n\n".into(), true)
        );
    }

    /// `get var` answers as haproxy 2.6.12: the line alone, or an error followed by the empty line.
    #[test]
    fn get_var() {
        assert_eq!(
            run(Level::User, "get var proc.x\n"),
            ("proc.x: type=sint value=<5>\n".into(), true)
        );
        assert_eq!(
            run(Level::User, "get var proc.nope\n"),
            ("Variable not found.\n\n".into(), true)
        );
        assert_eq!(
            run(Level::User, "get var\n"),
            ("Missing process-wide variable identifier.\n\n".into(), true)
        );
    }

    #[test]
    fn non_interactive_answers_then_closes() {
        assert_eq!(
            run(Level::Admin, "get weight app/s1\n"),
            ("10 (initial 10)\n\n".into(), true)
        );
        assert_eq!(
            run(Level::Admin, "get weight app/s1;get weight app/s2\n"),
            ("10 (initial 10)\n\nNo such server.\n\n".into(), true)
        );
        assert_eq!(
            run(Level::Admin, "set weight app/s1 5\n"),
            ("\n".into(), true)
        );
        assert_eq!(run(Level::Admin, "quit\n"), (String::new(), true));
        // Nothing runs until the newline.
        assert_eq!(
            run(Level::Admin, "get weight app/s1"),
            (String::new(), false)
        );
    }

    #[test]
    fn prompt_mode_answers_with_a_prompt_until_quit() {
        let mut s = Session::new(Level::Admin);
        let out = s.receive(b"prompt\n", &Fake);
        assert_eq!(out, b"\n> ");
        assert!(!s.is_closed());
        let out = s.receive(b"get weight app/s1;get weight app/s1\n", &Fake);
        assert_eq!(out, b"10 (initial 10)\n\n> 10 (initial 10)\n\n> ");
        let out = s.receive(b"set weight app/s1 x\n", &Fake);
        assert_eq!(out, b"Empty weight string empty or preceded by garbage\n> ");
        let out = s.receive(b"quit\n", &Fake);
        assert!(out.is_empty());
        assert!(s.is_closed());
    }

    #[test]
    fn levels_refuse_changes_with_haproxy_words() {
        for level in [Level::User, Level::Operator] {
            for cmd in [
                "set weight app/s1 3",
                "set server app/s1 state maint",
                "disable server app/s1",
                "enable health app/s1",
                "add server app/s9 127.0.0.1:1",
                "del server app/s1",
            ] {
                assert_eq!(
                    run(level, &format!("{cmd}\n")),
                    ("Permission denied\n\n".into(), true),
                    "{cmd}"
                );
            }
            assert_eq!(run(level, "get weight app/s1\n").0, "10 (initial 10)\n\n");
        }
        let mut s = Session::new(Level::Admin);
        s.receive(b"prompt\nuser\n", &Fake);
        assert_eq!(s.level(), Level::User);
        assert_eq!(s.receive(b"operator\n", &Fake), b"Permission denied\n\n> ");
    }

    #[test]
    fn acl_commands_answer_as_haproxy() {
        assert_eq!(
            run(Level::Admin, "show acl\n").0,
            "# id (file) description\n0 (/f.acl) pattern loaded from file '/f.acl' used by acl at file 'h.cfg' line 3. curr_ver=0 next_ver=0 entry_cnt=1\n\n"
        );
        assert_eq!(run(Level::Admin, "show acl #0\n").0, "0x2a a b;\n\n");
        assert_eq!(
            run(Level::Admin, "show acl #1\n").0,
            "Unknown ACL identifier. Please use #<id> or <file>.\n\n"
        );
        // Escaped spaces and semicolons are part of the pattern; the next `;` starts a command.
        assert_eq!(
            run(Level::Admin, "add acl /f.acl a\\ b\\;;show acl /f.acl\n").0,
            "\n0x2a a b;\n\n"
        );
        assert_eq!(
            run(Level::Admin, "add acl /f.acl x\n").0,
            "'x' is not a number.\n\n"
        );
        assert_eq!(
            run(Level::Admin, "add acl /f.acl\n").0,
            "'add acl' expects two parameters: ACL identifier and pattern.\n\n"
        );
        assert_eq!(
            run(Level::Admin, "add acl nope x\n").0,
            "Unknown ACL identifier. Please use #<id> or <file>.\n\n"
        );
        assert_eq!(run(Level::Admin, "del acl /f.acl #0x2a\n").0, "\n");
        assert_eq!(
            run(Level::Admin, "del acl /f.acl zz\n").0,
            "Key not found.\n\n"
        );
        assert_eq!(
            run(Level::Admin, "del acl nope zz\n").0,
            "Unknown map identifier. Please use #<id> or <file>.\n\n"
        );
        assert_eq!(
            run(Level::Admin, "del acl /f.acl\n").0,
            "This command expects two parameters: ACL identifier and key.\n\n"
        );
        assert_eq!(
            run(Level::Admin, "clear acl\n").0,
            "Missing ACL identifier.\n\n"
        );
        // The default `clear_acl` knows no reference.
        assert_eq!(
            run(Level::Admin, "clear acl /f.acl\n").0,
            "Unknown ACL identifier. Please use #<id> or <file>.\n\n"
        );
        assert_eq!(
            run(Level::Operator, "del acl /f.acl zz\n").0,
            "Key not found.\n\n"
        );
        assert_eq!(
            run(Level::User, "add acl /f.acl a\\ b\\;\n").0,
            "Permission denied\n\n"
        );
        assert_eq!(run(Level::User, "show acl #0\n").0, "0x2a a b;\n\n");
    }

    #[test]
    fn refusals_keep_haproxy_newlines() {
        assert_eq!(
            run(Level::Admin, "del server app/s1\n").0,
            "Only servers in maintenance mode can be deleted.\n"
        );
        assert_eq!(
            run(Level::Admin, "del server app\n").0,
            "Require 'backend/server'.\n"
        );
        assert_eq!(
            run(Level::Admin, "add server nope/x 1.2.3.4:5\n").0,
            "No such backend.\n"
        );
        assert_eq!(
            run(Level::Admin, "get weight app\n").0,
            "Require 'backend/server'.\n\n"
        );
        assert_eq!(
            run(Level::Admin, "set server app/s1 state foo\n").0,
            "'set server <srv> state' expects 'ready', 'drain' and 'maint'.\n\n"
        );
        assert_eq!(
            run(Level::Admin, "show servers state nope\n").0,
            "Can't find backend.\n\n"
        );
        assert!(run(Level::Admin, "show servers\n")
            .0
            .starts_with("Unknown command, but maybe one of the following ones is a better match:\n  show servers state"));
        assert!(run(Level::Admin, "\n")
            .0
            .starts_with("Unknown command. Please enter one of the following commands only:\n"));
    }
}
