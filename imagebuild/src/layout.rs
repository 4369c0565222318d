//! Disk layout for the disk outputs (raw/qcow2, next step), pure: partition
//! sizes and offsets of a hybrid BIOS+UEFI GPT disk, and the sfdisk script
//! that writes its table onto a plain file (no loop device).
//!
//! Layout (verified to boot here, see reference/images.md §6): BIOS boot
//! 1 MiB at sector 2048, ESP 550 MiB (vfat, /boot/efi), root ext4 to the
//! end. Root size without `--image-size`: DIB's rule, tree / 0.6 + 64 MiB
//! journal, rounded up to whole MiB.

use std::fmt::Write as _;

pub const SECTOR: u64 = 512;
pub const MIB: u64 = 1024 * 1024;
/// First partition starts at 1 MiB (sector 2048).
pub const FIRST_LBA: u64 = 2048;
/// Sectors GPT needs after the last partition (backup header + entries).
pub const GPT_TAIL_SECTORS: u64 = 33;
pub const BIOS_BOOT_BYTES: u64 = MIB;
pub const ESP_BYTES: u64 = 550 * MIB;
pub const JOURNAL_BYTES: u64 = 64 * MIB;

pub const TYPE_BIOS_BOOT: &str = "21686148-6449-6E6F-744E-656564454649";
pub const TYPE_ESP: &str = "C12A7328-F81F-11D2-BA4B-00A0C93EC93B";
pub const TYPE_LINUX_ROOT_X86_64: &str = "4F68BCE3-E8CD-4DB1-96E7-FBCAF984B709";

/// Why a layout is impossible.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum LayoutError {
    #[error("--image-size {requested} bytes is too small: the tree needs a disk of at least {needed} bytes")]
    TooSmall { requested: u64, needed: u64 },
}

/// File system of a partition.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Fs {
    None,
    Vfat,
    Ext4,
}

/// One partition: where it is and what it holds.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Partition {
    pub name: &'static str,
    pub type_guid: &'static str,
    pub start_lba: u64,
    pub sectors: u64,
    pub fs: Fs,
}

impl Partition {
    pub fn offset_bytes(&self) -> u64 {
        self.start_lba * SECTOR
    }
    pub fn size_bytes(&self) -> u64 {
        self.sectors * SECTOR
    }
}

/// The whole disk.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Layout {
    pub disk_bytes: u64,
    pub partitions: Vec<Partition>,
}

fn round_up(n: u64, to: u64) -> u64 {
    n.div_ceil(to) * to
}

/// DIB's root file system size for a tree of `tree_bytes` (du), in bytes.
pub fn root_bytes_for(tree_bytes: u64) -> u64 {
    round_up(tree_bytes.saturating_mul(10) / 6 + JOURNAL_BYTES, MIB)
}

/// Lay out a disk for a tree of `tree_bytes`; `image_bytes` (from
/// `--image-size`) fixes the disk size, which must be big enough.
pub fn plan(tree_bytes: u64, image_bytes: Option<u64>) -> Result<Layout, LayoutError> {
    let root_min = root_bytes_for(tree_bytes);
    let head = FIRST_LBA * SECTOR + BIOS_BOOT_BYTES + ESP_BYTES;
    // Keep the end 1 MiB-aligned and leave room for the backup GPT.
    let needed = head + root_min + MIB;
    let disk_bytes = match image_bytes {
        Some(req) => {
            let req = round_up(req, MIB);
            if req < needed {
                return Err(LayoutError::TooSmall {
                    requested: req,
                    needed,
                });
            }
            req
        }
        None => needed,
    };
    let bios_start = FIRST_LBA;
    let bios_sectors = BIOS_BOOT_BYTES / SECTOR;
    let esp_start = bios_start + bios_sectors;
    let esp_sectors = ESP_BYTES / SECTOR;
    let root_start = esp_start + esp_sectors;
    let last_usable = disk_bytes / SECTOR - GPT_TAIL_SECTORS - 1;
    // Root ends on a MiB boundary at or before the last usable sector.
    let root_end_excl = (last_usable + 1) / (MIB / SECTOR) * (MIB / SECTOR);
    Ok(Layout {
        disk_bytes,
        partitions: vec![
            Partition {
                name: "BIOS-BOOT",
                type_guid: TYPE_BIOS_BOOT,
                start_lba: bios_start,
                sectors: bios_sectors,
                fs: Fs::None,
            },
            Partition {
                name: "EFI-SYSTEM",
                type_guid: TYPE_ESP,
                start_lba: esp_start,
                sectors: esp_sectors,
                fs: Fs::Vfat,
            },
            Partition {
                name: "root",
                type_guid: TYPE_LINUX_ROOT_X86_64,
                start_lba: root_start,
                sectors: root_end_excl - root_start,
                fs: Fs::Ext4,
            },
        ],
    })
}

