//! Cutting the concatenated files into sections. A section continues across files, in the order they are given.

use std::path::PathBuf;
use std::sync::Arc;

use super::common::{Line, Sink};
use super::directives::Blocks;
use super::env::EnvOverlay;
use super::known;
use super::lexer;
use crate::Location;

/// The kinds of section fulcrum parses.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SectionKind {
    /// `global`
    Global,
    /// `defaults [NAME]`
    Defaults,
    /// `frontend NAME`
    Frontend,
    /// `backend NAME`
    Backend,
    /// `listen NAME`
    Listen,
    /// `http-errors NAME`: `errorfile` lines that proxies import with `errorfiles NAME`.
    HttpErrors,
    /// `program NAME`: a command the master process runs.
    Program,
    /// `userlist NAME`: users and groups for HTTP authentication.
    Userlist,
    /// `resolvers NAME`: nameservers that servers' names are asked at run time.
    Resolvers,
    /// `peers NAME`: stick table replication.
    Peers,
}

impl SectionKind {
    /// The keyword that opens such a section.
    pub fn keyword(self) -> &'static str {
        match self {
            SectionKind::Global => "global",
            SectionKind::Defaults => "defaults",
            SectionKind::Frontend => "frontend",
            SectionKind::Backend => "backend",
            SectionKind::Listen => "listen",
            SectionKind::HttpErrors => "http-errors",
            SectionKind::Program => "program",
            SectionKind::Userlist => "userlist",
            SectionKind::Resolvers => "resolvers",
            SectionKind::Peers => "peers",
        }
    }

    fn from_keyword(kw: &str) -> Option<SectionKind> {
        Some(match kw {
            "global" => SectionKind::Global,
            "defaults" => SectionKind::Defaults,
            "frontend" => SectionKind::Frontend,
            "backend" => SectionKind::Backend,
            "listen" => SectionKind::Listen,
            "http-errors" => SectionKind::HttpErrors,
            "program" => SectionKind::Program,
            "userlist" => SectionKind::Userlist,
            "resolvers" => SectionKind::Resolvers,
            "peers" => SectionKind::Peers,
            _ => return None,
        })
    }
}

/// One section and its keyword lines.
#[derive(Debug, Clone)]
pub struct Section {
    /// What it is.
    pub kind: SectionKind,
    /// Its name (required for proxies, optional for defaults, none for global).
    pub name: Option<String>,
    /// `from DEFAULTS` on the header line.
    pub from: Option<String>,
    /// Where the header line is.
    pub location: Location,
    /// The keyword lines inside it.
    pub lines: Vec<Line>,
}

/// Splits every source into lines and groups them into sections. Conditional blocks (`.if` ... `.endif`) are
/// resolved per file on the way, and the lines of branches not taken are dropped. Problems go to `sink`.
pub fn split(
    sources: &[(PathBuf, String)],
    env: &dyn Fn(&str) -> Option<String>,
    sink: &mut Sink,
) -> Vec<Section> {
    // `setenv` and friends in `global` change what the lines after them see.
    let overlay = std::cell::RefCell::new(EnvOverlay::new(env));
    let lookup = |name: &str| overlay.borrow().get(name);
    let env: &dyn Fn(&str) -> Option<String> = &lookup;
    let mut sections: Vec<Section> = Vec::new();
    // Whether we are inside an unsupported section whose lines are skipped.
    let mut skipping = false;
    // Whether any section was opened yet (lines before are out of section).
    let mut opened = false;
    for (path, text) in sources {
        let file = Arc::new(path.clone());
        let mut blocks = Blocks::default();
        for (idx, raw) in text.lines().enumerate() {
            let location = Location {
                file: file.clone(),
                line: idx + 1,
            };
            let words = match lexer::split_line(raw, env) {
                Ok(w) => w,
                Err(e) => {
                    let kw = raw.split_whitespace().next().unwrap_or("").to_string();
                    sink.error(&location, &kw, e.to_string());
                    blocks.unsplit_line(&kw, &location);
                    continue;
                }
            };
            let Some(first) = words.first() else { continue };
            if !blocks.line(&words, &location, env, sink) {
                continue;
            }
            if let Some(kind) = SectionKind::from_keyword(first) {
                opened = true;
                skipping = false;
                if let Some(s) = header(kind, &words, &location, sink) {
                    sections.push(s);
                } else {
                    // a broken header: skip its lines to avoid a cascade of errors
                    skipping = true;
                }
                continue;
            }
            if known::SECTIONS_UNSUPPORTED.contains(&first.as_str()) {
                opened = true;
                skipping = true;
                sink.error(
                    &location,
                    first,
                    format!("'{first}' sections are supported by HAProxy, but this section is not supported yet by fulcrum"),
                );
                continue;
            }
            if skipping {
                continue;
            }
            match sections.last_mut() {
                Some(s) if opened => {
                    if s.kind == SectionKind::Global && EnvOverlay::is_env_keyword(first) {
                        if let Err(e) = overlay.borrow_mut().apply(&words) {
                            sink.error(&location, first, e);
                        }
                    }
                    s.lines.push(Line { location, words })
                }
                _ => sink.error(
                    &location,
                    first,
                    format!("unknown keyword '{first}' out of section: keywords must follow a section header such as 'global', 'defaults', 'frontend', 'backend' or 'listen'"),
                ),
            }
        }
        blocks.end_of_file(sink);
    }
    sections
}

