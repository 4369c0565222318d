#!/bin/sh
# Customizes a freshly bootstrapped services root tree (run on the host, as root) with the
# files of the solum-services element, the recipe's one source:
#   services-customize.sh ROOT SETUP SLIM SERVICE SERVICE_URL
# SETUP (install.d/50-services-setup: the volume's mount point, none of the packages' default
# data) and SLIM (finalise.d/95-services-slim) run inside the tree as DIB runs them; SERVICE
# and SERVICE_URL become /usr/local/bin/solum-service and solum-service-url. The bootstrap's
# downloaded packages go too.
set -eu
root="$1"
setup="$2"
slim="$3"
service="$4"
service_url="$5"

run_in_root() {
  install -m 0755 "$1" "$root/solum-services-step"
  chroot "$root" /bin/bash /solum-services-step
  rm -f "$root/solum-services-step"
}

run_in_root "$setup"
install -d -m 0755 "$root/usr/local/bin"
install -m 0755 "$service" "$root/usr/local/bin/solum-service"
install -m 0755 "$service_url" "$root/usr/local/bin/solum-service-url"
run_in_root "$slim"
rm -f "$root"/var/cache/apt/archives/*.deb
