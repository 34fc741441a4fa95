#!/usr/bin/env bash
# Soak the membership layer off CI: many random fault schedules in the simulator.
# Usage: ci/sweep.sh [SEEDS] [START]   (defaults: 10000 seeds from 0)
# Every failing seed is printed with the `ha sim totem ...` command that replays it.
set -euo pipefail
seeds=${1:-10000}
start=${2:-0}
exec ha sim sweep --seeds "$seeds" --start "$start" --jobs "$(nproc)" --duration 60s
