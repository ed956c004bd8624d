//! A thin `keepalived`-compatible entry used by the integration tests: `fulcrum-vrrp-test-node -f FILE -n ...`.

fn main() {
    std::process::exit(fulcrum_vrrp::cli_main(std::env::args_os().collect()));
}
