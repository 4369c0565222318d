#!/bin/sh
# Customizes a freshly bootstrapped stack root tree (run on the host, as root) with the files
# of the buildpack-stack element, the recipe's one source:
#   customize.sh ROOT LAUNCHER USER_SETUP SLIM
# USER_SETUP (install.d/50-stack-user: the user `app` 32767 and the builder's directories) and
# SLIM (finalise.d/95-stack-slim: no apt lists or caches) run inside the tree as DIB runs them;
# LAUNCHER becomes /usr/local/bin/solum-start. The bootstrap's downloaded packages go too.
set -eu
root="$1"
launcher="$2"
user_setup="$3"
slim="$4"

run_in_root() {
  install -m 0755 "$1" "$root/solum-stack-step"
  chroot "$root" /bin/bash /solum-stack-step
  rm -f "$root/solum-stack-step"
}

run_in_root "$user_setup"
install -d -m 0755 "$root/usr/local/bin"
install -m 0755 "$launcher" "$root/usr/local/bin/solum-start"
run_in_root "$slim"
rm -f "$root"/var/cache/apt/archives/*.deb
