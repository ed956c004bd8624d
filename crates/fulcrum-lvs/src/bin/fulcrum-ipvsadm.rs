//! `fulcrum-ipvsadm`: ipvsadm on fulcrum's data plane (also what `fulcrum ipvsadm` runs).

fn main() {
    let stdin = std::io::stdin();
    let mut input = stdin.lock();
    let code = fulcrum_lvs::cli_main(
        std::env::args_os().collect(),
        &mut input,
        &mut std::io::stdout(),
        &mut std::io::stderr(),
    );
    std::process::exit(code);
}
