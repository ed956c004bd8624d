//! The top-level command line: `fulcrum SUBCOMMAND ...`. Each subcommand takes the flags of the tool it replaces,
//! so their arguments are passed through untouched.

use std::ffi::OsString;

use clap::{Parser, Subcommand};

/// fulcrum: an HAProxy-compatible proxy, VRRP failover and an ipvsadm-compatible L4 virtual server in one binary.
#[derive(Parser, Debug)]
#[command(name = "fulcrum", version, about, long_about = None)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand, Debug)]
enum Command {
    /// Run the load-balancing proxy from haproxy.cfg files (HAProxy's flags: -f, -c, -p, -D, -v, -vv).
    #[command(disable_help_flag = true)]
    Proxy {
        /// HAProxy-style arguments.
        #[arg(trailing_var_arg = true, allow_hyphen_values = true)]
        args: Vec<OsString>,
    },
    /// Run VRRP failover from a keepalived.conf (keepalived's flags: -f, -n, -l, -D, -t, -p, -P).
    #[command(disable_help_flag = true)]
    Keepalived {
        /// keepalived-style arguments.
        #[arg(trailing_var_arg = true, allow_hyphen_values = true)]
        args: Vec<OsString>,
    },
    /// Manage the L4 virtual server with ipvsadm's command line (-A -E -D -C -a -e -d -L -S -R -Z --set ...).
    #[command(disable_help_flag = true)]
    Ipvsadm {
        /// ipvsadm-style arguments.
        #[arg(trailing_var_arg = true, allow_hyphen_values = true)]
        args: Vec<OsString>,
    },
    /// Start three built-in HTTP backends and a balancer on 127.0.0.1, and show traffic spreading and failing over.
    Demo(crate::demo::DemoArgs),
    /// Print the MD5 digest of a web page's body, for HTTP_GET/SSL_GET `digest` (keepalived's genhash flags).
    Genhash(crate::genhash::GenhashArgs),
}

/// Parses the command line and runs the chosen subcommand; returns the exit code.
pub fn main(args: Vec<OsString>) -> u8 {
    let cli = match Cli::try_parse_from(args) {
        Ok(c) => c,
        Err(e) => {
            let _ = e.print();
            return if e.use_stderr() { 2 } else { 0 };
        }
    };
    match cli.command {
        Command::Proxy { args } => crate::proxy_cmd::main(args),
        Command::Keepalived { args } => keepalived(args),
        Command::Ipvsadm { args } => ipvsadm(args),
        Command::Demo(args) => crate::demo::main(args),
        Command::Genhash(args) => crate::genhash::main(args),
    }
}

/// Runs `fulcrum keepalived ARGS`: keepalived's command line over fulcrum's VRRP.
pub fn keepalived(args: Vec<OsString>) -> u8 {
    let mut argv = vec![OsString::from("keepalived")];
    argv.extend(args);
    u8::try_from(crate::keepalived_cmd::main(argv)).unwrap_or(1)
}

/// Runs `fulcrum ipvsadm ARGS`: ipvsadm's command line over fulcrum's L4 data plane.
pub fn ipvsadm(args: Vec<OsString>) -> u8 {
    let mut argv = vec![OsString::from("ipvsadm")];
    argv.extend(args);
    let stdin = std::io::stdin();
    let code = fulcrum_lvs::cli_main(
        argv,
        &mut stdin.lock(),
        &mut std::io::stdout().lock(),
        &mut std::io::stderr().lock(),
    );
    u8::try_from(code).unwrap_or(255)
}
