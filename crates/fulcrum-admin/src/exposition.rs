//! The pieces of Prometheus' text exposition format (0.0.4) that the metrics pages of the VRRP job, the L4 table
//! and keepalived's checkers share: a family's `# HELP`/`# TYPE` head and one sample line with escaped labels;
//! and [`parse`], which reads such pages back (the cluster page reads the directors' endpoints with it). The
//! parser is ours, some fifty lines, because it only ever reads what fulcrum writes: sample lines with optional
//! labels and a value, no timestamps needed, comments skipped.

use std::fmt::{Display, Write};

/// Writes a family's head: `# HELP name help` and `# TYPE name kind`.
pub fn head(out: &mut String, name: &str, kind: &str, help: &str) {
    let _ = writeln!(out, "# HELP {name} {help}");
    let _ = writeln!(out, "# TYPE {name} {kind}");
}

/// Writes one sample: `name{k="v",...} value`, label values escaped (`\`, `"`, newline).
pub fn sample<V: AsRef<str>>(
    out: &mut String,
    name: &str,
    labels: &[(&str, V)],
    value: impl Display,
) {
    out.push_str(name);
    if !labels.is_empty() {
        out.push('{');
        for (n, (k, v)) in labels.iter().enumerate() {
            if n > 0 {
                out.push(',');
            }
            out.push_str(k);
            out.push_str("=\"");
            escape_into(out, v.as_ref());
            out.push('"');
        }
        out.push('}');
    }
    let _ = writeln!(out, " {value}");
}

/// Appends `v` escaped as a label value.
fn escape_into(out: &mut String, v: &str) {
    for c in v.chars() {
        match c {
            '\\' => out.push_str("\\\\"),
            '"' => out.push_str("\\\""),
            '\n' => out.push_str("\\n"),
            c => out.push(c),
        }
    }
}

/// One sample of a page: its name, labels in the page's order, and value.
#[derive(Debug, Clone, PartialEq)]
pub struct Sample {
    pub name: String,
    pub labels: Vec<(String, String)>,
    pub value: f64,
}

impl Sample {
    /// The value of label `key`, if the sample has it.
    pub fn label(&self, key: &str) -> Option<&str> {
        self.labels
            .iter()
            .find(|(k, _)| k == key)
            .map(|(_, v)| v.as_str())
    }
}

/// The samples of an exposition page; a line that is not a sample (comments, blanks, anything malformed) is
/// skipped, so a page cut short yields what it had.
pub fn parse(page: &str) -> Vec<Sample> {
    page.lines().filter_map(parse_line).collect()
}

fn parse_line(line: &str) -> Option<Sample> {
    let line = line.trim();
    if line.is_empty() || line.starts_with('#') {
        return None;
    }
    let name_end = line.find(|c: char| c == '{' || c.is_whitespace())?;
    let name = &line[..name_end];
    let mut rest = &line[name_end..];
    let mut labels = Vec::new();
    if let Some(r) = rest.strip_prefix('{') {
        let mut chars = r.char_indices().peekable();
        let end;
        loop {
            // A label: name="value", then ',' or '}'.
            while chars
                .peek()
                .is_some_and(|(_, c)| *c == ',' || c.is_whitespace())
            {
                chars.next();
            }
            match chars.peek() {
                Some((i, '}')) => {
                    end = *i + 1;
                    break;
                }
                None => return None,
                _ => {}
            }
            let mut key = String::new();
            for (_, c) in chars.by_ref() {
                if c == '=' {
                    break;
                }
                key.push(c);
            }
            if chars.next().map(|(_, c)| c) != Some('"') {
                return None;
            }
            let mut value = String::new();
            loop {
                match chars.next()?.1 {
                    '"' => break,
                    '\\' => match chars.next()?.1 {
                        'n' => value.push('\n'),
                        c => value.push(c),
                    },
                    c => value.push(c),
                }
            }
            labels.push((key.trim().to_string(), value));
        }
        rest = &r[end..];
    }
    let value = rest.split_whitespace().next()?;
    let value = match value {
        "+Inf" => f64::INFINITY,
        "-Inf" => f64::NEG_INFINITY,
        v => v.parse().ok()?,
    };
    Some(Sample {
        name: name.to_string(),
        labels,
        value,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn labels_are_escaped_and_values_written() {
        let mut o = String::new();
        head(&mut o, "x_total", "counter", "Things.");
        sample(&mut o, "x_total", &[("a", "q\"\\\n"), ("b", "2")], 7);
        sample::<&str>(&mut o, "x_total", &[], 1.5);
        assert_eq!(
            o,
            "# HELP x_total Things.\n# TYPE x_total counter\nx_total{a=\"q\\\"\\\\\\n\",b=\"2\"} 7\nx_total 1.5\n"
        );
        // What is written reads back the same.
        let read = parse(&o);
        assert_eq!(read.len(), 2);
        assert_eq!(read[0].name, "x_total");
        assert_eq!(read[0].label("a"), Some("q\"\\\n"));
        assert_eq!(read[0].label("b"), Some("2"));
        assert_eq!(read[0].value, 7.0);
        assert_eq!((read[1].labels.len(), read[1].value), (0, 1.5));
    }

    #[test]
    fn malformed_lines_are_skipped() {
        let page =
            "a{x=\"1\" 2\nb{x=1} 3\nc{x=\"1\"}\nd{} 4\ne 5 1700000000\nf +Inf\ng{x=\"}\"} 6\n";
        let read = parse(page);
        let names: Vec<&str> = read.iter().map(|s| s.name.as_str()).collect();
        assert_eq!(names, ["d", "e", "f", "g"]);
        assert_eq!(read[2].value, f64::INFINITY);
        assert_eq!(read[3].label("x"), Some("}"));
    }
}
