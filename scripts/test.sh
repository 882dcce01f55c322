#!/usr/bin/env bash
# Runs ecgbridge's test suite. Installs what the tests need when it is missing:
# Debian's dcmtk (echoscu/storescu/img2dcm), orthanc (the PACS peer) and dicom3tools (dciodvfy),
# and the project itself with its test extras. Extra arguments go to pytest.
set -euo pipefail
cd "$(dirname "$0")/.."

missing=()
# Absolute paths: pynetdicom installs its own storescu/echoscu scripts on PATH.
[ -x /usr/bin/storescu ] && [ -x /usr/bin/img2dcm ] || missing+=(dcmtk)
[ -x /usr/sbin/Orthanc ] || missing+=(orthanc)
[ -x /usr/bin/dciodvfy ] || missing+=(dicom3tools)
if [ ${#missing[@]} -gt 0 ]; then
    if [ "$(id -u)" = 0 ]; then
        apt-get update -qq
        DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
    else
        echo "missing Debian packages: ${missing[*]} (run: sudo apt-get install ${missing[*]})" >&2
        exit 2
    fi
fi
# The installed Orthanc service is not ours: tests start their own Orthanc on their own ports.
if [ "$(id -u)" = 0 ] && command -v service >/dev/null; then service orthanc stop >/dev/null 2>&1 || true; fi

python3 -m pip install -q -e '.[test]'
# In CI the style and type checks gate too (STYLE.md: mypy on the packages).
if [ "${CI:-}" = true ]; then
    python3 -m ruff check pipeline ecgbridge bench tests
    python3 -m mypy pipeline ecgbridge
fi
exec python3 -m pytest "$@"
