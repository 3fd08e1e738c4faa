# Shared helpers for Mayfly's set-up scripts. Source it; do not run it.
set -euo pipefail

MAYFLY_STATE_DIR="${MAYFLY_STATE_DIR:-/var/lib/mayfly}"
MAYFLY_LOG_DIR="${MAYFLY_LOG_DIR:-$MAYFLY_STATE_DIR/log}"
MAYFLY_REGISTRY="${MAYFLY_REGISTRY:-127.0.0.1:5000}"
mkdir -p "$MAYFLY_STATE_DIR" "$MAYFLY_LOG_DIR"

say()  { printf '\033[1;34m[mayfly]\033[0m %s\n' "$*" >&2; }
warn() { printf '\033[1;33m[mayfly]\033[0m %s\n' "$*" >&2; }
die()  { printf '\033[1;31m[mayfly] error:\033[0m %s\n' "$*" >&2; exit 1; }

APT_UPDATED=0
# apt_install PKG... : install Debian packages that are not installed yet.
apt_install() {
  local missing=()
  for p in "$@"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing+=("$p")
  done
  [ ${#missing[@]} -eq 0 ] && return 0
  [ "$(id -u)" = 0 ] || die "missing Debian packages: ${missing[*]}; run as root or install them yourself"
  if [ "$APT_UPDATED" = 0 ]; then
    say "apt-get update"
    apt-get update -qq >"$MAYFLY_LOG_DIR/apt.log" 2>&1 || die "apt-get update failed, see $MAYFLY_LOG_DIR/apt.log"
    APT_UPDATED=1
  fi
  say "installing ${missing[*]}"
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" \
    >>"$MAYFLY_LOG_DIR/apt.log" 2>&1 || die "apt-get install ${missing[*]} failed, see $MAYFLY_LOG_DIR/apt.log"
}

# wait_for SECONDS DESCRIPTION COMMAND... : poll COMMAND until it succeeds.
wait_for() {
  local secs="$1" what="$2"; shift 2
  local i=0
  until "$@" >/dev/null 2>&1; do
    i=$((i + 1))
    [ "$i" -ge $((secs * 4)) ] && return 1
    sleep 0.25
  done
  return 0
}
