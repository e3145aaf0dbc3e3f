#!/bin/sh
# System programs the tests use, installed from Debian's archive when missing:
#   chromium, chromium-driver  the HTML report is checked in a real headless browser
#   postgresql                 the distributed run (dagster-postgres, Celery) is tested against a real server
#   tesseract-ocr, -fra        scanned conventions and avenants are read by OCR with the French model
# Needs root (or sudo). Does nothing when everything is there.
set -eu
missing=""
command -v chromium >/dev/null 2>&1 || missing="$missing chromium"
command -v chromedriver >/dev/null 2>&1 || missing="$missing chromium-driver"
if ! command -v initdb >/dev/null 2>&1 && ! ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1; then
  missing="$missing postgresql"
fi
command -v tesseract >/dev/null 2>&1 || missing="$missing tesseract-ocr"
if ! tesseract --list-langs 2>/dev/null | grep -qx fra; then
  missing="$missing tesseract-ocr-fra"
fi
[ -z "$missing" ] && exit 0
sudo=""
[ "$(id -u)" -eq 0 ] || sudo="sudo"
echo "system-deps: installing$missing" >&2
$sudo apt-get update -qq
DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends $missing >/dev/null
