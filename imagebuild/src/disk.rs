//! The raw disk output, assembled from files alone (no loop device, no
//! mount): GPT by sfdisk on the plain file, the root ext4 written in place
//! by `mkfs.ext4 -E offset= -d TREE`, the ESP made by mkfs.vfat + mtools
//! and copied in, GRUB images from grub-mkimage with an embedded config that
//! finds the root by UUID, and the BIOS boot code patched in (`bootcode`).

use crate::bootcode::{self, BootCodeError};
use crate::cmd::{self, CmdError};
use crate::layout::{self, Layout, LayoutError};
use std::fs;
use std::io::{Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

/// Why a disk could not be made.
#[derive(Debug, thiserror::Error)]
pub enum DiskError {
    #[error("{path}: {source}")]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error(transparent)]
    Cmd(#[from] CmdError),
    #[error(transparent)]
    Layout(#[from] LayoutError),
    #[error(transparent)]
    BootCode(#[from] BootCodeError),
    #[error("disk outputs need a kernel and initramfs in /boot of the tree (add the vm element); found {0}")]
    NoKernel(String),
}

fn derr(path: &Path) -> impl FnOnce(std::io::Error) -> DiskError + '_ {
    move |source| DiskError::Io {
        path: path.to_path_buf(),
        source,
    }
}

/// Identity of the disk's file systems, derived from the plan hash so
/// equal plans give equal disks.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Ids {
    pub root_uuid: String,
    /// vfat volume id, 8 hex digits.
    pub esp_id: String,
    pub root_label: String,
}

impl Ids {
    /// From a 64-hex-digit plan hash (pure).
    pub fn from_hash(hash: &str, root_label: &str) -> Ids {
        let h: String = hash.chars().filter(|c| c.is_ascii_hexdigit()).collect();
        let h = format!("{h:0<40}");
        // RFC 4122 version 4 / variant bits so tools accept it.
        let uuid = format!(
            "{}-{}-4{}-8{}-{}",
            &h[0..8],
            &h[8..12],
            &h[13..16],
            &h[17..20],
            &h[20..32]
        );
        Ids {
            root_uuid: uuid,
            esp_id: h[32..40].to_string(),
            root_label: root_label.to_string(),
        }
    }
}

/// How the disk files are made: disk-image-create's `--mkfs-options`,
/// `--qemu-img-options` and `-u`. Not part of the plan: the tree is the same.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DiskOptions {
    /// Extra arguments to the root file system's `mkfs.ext4`, before ours.
    pub mkfs_options: Vec<String>,
    /// `qemu-img convert -o` options (comma-separated `key=value`).
    pub qemu_img_options: Option<String>,
    /// Compress the qcow2 (DIB does unless `-u`).
    pub compress: bool,
}

impl Default for DiskOptions {
    fn default() -> DiskOptions {
        DiskOptions {
            mkfs_options: Vec::new(),
            qemu_img_options: None,
            compress: true,
        }
    }
}

/// The `qemu-img convert` arguments for a qcow2 from a raw disk (pure):
/// compressed with zstd unless `-u`; the caller's `-o` options after ours,
/// so they win where both say something.
pub fn qemu_img_args(opts: &DiskOptions, progress: bool) -> Vec<String> {
    let mut args: Vec<String> = vec!["convert".into()];
    if progress {
        args.push("-p".into());
    }
    if opts.compress {
        args.push("-c".into());
    }
    args.extend(["-W", "-m", "16", "-f", "raw", "-O", "qcow2"].map(String::from));
    let mut o: Vec<&str> = Vec::new();
    if opts.compress {
        o.push("compression_type=zstd");
    }
    if let Some(extra) = opts.qemu_img_options.as_deref().filter(|s| !s.is_empty()) {
        o.push(extra);
    }
    if !o.is_empty() {
        args.push("-o".into());
        args.push(o.join(","));
    }
    args
}

/// Extra kernel arguments an element can ask for: the tree's `/etc/solum-image/cmdline` (one
/// line; e.g. the `coreos-like` element's `ignition.firstboot ignition.platform.id=qemu`).
pub const EXTRA_CMDLINE: &str = "etc/solum-image/cmdline";

/// The extra kernel arguments, as one line of printable text (pure).
pub fn extra_cmdline(text: &str) -> String {
    text.split_whitespace()
        .filter(|a| {
            a.chars()
                .all(|c| c.is_ascii_graphic() && c != '\'' && c != '"')
        })
        .collect::<Vec<_>>()
        .join(" ")
}

/// GRUB's config in the tree (pure).
pub fn grub_cfg(ids: &Ids, kernel_version: &str) -> String {
    grub_cfg_with(ids, kernel_version, "")
}

/// GRUB's config with extra kernel arguments (pure).
///
/// Two choices here are worth seconds of boot under emulation (measured in
/// `bench/image-boot-report.sh`): `timeout_style=menu` with a zero timeout
/// boots at once, where Debian's GRUB still waits 3 s with `hidden`; and on
/// BIOS, `linux16` loads the kernel at 1 MiB and starts it there, where
/// `linux` loads it elsewhere and then moves its whole 50 MiB working size
/// byte by byte to 16 MiB before starting it.
pub fn grub_cfg_with(ids: &Ids, kernel_version: &str, extra: &str) -> String {
    let extra = extra_cmdline(extra);
    let extra = if extra.is_empty() {
        String::new()
    } else {
        format!(" {extra}")
    };
    let args = format!(
        "root=UUID={uuid} ro console=tty0 console=ttyS0,115200n8 systemd.show_status=auto{extra}",
        uuid = ids.root_uuid
    );
    format!(
        "# solum-image: boots the root file system by UUID.\n\
         serial --unit=0 --speed=115200\n\
         terminal_input console serial\n\
         terminal_output console serial\n\
         set timeout_style=menu\n\
         set timeout=0\n\
         set default=0\n\
         search --no-floppy --fs-uuid --set=root {uuid}\n\
         menuentry 'Debian GNU/Linux' {{\n\
         \x20   if [ \"$grub_platform\" = pc ]; then\n\
         \x20       linux16 /boot/vmlinuz-{v} {args}\n\
         \x20       initrd16 /boot/initrd.img-{v}\n\
         \x20   else\n\
         \x20       linux /boot/vmlinuz-{v} {args}\n\
         \x20       initrd /boot/initrd.img-{v}\n\
         \x20   fi\n\
         }}\n",
        uuid = ids.root_uuid,
        v = kernel_version
    )
}

/// The config embedded in the GRUB images (pure).
pub fn early_cfg(ids: &Ids) -> String {
    format!(
        "search --no-floppy --fs-uuid --set=root {}\nset prefix=($root)/boot/grub\n",
        ids.root_uuid
    )
}

/// Modules built into both GRUB images (nothing is read from the disk).
const GRUB_MODULES: &[&str] = &[
    "part_gpt",
    "part_msdos",
    "ext2",
    "fat",
    "search",
    "search_fs_uuid",
    "configfile",
    "normal",
    "linux",
    "echo",
    "test",
    "gzio",
    "serial",
    "terminal",
    "boot",
    "ls",
    "cat",
    "halt",
    "reboot",
];

/// The newest kernel version with an initramfs in `tree/boot` (sorted by
/// `sort -V`-like comparison of the version strings).
pub fn kernel_version(tree: &Path) -> Result<String, DiskError> {
    let boot = tree.join("boot");
    let mut versions: Vec<String> = fs::read_dir(&boot)
        .map_err(derr(&boot))?
        .filter_map(|e| e.ok())
        .filter_map(|e| {
            e.file_name()
                .to_str()
                .and_then(|n| n.strip_prefix("vmlinuz-"))
                .map(String::from)
        })
        .filter(|v| boot.join(format!("initrd.img-{v}")).is_file())
        .collect();
    versions.sort_by(|a, b| version_cmp(a, b));
    versions
        .pop()
        .ok_or_else(|| DiskError::NoKernel(format!("nothing usable in {}", boot.display())))
}

/// Compare version strings: digit runs numerically, the rest bytewise.
fn version_cmp(a: &str, b: &str) -> std::cmp::Ordering {
    let split = |s: &str| -> Vec<(bool, String)> {
        let mut out: Vec<(bool, String)> = Vec::new();
        for c in s.chars() {
            let d = c.is_ascii_digit();
            match out.last_mut() {
                Some((kind, run)) if *kind == d => run.push(c),
                _ => out.push((d, c.to_string())),
            }
        }
        out
    };
    let (pa, pb) = (split(a), split(b));
    for (x, y) in pa.iter().zip(pb.iter()) {
        let o = if x.0 && y.0 {
            let (xs, ys) = (x.1.trim_start_matches('0'), y.1.trim_start_matches('0'));
            xs.len().cmp(&ys.len()).then_with(|| xs.cmp(ys))
        } else {
            x.1.cmp(&y.1)
        };
        if o != std::cmp::Ordering::Equal {
            return o;
        }
    }
    pa.len().cmp(&pb.len())
}

fn du_bytes(tree: &Path) -> Result<u64, DiskError> {
    let out = cmd::run(Command::new("du").args(["-s", "-B1", "-x"]).arg(tree))?;
    let text = String::from_utf8_lossy(&out);
    text.split_whitespace()
        .next()
        .and_then(|n| n.parse().ok())
        .ok_or_else(|| {
            derr(tree)(std::io::Error::other(format!(
                "cannot parse du output '{text}'"
            )))
        })
}

fn write_at(disk: &Path, offset: u64, data: &[u8]) -> Result<(), DiskError> {
    let mut f = fs::OpenOptions::new()
        .write(true)
        .open(disk)
        .map_err(derr(disk))?;
    f.seek(SeekFrom::Start(offset)).map_err(derr(disk))?;
    f.write_all(data).map_err(derr(disk))
}

fn read_at(disk: &Path, offset: u64, len: usize) -> Result<Vec<u8>, DiskError> {
    let mut f = fs::File::open(disk).map_err(derr(disk))?;
    f.seek(SeekFrom::Start(offset)).map_err(derr(disk))?;
    let mut buf = vec![0u8; len];
    f.read_exact(&mut buf).map_err(derr(disk))?;
    Ok(buf)
}

fn sfdisk(disk: &Path, script: &str) -> Result<(), DiskError> {
    let mut c = Command::new("sfdisk");
    c.args([
        "--quiet",
        "--no-reread",
        "--no-tell-kernel",
        "--wipe",
        "always",
    ])
    .arg(disk);
    let line = cmd::describe(&c);
    let mut child = c
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(|source| CmdError::Spawn {
            cmdline: line.clone(),
            source,
        })?;
    if let Some(mut stdin) = child.stdin.take() {
        stdin.write_all(script.as_bytes()).map_err(derr(disk))?;
    }
    let out = child.wait_with_output().map_err(derr(disk))?;
    if !out.status.success() {
        return Err(cmd::failed(line, &out.status, &out.stderr, 20).into());
    }
    Ok(())
}

/// Write `/boot/grub/grub.cfg` into `tree` when it holds a kernel (the last
/// step of a tree that a disk can boot); false when it holds none. Equal
/// plans give equal `ids`, so the cached tree is exactly the disk's root
/// file system. Symlinks on the way are refused, never followed out of it.
pub fn write_boot_config(tree: &Path, ids: &Ids) -> Result<bool, DiskError> {
    let Ok(kver) = kernel_version(tree) else {
        return Ok(false);
    };
    let grub_dir = crate::mounts::safe_dir(tree, "boot/grub").map_err(|e| DiskError::Io {
        path: tree.join("boot/grub"),
        source: std::io::Error::other(e.to_string()),
    })?;
    let cfg = grub_dir.join("grub.cfg");
    if fs::symlink_metadata(&cfg).is_ok_and(|m| !m.is_file()) {
        fs::remove_file(&cfg).map_err(derr(&cfg))?;
    }
    let extra = read_in_tree(tree, EXTRA_CMDLINE).unwrap_or_default();
    fs::write(&cfg, grub_cfg_with(ids, &kver, &extra)).map_err(derr(&cfg))?;
    Ok(true)
}

/// A small regular file of the tree, not through a symlink (None otherwise).
fn read_in_tree(tree: &Path, rel: &str) -> Option<String> {
    let mut cur = tree.to_path_buf();
    for part in rel.split('/') {
        cur.push(part);
        if fs::symlink_metadata(&cur).ok()?.file_type().is_symlink() {
            return None;
        }
    }
    let text = fs::read(&cur).ok()?;
    (text.len() <= 4096).then(|| String::from_utf8_lossy(&text).into_owned())
}

/// Make a raw disk at `out` from the finished `tree` (read only: it gets its
/// grub.cfg from `write_boot_config`). `work` is a scratch directory.
pub fn assemble_raw(
    tree: &Path,
    ids: &Ids,
    opts: &DiskOptions,
    image_bytes: Option<u64>,
    work: &Path,
    out: &Path,
) -> Result<Layout, DiskError> {
    kernel_version(tree)?;
    let cfg = tree.join("boot/grub/grub.cfg");
    if !cfg.is_file() {
        return Err(DiskError::NoKernel(format!(
            "{} is missing (the tree was not finished for a disk)",
            cfg.display()
        )));
    }
    let used = du_bytes(tree)?;
    let l = layout::plan(used, image_bytes)?;
    let (bios, esp, root) = (&l.partitions[0], &l.partitions[1], &l.partitions[2]);

    let f = fs::File::create(out).map_err(derr(out))?;
    f.set_len(l.disk_bytes).map_err(derr(out))?;
    drop(f);
    sfdisk(out, &layout::sfdisk_script(&l))?;

    let bar = crate::progress::FileBar::new(
        "disk: root file system",
        out,
        used,
        crate::progress::Measure::Allocated,
    );
    cmd::run(
        Command::new("mkfs.ext4")
            .args(&opts.mkfs_options)
            .args(["-q", "-F", "-L", &ids.root_label, "-U", &ids.root_uuid])
            .arg("-E")
            .arg(format!("offset={}", root.offset_bytes()))
            .arg("-d")
            .arg(tree)
            .arg(out)
            .arg(format!("{}k", root.size_bytes() / 1024)),
    )?;

    drop(bar);
    crate::progress::step("disk: boot loader");
    let early = work.join("early.cfg");
    fs::write(&early, early_cfg(ids)).map_err(derr(&early))?;
    let efi = work.join("BOOTX64.EFI");
    cmd::run(
        Command::new("grub-mkimage")
            .args(["-O", "x86_64-efi", "-p", "/boot/grub", "-c"])
            .arg(&early)
            .arg("-o")
            .arg(&efi)
            .args(GRUB_MODULES)
            .args(["efi_gop", "all_video"]),
    )?;
    // The ESP is made in place too: mkfs.vfat and mtools at the partition's
    // offset, so the disk file stays sparse.
    cmd::run(
        Command::new("mkfs.vfat")
            .args(["-F", "32", "-n", "EFI", "-i", &ids.esp_id])
            .arg(format!("--offset={}", esp.start_lba))
            .arg(out)
            .arg(format!("{}", esp.size_bytes() / 1024)),
    )?;
    let img = format!("{}@@{}", out.display(), esp.offset_bytes());
    cmd::run(Command::new("mmd").args(["-i", &img, "::/EFI", "::/EFI/BOOT"]))?;
    cmd::run(
        Command::new("mcopy")
            .args(["-i", &img])
            .arg(&efi)
            .arg("::/EFI/BOOT/BOOTX64.EFI"),
    )?;

    let core = work.join("core.img");
    cmd::run(
        Command::new("grub-mkimage")
            .args(["-O", "i386-pc", "-p", "/boot/grub", "-c"])
            .arg(&early)
            .arg("-o")
            .arg(&core)
            .args(["biosdisk", "linux16"])
            .args(GRUB_MODULES),
    )?;
    let core_bytes = fs::read(&core).map_err(derr(&core))?;
    let patched = bootcode::patch_core(&core_bytes, bios.start_lba, bios.size_bytes() as usize)?;
    write_at(out, bios.offset_bytes(), &patched)?;
    let boot_img_path = Path::new("/usr/lib/grub/i386-pc/boot.img");
    let boot_img = fs::read(boot_img_path).map_err(derr(boot_img_path))?;
    let sector0 = read_at(out, 0, 512)?;
    let mbr = bootcode::patch_mbr(&boot_img, &sector0, bios.start_lba)?;
    write_at(out, 0, &mbr)?;
    Ok(l)
}

/// `raw` to qcow2 (compressed with zstd unless `-u`; parallel, out of
/// order: fast), with a bar from qemu-img's own progress on a terminal.
pub fn convert_qcow2(raw: &Path, out: &Path, opts: &DiskOptions) -> Result<(), DiskError> {
    let progress = crate::progress::enabled();
    let mut c = Command::new("qemu-img");
    c.args(qemu_img_args(opts, progress)).arg(raw).arg(out);
    if !progress {
        cmd::run(&mut c)?;
        return Ok(());
    }
    let bar = crate::progress::Percent::new("qcow2");
    cmd::run_reporting(&mut c, &mut |chunk| {
        if let Some(p) = crate::progress::qemu_img_percent(chunk) {
            bar.set(p);
        }
    })?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_from_hash_are_stable_and_valid() {
        let h = "0c5548af2d2c1604a5bc02af19cb1c2bd7b06dd519aeead4b5d699e1270be3ce";
        let a = Ids::from_hash(h, "cloudimg-rootfs");
        assert_eq!(a, Ids::from_hash(h, "cloudimg-rootfs"));
        assert_eq!(a.root_uuid, "0c5548af-2d2c-4604-85bc-02af19cb1c2b");
        assert_eq!(a.esp_id, "d7b06dd5");
    }

    #[test]
    fn qemu_img_arguments_follow_dib() {
        let d = DiskOptions::default();
        assert_eq!(
            qemu_img_args(&d, false).join(" "),
            "convert -c -W -m 16 -f raw -O qcow2 -o compression_type=zstd"
        );
        let u = DiskOptions {
            compress: false,
            qemu_img_options: Some("cluster_size=128k".into()),
            ..DiskOptions::default()
        };
        assert_eq!(
            qemu_img_args(&u, true).join(" "),
            "convert -p -W -m 16 -f raw -O qcow2 -o cluster_size=128k"
        );
        let both = DiskOptions {
            qemu_img_options: Some("lazy_refcounts=on".into()),
            ..DiskOptions::default()
        };
        assert!(qemu_img_args(&both, false)
            .join(" ")
            .ends_with("-o compression_type=zstd,lazy_refcounts=on"));
    }

    #[test]
    fn configs() {
        let ids = Ids::from_hash(&"a".repeat(64), "cloudimg-rootfs");
        let e = grub_cfg_with(
            &ids,
            "6",
            "ignition.firstboot  ignition.platform.id=qemu\n'x\n",
        );
        assert!(
            e.contains("console=ttyS0,115200n8 systemd.show_status=auto ignition.firstboot ignition.platform.id=qemu\n"),
            "{e}"
        );
        let g = grub_cfg(&ids, "6.1.0-50-cloud-amd64");
        for cmd in ["linux16", "linux"] {
            assert!(g.contains(&format!("    {cmd} /boot/vmlinuz-6.1.0-50-cloud-amd64 root=UUID=aaaaaaaa-aaaa-4aaa-8aaa-aaaaaaaaaaaa ro")), "{g}");
        }
        for cmd in ["initrd16", "initrd"] {
            assert!(
                g.contains(&format!(
                    "    {cmd} /boot/initrd.img-6.1.0-50-cloud-amd64\n"
                )),
                "{g}"
            );
        }
        assert!(g.contains("if [ \"$grub_platform\" = pc ]; then\n"), "{g}");
        // Boot time under TCG: no menu wait (Debian's GRUB waits 3 s with `hidden`), no
        // systemd status chatter on the serial console (kernel messages stay: tests look
        // for the disks there).
        assert!(g.contains("set timeout_style=menu\nset timeout=0\n"), "{g}");
        assert!(
            g.contains("console=ttyS0,115200n8 systemd.show_status=auto\n"),
            "{g}"
        );
        assert!(early_cfg(&ids).starts_with("search --no-floppy --fs-uuid --set=root aaaaaaaa-"));
    }

    #[test]
    fn kernel_versions_sorted_numerically() {
        let t = tempfile::tempdir().unwrap();
        let b = t.path().join("boot");
        fs::create_dir_all(&b).unwrap();
        for v in [
            "6.1.0-9-cloud-amd64",
            "6.1.0-10-cloud-amd64",
            "6.1.0-11-cloud-amd64",
        ] {
            fs::write(b.join(format!("vmlinuz-{v}")), "k").unwrap();
        }
        for v in ["6.1.0-9-cloud-amd64", "6.1.0-10-cloud-amd64"] {
            fs::write(b.join(format!("initrd.img-{v}")), "i").unwrap();
        }
        assert_eq!(kernel_version(t.path()).unwrap(), "6.1.0-10-cloud-amd64");
        let empty = tempfile::tempdir().unwrap();
        fs::create_dir_all(empty.path().join("boot")).unwrap();
        assert!(matches!(
            kernel_version(empty.path()),
            Err(DiskError::NoKernel(_))
        ));
    }
}
