#!/bin/bash
# shellcheck disable=SC2154 # dracut sets moddir and systemdsystemunitdir before it calls these
# solum-ignition: makes Debian's Ignition (30ignition) work on a Debian root: a no-op
# setfiles (Debian's Ignition always relabels for SELinux), /sysroot/etc/selinux/config present
# during the files stage, and ssh keys written to ~/.ssh/authorized_keys (Debian's sshd does
# not read authorized_keys.d).

check() {
    return 0
}

depends() {
    echo ignition
}

install() {
    inst_simple "$moddir/setfiles" /usr/sbin/setfiles
    inst_simple "$moddir/solum-selinux-config" /usr/sbin/solum-selinux-config
    inst_simple "$moddir/ignition-files-solum.conf" \
        "$systemdsystemunitdir/ignition-files.service.d/50-solum.conf"
}
