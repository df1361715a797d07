#!/usr/bin/env bash
# Runs bin/ipfs daemon with threads ready: initialises the repo at
# $IPFS_PATH (default ~/.ipfs) if there is none, turns pubsub on, and starts
# the daemon in the foreground.
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
ipfs="$root/bin/ipfs"
[ -x "$ipfs" ] || "$root/build.sh"
repo="${IPFS_PATH:-$HOME/.ipfs}"
if [ ! -f "$repo/config" ]; then
	"$ipfs" init ${IPFS_PROFILE:+--profile="$IPFS_PROFILE"}
fi
"$ipfs" config --json Pubsub.Enabled true
exec "$ipfs" daemon "$@"
