#!/bin/sh
# Customizes a freshly bootstrapped root tree (run on the host, as root) with the files of its
# element (buildpack-stack for the stack images, solum-services for the services image), the
# recipe's one source:
#   customize.sh ROOT SETUP SLIM [PROGRAM...]
# SETUP (the element's install.d script: for the stacks the user `app` 32767 and the builder's
# directories, for the services the volume's mount point) and SLIM (its finalise.d clean-up)
# run inside the tree as DIB runs them; each PROGRAM, a file named as the command it becomes
# (solum-start; solum-service, solum-service-url), is installed as /usr/local/bin/NAME. The
# bootstrap's downloaded packages go too.
set -eu
root="$1"
setup="$2"
slim="$3"
shift 3

run_in_root() {
  install -m 0755 "$1" "$root/solum-customize-step"
  chroot "$root" /bin/bash /solum-customize-step
  rm -f "$root/solum-customize-step"
}

run_in_root "$setup"
install -d -m 0755 "$root/usr/local/bin"
for program in "$@"; do
  install -m 0755 "$program" "$root/usr/local/bin/$(basename "$program")"
done
run_in_root "$slim"
rm -f "$root"/var/cache/apt/archives/*.deb