/// The sfdisk input that writes this table (`sfdisk FILE < script`).
pub fn sfdisk_script(layout: &Layout) -> String {
    let mut s = String::from("label: gpt\nunit: sectors\nsector-size: 512\n\n");
    for p in &layout.partitions {
        let _ = writeln!(
            s,
            "start={}, size={}, type={}, name=\"{}\"",
            p.start_lba, p.sectors, p.type_guid, p.name
        );
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dib_root_size_rule() {
        // 600 MiB of tree -> 1000 MiB + 64 MiB journal.
        assert_eq!(root_bytes_for(600 * MIB), 1064 * MIB);
        // Rounded up to whole MiB.
        assert_eq!(root_bytes_for(1), 65 * MIB);
    }

    #[test]
    fn default_layout_is_aligned_and_contiguous() {
        let l = plan(600 * MIB, None).unwrap();
        let p = &l.partitions;
        assert_eq!(p[0].start_lba, 2048);
        assert_eq!(p[0].size_bytes(), MIB);
        assert_eq!(p[1].start_lba, p[0].start_lba + p[0].sectors);
        assert_eq!(p[1].size_bytes(), 550 * MIB);
        assert_eq!(p[2].start_lba, p[1].start_lba + p[1].sectors);
        for part in p {
            assert_eq!(part.offset_bytes() % MIB, 0, "{} aligned", part.name);
            assert_eq!(part.size_bytes() % MIB, 0, "{} whole MiB", part.name);
        }
        assert!(p[2].size_bytes() >= root_bytes_for(600 * MIB));
        let end = p[2].offset_bytes() + p[2].size_bytes();
        assert!(end + GPT_TAIL_SECTORS * SECTOR <= l.disk_bytes);
        assert_eq!(l.disk_bytes % MIB, 0);
    }

    #[test]
    fn image_size_fixes_the_disk() {
        let l = plan(100 * MIB, Some(4 * 1024 * MIB)).unwrap();
        assert_eq!(l.disk_bytes, 4 * 1024 * MIB);
        let root = &l.partitions[2];
        assert_eq!(root.offset_bytes() + root.size_bytes(), l.disk_bytes - MIB);
        let e = plan(2000 * MIB, Some(1024 * MIB)).unwrap_err();
        assert!(matches!(e, LayoutError::TooSmall { .. }));
        assert!(e.to_string().contains("too small"), "{e}");
    }

    #[test]
    fn sfdisk_script_lists_partitions() {
        let l = plan(10 * MIB, None).unwrap();
        let s = sfdisk_script(&l);
        assert!(s.starts_with("label: gpt\n"), "{s}");
        assert!(
            s.contains(&format!(
                "start=2048, size=2048, type={TYPE_BIOS_BOOT}, name=\"BIOS-BOOT\""
            )),
            "{s}"
        );
        assert!(
            s.contains(&format!(
                "start=4096, size=1126400, type={TYPE_ESP}, name=\"EFI-SYSTEM\""
            )),
            "{s}"
        );
        assert_eq!(s.lines().filter(|l| l.starts_with("start=")).count(), 3);
    }
}
