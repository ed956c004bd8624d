//! `program NAME` sections: commands the master process starts and supervises (master-worker mode, `-W`).

use super::common::{Line, Sink};
use super::model::Program;
use crate::Location;

/// Parses the lines of `program NAME` into `programs`; a second section of the same name is refused, as in
/// HAProxy 2.6.
pub fn section(
    name: &str,
    location: &Location,
    lines: &[Line],
    programs: &mut Vec<Program>,
    sink: &mut Sink,
) {
    if programs.iter().any(|p| p.name == name) {
        sink.error(
            location,
            "program",
            format!("'{name}' program section already exists in the configuration."),
        );
        return;
    }
    let mut p = Program {
        name: name.to_string(),
        command: Vec::new(),
        user: None,
        group: None,
        start_on_reload: false,
        location: location.clone(),
    };
    let before = sink.diags.len();
    for line in lines {
        keyword(&mut p, line, sink);
    }
    // Checked once the section parsed cleanly (HAProxy checks it after parsing).
    if p.command.is_empty() && sink.diags.len() == before {
        sink.error(
            location,
            "program",
            format!("The program section '{name}' lacks a command to launch."),
        );
    }
    programs.push(p);
}

fn keyword(p: &mut Program, line: &Line, sink: &mut Sink) {
    let loc = &line.location;
    let kw = line.word(0);
    match kw {
        "command" => {
            if line.words.len() < 2 || line.word(1).is_empty() {
                sink.error(
                    loc,
                    kw,
                    "'command' expects a command with optional arguments separated in words.",
                );
                return;
            }
            p.command = line.words[1..].to_vec();
        }
        "user" | "group" => {
            let Some(v) = line.words.get(1).filter(|v| !v.is_empty()) else {
                sink.error(loc, kw, format!("'{kw}' expects a {kw} name."));
                return;
            };
            if sink.max_args(line, kw, 1, 1) {
                if kw == "user" {
                    p.user = Some(v.clone());
                } else {
                    p.group = Some(v.clone());
                }
            }
        }
        "option" | "no" => {
            let negate = kw == "no";
            let (opt_kw, name) = if negate {
                (line.word(1), line.word(2))
            } else {
                ("option", line.word(1))
            };
            if opt_kw != "option" {
                sink.error(
                    loc,
                    kw,
                    format!("unknown keyword '{kw}' in 'program' section"),
                );
                return;
            }
            if name != "start-on-reload" {
                sink.error(loc, "option", format!("unknown option '{name}'."));
                return;
            }
            let shown = if negate {
                "no option start-on-reload"
            } else {
                "option start-on-reload"
            };
            if sink.max_args(line, shown, if negate { 3 } else { 2 }, 0) {
                p.start_on_reload = !negate;
            }
        }
        _ => sink.error(
            loc,
            kw,
            format!("unknown keyword '{kw}' in 'program' section"),
        ),
    }
}
