#!/bin/sh
# Customizes a freshly bootstrapped stack root tree (run on the host, as root).
#   customize.sh ROOT LAUNCHER
# Adds the unprivileged user `app` (uid/gid 32767, home /app), the directories the buildpack
# builder uses (writable by it), the launcher /usr/local/bin/solum-start, and drops apt's
# lists and caches to keep the image small.
set -eu
root="$1"
launcher="$2"

if ! grep -q '^app:' "$root/etc/group"; then
  chroot "$root" groupadd --gid 32767 app
fi
if ! grep -q '^app:' "$root/etc/passwd"; then
  chroot "$root" useradd --uid 32767 --gid 32767 --home-dir /app --no-create-home \
    --shell /bin/bash app
fi
for dir in app tmp/build tmp/cache tmp/env tmp/buildpacks; do
  install -d -o 32767 -g 32767 -m 0755 "$root/$dir"
done
chmod 1777 "$root/tmp"
install -d -m 0755 "$root/usr/local/bin"
install -m 0755 "$launcher" "$root/usr/local/bin/solum-start"
rm -rf "$root"/var/lib/apt/lists/* "$root"/var/cache/apt/*.bin \
  "$root"/var/cache/apt/archives/*.deb
