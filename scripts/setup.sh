#!/usr/bin/env bash
# One-stop set-up on a fresh Debian 12 machine: Debian packages + libvirt source (as root), then the
# project venv with tox. Idempotent: re-running only does what is missing.
set -euo pipefail
here=$(cd "$(dirname "$0")/.." && pwd)
if [ "$(id -u)" -eq 0 ]; then
  "$here/scripts/setup-host.sh"
else
  sudo "$here/scripts/setup-host.sh"
fi
py=${PYTHON:-python3}
if [ ! -x "$here/.venv/bin/python" ]; then
  "$py" -m venv "$here/.venv"
fi
"$here/.venv/bin/pip" install -q --disable-pip-version-check --upgrade pip
"$here/.venv/bin/pip" install -q --disable-pip-version-check "tox>=4,<5" -e "$here[test,lint]"
# the other real libvirt builds (builds/*.toml), each a Debian root filesystem in $VIRTFUZZ_DATA_DIR/builds;
# VIRTFUZZ_BUILDS=9.0.0,12.9.0 limits them. One that cannot be installed is reported in one line, the
# others still are (and tests that need the missing one fail).
if [ "$(id -u)" -eq 0 ]; then
  "$here/.venv/bin/virtfuzz" builds --install || echo "virtfuzz set-up: some libvirt builds are not installed (see above)" >&2
else
  sudo --preserve-env=VIRTFUZZ_DATA_DIR,VIRTFUZZ_BUILDS "$here/.venv/bin/virtfuzz" builds --install || \
    echo "virtfuzz set-up: some libvirt builds are not installed (see above)" >&2
fi
# libvirt probes each QEMU binary and fake-QEMU capability variant once, here, not inside a campaign
"$here/.venv/bin/virtfuzz" caps-warm
echo "virtfuzz set up: libvirt builds $("$here/.venv/bin/virtfuzz" builds --json | "$here/.venv/bin/python" -c 'import json, sys; print(", ".join(b["version"] for b in json.load(sys.stdin)))')"
