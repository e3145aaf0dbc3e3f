#!/bin/sh
# System programs from Debian's archive, installed when missing. Needs root (or sudo). Does nothing when
# everything is there.
#   sh scripts/system-deps.sh        what the tests use: all of the below
#   sh scripts/system-deps.sh run    what a run uses: tesseract only
#
#   tesseract-ocr, -fra        scanned conventions and avenants are read by OCR with the French model (run, tests)
#   chromium, chromium-driver  the HTML report is checked in a real headless browser (tests)
#   postgresql                 the distributed run (dagster-postgres, Celery) is tested against a real server (tests)
set -eu
missing=""
command -v tesseract >/dev/null 2>&1 || missing="$missing tesseract-ocr"
if ! tesseract --list-langs 2>/dev/null | grep -qx fra; then
  missing="$missing tesseract-ocr-fra"
fi
if [ "${1:-tests}" != "run" ]; then
  command -v chromium >/dev/null 2>&1 || missing="$missing chromium"
  command -v chromedriver >/dev/null 2>&1 || missing="$missing chromium-driver"
  if ! command -v initdb >/dev/null 2>&1 && ! ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1; then
    missing="$missing postgresql"
  fi
fi
[ -z "$missing" ] && exit 0
sudo=""
[ "$(id -u)" -eq 0 ] || sudo="sudo"
echo "system-deps: installing$missing" >&2
$sudo apt-get update -qq
DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends $missing >/dev/null