fn header(
    kind: SectionKind,
    words: &[String],
    location: &Location,
    sink: &mut Sink,
) -> Option<Section> {
    let kw = kind.keyword();
    let mut section = Section {
        kind,
        name: None,
        from: None,
        location: location.clone(),
        lines: Vec::new(),
    };
    let args = &words[1..];
    match kind {
        SectionKind::Global => {
            if let Some(extra) = args.first() {
                sink.error(
                    location,
                    kw,
                    format!("expects no argument, found '{extra}'"),
                );
            }
            return Some(section);
        }
        SectionKind::Defaults => {
            let rest = match args.first() {
                Some(n) if n != "from" => {
                    section.name = Some(n.clone());
                    &args[1..]
                }
                _ => args,
            };
            parse_from(&mut section, rest, location, sink);
        }
        SectionKind::HttpErrors => {
            let Some(name) = args.first() else {
                sink.error(
                    location,
                    kw,
                    "missing name for http-errors section: expects 'http-errors NAME'",
                );
                return None;
            };
            if let Some(extra) = args.get(1) {
                sink.error(
                    location,
                    kw,
                    format!("unexpected argument '{extra}' after 'http-errors NAME'"),
                );
            }
            section.name = Some(name.clone());
        }
        SectionKind::Userlist => {
            let Some(name) = args.first() else {
                sink.error(location, kw, "'userlist' expects a name");
                return None;
            };
            if let Some(extra) = args.get(1) {
                sink.error(
                    location,
                    kw,
                    format!("unexpected argument '{extra}' after 'userlist NAME'"),
                );
                return None;
            }
            section.name = Some(name.clone());
        }
        SectionKind::Resolvers => {
            let Some(name) = args.first() else {
                sink.error(location, kw, "missing name for resolvers section");
                return None;
            };
            if let Some(extra) = args.get(1) {
                sink.error(
                    location,
                    kw,
                    format!("unexpected argument '{extra}' after 'resolvers NAME'"),
                );
                return None;
            }
            section.name = Some(name.clone());
        }
        SectionKind::Peers => {
            let Some(name) = args.first() else {
                sink.error(location, kw, "missing name for peers section.");
                return None;
            };
            if let Some(extra) = args.get(1) {
                sink.error(
                    location,
                    kw,
                    format!("unexpected argument '{extra}' after 'peers NAME'"),
                );
                return None;
            }
            section.name = Some(name.clone());
        }
        SectionKind::Program => {
            let Some(name) = args.first() else {
                sink.error(location, kw, "'program' expects an <id> argument");
                return None;
            };
            if let Some(extra) = args.get(1) {
                sink.error(
                    location,
                    kw,
                    format!("'program' cannot handle unexpected argument '{extra}'."),
                );
                return None;
            }
            section.name = Some(name.clone());
        }
        _ => {
            let Some(name) = args.first().filter(|n| n.as_str() != "from") else {
                sink.error(location, kw, format!("'{kw}' expects a name: '{kw} NAME'"));
                return None;
            };
            if let Some(bad) = name
                .chars()
                .find(|c| !(c.is_ascii_alphanumeric() || "-_.:".contains(*c)))
            {
                sink.error(
                    location,
                    kw,
                    format!("character '{bad}' is not permitted in {kw} name '{name}' (letters, digits, '-', '_', '.' and ':' only)"),
                );
            }
            section.name = Some(name.clone());
            parse_from(&mut section, &args[1..], location, sink);
        }
    }
    if let Some(n) = &section.name {
        if n.is_empty() {
            sink.error(location, kw, format!("'{kw}' expects a non-empty name"));
        }
    }
    Some(section)
}

fn parse_from(section: &mut Section, rest: &[String], location: &Location, sink: &mut Sink) {
    let kw = section.kind.keyword();
    match rest {
        [] => {}
        [f, name] if f == "from" => section.from = Some(name.clone()),
        [f] if f == "from" => sink.error(
            location,
            kw,
            "'from' expects the name of a defaults section",
        ),
        [f, _, extra, ..] if f == "from" => sink.error(
            location,
            kw,
            format!("unexpected argument '{extra}' after 'from NAME'"),
        ),
        [other, ..] => sink.error(
            location,
            kw,
            format!("unexpected argument '{other}': expected '{kw} NAME [from DEFAULTS]'"),
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn run(text: &str) -> (Vec<Section>, Sink) {
        let mut sink = Sink::default();
        let s = split(
            &[(PathBuf::from("t.cfg"), text.to_string())],
            &|_| None,
            &mut sink,
        );
        (s, sink)
    }

    #[test]
    fn groups_lines() {
        let (s, sink) =
            run("global\n maxconn 1\n\ndefaults\nfrontend f from d\n bind :1\nbackend b\n");
        assert!(sink.diags.is_empty(), "{:?}", sink.diags);
        assert_eq!(s.len(), 4);
        assert_eq!(s[0].lines.len(), 1);
        assert_eq!(s[2].name.as_deref(), Some("f"));
        assert_eq!(s[2].from.as_deref(), Some("d"));
        assert_eq!(s[2].lines[0].location.line, 6);
    }

    #[test]
    fn out_of_section_and_unsupported() {
        let (s, sink) = run("maxconn 1\ncache dns\n total-max-size 4\nbackend\nbackend b x\n");
        assert!(s.len() == 1);
        let msgs: Vec<_> = sink
            .diags
            .iter()
            .map(|d| (d.location.line, d.keyword.as_str()))
            .collect();
        assert_eq!(
            msgs,
            [(1, "maxconn"), (2, "cache"), (4, "backend"), (5, "backend")]
        );
    }
}
