#!/usr/bin/env bash
# Installs what virtfuzz needs from Debian on a Debian 12 host; idempotent, run as root.
# Why a script: CI machines start bare, and every backend test needs the real libvirt 9.0.0.
set -euo pipefail
here=$(cd "$(dirname "$0")/.." && pwd)

pkgs=(libvirt-daemon-driver-qemu libvirt-daemon libvirt-clients libvirt-dev pkg-config
      qemu-system-x86 qemu-system-ppc qemu-system-arm qemu-system-misc qemu-system-data
      gcc python3-dev python3-venv dpkg-dev
      mmdebstrap)  # makes the root filesystems of the other libvirt builds (builds/*.toml)
missing=()
for p in "${pkgs[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

# The QEMU driver refuses to start without its unprivileged user.
getent group libvirt-qemu >/dev/null || groupadd --system libvirt-qemu
getent passwd libvirt-qemu >/dev/null || \
  useradd --system -g libvirt-qemu -G kvm -d /var/lib/libvirt -s /usr/sbin/nologin libvirt-qemu 2>/dev/null || \
  useradd --system -g libvirt-qemu -d /var/lib/libvirt -s /usr/sbin/nologin libvirt-qemu

"$here/scripts/fetch-libvirt-source.sh"
