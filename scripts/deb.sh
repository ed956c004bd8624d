#!/usr/bin/env bash
# `make deb`: the Debian package of fulcrum, built from this tree in one command.
#  1. the release binary (the same build scripts/conformance.sh and the README's demo use, so it is reused);
#  2. the man pages, generated from the binary's --help output (scripts/man-pages.sh, help2man);
#  3. the package, by cargo-deb from crates/fulcrum/Cargo.toml's [package.metadata.deb] (units from dist/systemd,
#     settings from dist/default, maintainer scripts from dist/debian);
#  4. lintian, which must report no error.
# Prints the package's path last. Missing tools (cargo-deb, help2man, lintian) are installed first.
# Usage: scripts/deb.sh [--no-lintian]
set -euo pipefail

top=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
target=${CARGO_TARGET_DIR:-$top/target}
lint=1
for a in "$@"; do
    case $a in
    --no-lintian) lint=0 ;;
    *) echo "usage: $0 [--no-lintian]" >&2; exit 2 ;;
    esac
done

say() { echo "deb: $*" >&2; }

# --- tools ---------------------------------------------------------------------------------------------------------
missing=()
command -v help2man >/dev/null || missing+=(help2man)
((lint == 0)) || command -v lintian >/dev/null || missing+=(lintian)
if ((${#missing[@]})); then
    say "installing ${missing[*]}"
    SUDO=""
    [[ $(id -u) == 0 ]] || SUDO=sudo
    DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi
if ! cargo deb --version >/dev/null 2>&1; then
    say "installing cargo-deb (cargo install, a few minutes once)"
    cargo install --locked --quiet cargo-deb
fi

# --- build ---------------------------------------------------------------------------------------------------------
say "release build"
cargo build --release --quiet --manifest-path "$top/Cargo.toml" -p fulcrum --bin fulcrum
say "man pages"
rm -rf "$target/release/man"
"$top/scripts/man-pages.sh" "$target/release/fulcrum" "$target/release/man" >&2
say "package"
out=$(cargo deb --manifest-path "$top/crates/fulcrum/Cargo.toml" --no-build --strip --quiet)
deb=$(printf '%s\n' "$out" | tail -n 1)
[[ -f $deb ]] || { say "cargo deb printed no package path: $out"; exit 1; }

# --- lintian -------------------------------------------------------------------------------------------------------
if ((lint)); then
    say "lintian $deb"
    # Errors fail the build; warnings are printed for the record.
    lintian --fail-on error --tag-display-limit 0 "$deb" >&2 || { say "lintian reported errors"; exit 1; }
fi
echo "$deb"
