# solum-image vm element: no initramfs while packages install. The kernel's postinst and
# initramfs-tools' triggers would each make one (twice the ~5 s of a cold build, the first
# maybe before zstd is there); finalise.d/50-vm-kernel-check makes it once, with the final tree.
export INITRD=No
