//! GRUB BIOS boot code for a GPT disk, pure byte patching (what
//! `grub-bios-setup --no-rs-codes` writes): boot.img into LBA 0 keeping the
//! BPB and the protective MBR's table, pointed at core.img; core.img's first
//! sector's blocklist pointed at the rest of core.img.

/// BPB area of boot.img kept from the existing sector 0.
const BPB_START: usize = 0x03;
const BPB_END: usize = 0x5A;
/// Where boot.img stores the LBA of core.img (u64 LE).
const KERNEL_SECTOR: usize = 0x5C;
/// Boot drive byte: 0xFF = use the drive the BIOS booted from.
const BOOT_DRIVE: usize = 0x64;
/// The drive check jump, replaced by two NOPs.
const DRIVE_CHECK: usize = 0x66;
/// From here to the end of the sector (disk signature, partition table,
/// 0x55AA) is kept from the existing sector 0.
const TABLE_START: usize = 446;
/// The blocklist at the end of core.img's first sector.
const BLOCKLIST: usize = 0x200 - 12;
/// Segment core.img's remainder is loaded to.
const CORE_SEGMENT: u16 = 0x0820;

/// A boot code problem.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum BootCodeError {
    #[error("boot.img must be 512 bytes, is {0}")]
    BootImgSize(usize),
    #[error("sector 0 must be 512 bytes, is {0}")]
    SectorSize(usize),
    #[error("core.img is {size} bytes; the BIOS boot partition holds {room}")]
    CoreTooBig { size: usize, room: usize },
    #[error("core.img is too small ({0} bytes)")]
    CoreTooSmall(usize),
}

/// The new sector 0: boot.img with the BPB and table of `sector0` kept.
pub fn patch_mbr(
    boot_img: &[u8],
    sector0: &[u8],
    core_lba: u64,
) -> Result<[u8; 512], BootCodeError> {
    if boot_img.len() != 512 {
        return Err(BootCodeError::BootImgSize(boot_img.len()));
    }
    if sector0.len() != 512 {
        return Err(BootCodeError::SectorSize(sector0.len()));
    }
    let mut out = [0u8; 512];
    out.copy_from_slice(boot_img);
    out[BPB_START..BPB_END].copy_from_slice(&sector0[BPB_START..BPB_END]);
    out[TABLE_START..].copy_from_slice(&sector0[TABLE_START..]);
    out[KERNEL_SECTOR..KERNEL_SECTOR + 8].copy_from_slice(&core_lba.to_le_bytes());
    out[BOOT_DRIVE] = 0xFF;
    out[DRIVE_CHECK] = 0x90;
    out[DRIVE_CHECK + 1] = 0x90;
    Ok(out)
}

/// core.img with its first sector's blocklist pointing at the sectors
/// after it, padded to whole sectors. `room` = bytes available.
pub fn patch_core(core_img: &[u8], core_lba: u64, room: usize) -> Result<Vec<u8>, BootCodeError> {
    if core_img.len() <= 512 {
        return Err(BootCodeError::CoreTooSmall(core_img.len()));
    }
    let mut out = core_img.to_vec();
    out.resize(core_img.len().div_ceil(512) * 512, 0);
    if out.len() > room {
        return Err(BootCodeError::CoreTooBig {
            size: out.len(),
            room,
        });
    }
    let rest = (out.len() / 512 - 1) as u16;
    out[BLOCKLIST..BLOCKLIST + 8].copy_from_slice(&(core_lba + 1).to_le_bytes());
    out[BLOCKLIST + 8..BLOCKLIST + 10].copy_from_slice(&rest.to_le_bytes());
    out[BLOCKLIST + 10..BLOCKLIST + 12].copy_from_slice(&CORE_SEGMENT.to_le_bytes());
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mbr_keeps_table_and_bpb() {
        let boot: Vec<u8> = (0..512).map(|i| (i % 251) as u8).collect();
        let mut s0 = vec![0u8; 512];
        s0[446] = 0x00;
        s0[450] = 0xEE; // protective MBR partition type
        s0[510] = 0x55;
        s0[511] = 0xAA;
        s0[0x10] = 0x42; // inside the BPB
        let m = patch_mbr(&boot, &s0, 2048).unwrap();
        assert_eq!(&m[..3], &boot[..3], "jump kept from boot.img");
        assert_eq!(m[0x10], 0x42);
        assert_eq!(&m[446..], &s0[446..]);
        assert_eq!(&m[0x5C..0x64], &2048u64.to_le_bytes());
        assert_eq!(m[0x64], 0xFF);
        assert_eq!(&m[0x66..0x68], &[0x90, 0x90]);
        assert_eq!(&m[0x68..446], &boot[0x68..446], "code kept");
        assert!(patch_mbr(&boot[..100], &s0, 1).is_err());
    }

    #[test]
    fn core_blocklist() {
        let core = vec![7u8; 512 * 3 + 100];
        let c = patch_core(&core, 2048, 1 << 20).unwrap();
        assert_eq!(c.len(), 512 * 4);
        assert_eq!(&c[0x1F4..0x1FC], &2049u64.to_le_bytes());
        assert_eq!(&c[0x1FC..0x1FE], &3u16.to_le_bytes());
        assert_eq!(&c[0x1FE..0x200], &0x0820u16.to_le_bytes());
        assert_eq!(&c[512..512 * 3 + 100], &core[512..]);
        assert!(matches!(
            patch_core(&core, 2048, 1024),
            Err(BootCodeError::CoreTooBig { .. })
        ));
    }
}
