//! Log output: `tracing` to stderr, level from `RUST_LOG` or the verbosity asked on the command line.

use tracing_subscriber::EnvFilter;

/// Starts logging to stderr at `default` level unless `RUST_LOG` says otherwise.
pub fn init(default: &str) {
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new(default));
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_target(false)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .try_init();
}
