//! The pieces of Prometheus' text exposition format (0.0.4) that the metrics pages of the VRRP job, the L4 table
//! and keepalived's checkers share: a family's `# HELP`/`# TYPE` head and one sample line with escaped labels.

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
    }
}
