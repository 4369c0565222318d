//! Config drives as Nova makes them, read without mounting: an ISO 9660 image with Rock Ridge
//! and Joliet (genisoimage, as Nova runs it) and a vfat image (mkfs.vfat + mtools).

use std::path::Path;
use std::process::Command;

use solum_agent::metadata::configdrive;
use solum_tests::require_program;

fn tree(dir: &Path) {
    let latest = dir.join("openstack/latest");
    std::fs::create_dir_all(&latest).unwrap();
    std::fs::write(latest.join("meta_data.json"), r#"{"uuid": "83679162-1378-4288-a2d4-70e13ec132aa", "name": "app-vm", "meta": {"solum_wait_url": "http://heat/x"}}"#).unwrap();
    std::fs::write(latest.join("user_data"), "#!/bin/sh\necho hi\n").unwrap();
    std::fs::write(latest.join("vendor_data2.json"), "{}").unwrap();
    std::fs::create_dir_all(dir.join("ec2/latest")).unwrap();
    std::fs::write(dir.join("ec2/latest/meta-data.json"), "{}").unwrap();
}

fn run(cmd: &mut Command) {
    let out = cmd.output().expect("running a tool");
    assert!(
        out.status.success(),
        "{cmd:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

fn check(img: &Path) {
    let m = configdrive::read(img).unwrap_or_else(|e| panic!("{}: {e}", img.display()));
    assert_eq!(m.uuid(), Some("83679162-1378-4288-a2d4-70e13ec132aa"));
    assert_eq!(m.name(), Some("app-vm"));
    assert_eq!(m.meta("solum_wait_url"), Some("http://heat/x"));
    assert_eq!(m.user_data.as_deref(), Some(&b"#!/bin/sh\necho hi\n"[..]));
    assert!(m.vendor_data2.is_some());
    assert!(m.network_data.is_none());
}

#[test]
fn iso9660_with_rock_ridge_and_joliet() {
    require_program("genisoimage");
    let d = tempfile::tempdir().unwrap();
    tree(&d.path().join("src"));
    let img = d.path().join("cd.iso");
    // The options Nova uses for its config drive.
    run(Command::new("genisoimage")
        .args([
            "-o",
            img.to_str().unwrap(),
            "-ldots",
            "-allow-lowercase",
            "-allow-multidot",
            "-l",
            "-publisher",
            "solum",
            "-quiet",
            "-J",
            "-r",
            "-V",
            "config-2",
        ])
        .arg(d.path().join("src")));
    check(&img);
}

#[test]
fn iso9660_with_rock_ridge_only() {
    require_program("genisoimage");
    let d = tempfile::tempdir().unwrap();
    tree(&d.path().join("src"));
    let img = d.path().join("cd.iso");
    run(Command::new("genisoimage")
        .args([
            "-o",
            img.to_str().unwrap(),
            "-quiet",
            "-r",
            "-V",
            "config-2",
        ])
        .arg(d.path().join("src")));
    check(&img);
}

#[test]
fn vfat_image() {
    require_program("mkfs.vfat");
    require_program("mcopy");
    let d = tempfile::tempdir().unwrap();
    tree(&d.path().join("src"));
    let img = d.path().join("drive.img");
    run(Command::new("mkfs.vfat").args(["-C", "-n", "CONFIG-2", img.to_str().unwrap(), "4096"]));
    run(Command::new("mcopy")
        .args(["-s", "-i", img.to_str().unwrap()])
        .arg(d.path().join("src/openstack"))
        .arg("::/"));
    check(&img);
}

/// A directory entry naming cluster 1 (clusters start at 2) made the `fatfs` crate panic on an
/// overflow (found by fuzzing): now a clear error.
#[test]
fn vfat_entry_naming_cluster_1_is_an_error() {
    require_program("mkfs.vfat");
    require_program("mcopy");
    let d = tempfile::tempdir().unwrap();
    tree(&d.path().join("src"));
    let img = d.path().join("drive.img");
    run(Command::new("mkfs.vfat").args(["-C", "-n", "CONFIG-2", img.to_str().unwrap(), "4096"]));
    run(Command::new("mcopy")
        .args(["-s", "-i", img.to_str().unwrap()])
        .arg(d.path().join("src/openstack"))
        .arg("::/"));
    let mut bytes = std::fs::read(&img).unwrap();
    // The short entry of `openstack` (8.3 name `OPENST~1`, directory attribute).
    let at = bytes
        .windows(12)
        .position(|w| w.starts_with(b"OPENST") && w[11] == 0x10)
        .expect("the openstack directory's entry");
    bytes[at + 26..at + 28].copy_from_slice(&1u16.to_le_bytes());
    std::fs::write(&img, &bytes).unwrap();
    let e = configdrive::read(&img).unwrap_err().to_string();
    assert!(e.contains("corrupt FAT file system"), "{e}");
}

#[test]
fn garbage_is_a_clear_error() {
    let d = tempfile::tempdir().unwrap();
    let img = d.path().join("junk.img");
    std::fs::write(&img, vec![0x5au8; 100_000]).unwrap();
    let e = configdrive::read(&img).unwrap_err().to_string();
    assert!(
        e.contains("neither an ISO 9660 nor a FAT filesystem"),
        "{e}"
    );
}

/// A FAT16 config drive (mkfs.vfat + mtools) patched so that the `openstack/latest`
/// directory's cluster chain loops on itself: its FAT entry points to its own cluster and its
/// free entries are marked deleted, so a reader looking for a file that is not there walks
/// the same cluster forever (issue 11, reproduction 3). `meta_data.json` and `user_data` are
/// there; `vendor_data.json` is not.
pub fn looping_vfat(dir: &Path) -> std::path::PathBuf {
    require_program("mkfs.vfat");
    require_program("mcopy");
    let src = dir.join("loop-src");
    let latest = src.join("openstack/latest");
    std::fs::create_dir_all(&latest).unwrap();
    std::fs::write(
        latest.join("meta_data.json"),
        r#"{"uuid": "u-loop", "name": "loop"}"#,
    )
    .unwrap();
    std::fs::write(latest.join("user_data"), "#!/bin/sh\n").unwrap();
    let img = dir.join("loop.img");
    run(Command::new("mkfs.vfat")
        .args(["-F", "16", "-s", "1", "-C", "-n", "CONFIG-2"])
        .arg(&img)
        .arg("8192"));
    run(Command::new("mcopy")
        .args(["-s", "-i", img.to_str().unwrap()])
        .arg(src.join("openstack"))
        .arg("::/"));
    let mut b = std::fs::read(&img).unwrap();
    let u16_at = |b: &[u8], o: usize| u16::from_le_bytes([b[o], b[o + 1]]) as usize;
    let sector = u16_at(&b, 11);
    let per_cluster = b[13] as usize;
    let reserved = u16_at(&b, 14);
    let fats = b[16] as usize;
    let root_entries = u16_at(&b, 17);
    let fat_sectors = u16_at(&b, 22);
    let root_at = (reserved + fats * fat_sectors) * sector;
    let data_at = root_at + root_entries * 32;
    let cluster_len = per_cluster * sector;
    let cluster_at = |c: usize| data_at + (c - 2) * cluster_len;
    // The first cluster of the subdirectory whose short (8.3) name starts with `prefix`, in the
    // directory at `at`, `len` bytes long (long names are mangled: `OPENST~1`).
    let find = |b: &[u8], at: usize, len: usize, prefix: &[u8]| -> usize {
        (at..at + len)
            .step_by(32)
            .find(|&e| b[e + 11] != 0x0f && b[e + 11] & 0x10 != 0 && b[e..].starts_with(prefix))
            .map(|e| u16_at(b, e + 26))
            .unwrap_or_else(|| panic!("no {:?} directory", String::from_utf8_lossy(prefix)))
    };
    let openstack = find(&b, root_at, root_entries * 32, b"OPENST");
    let latest = find(&b, cluster_at(openstack), cluster_len, b"LATEST");
    for f in 0..fats {
        let entry = reserved * sector + f * fat_sectors * sector + latest * 2;
        b[entry..entry + 2].copy_from_slice(&(latest as u16).to_le_bytes());
    }
    for e in (cluster_at(latest)..cluster_at(latest) + cluster_len).step_by(32) {
        if b[e] == 0 {
            b[e] = 0xe5;
        }
    }
    std::fs::write(&img, &b).unwrap();
    img
}

#[test]
fn vfat_directory_cluster_chain_that_loops_is_refused() {
    let d = tempfile::tempdir().unwrap();
    let img = looping_vfat(d.path());
    let started = std::time::Instant::now();
    let e = configdrive::read(&img).unwrap_err().to_string();
    assert!(
        started.elapsed() < std::time::Duration::from_secs(5),
        "took {:?}",
        started.elapsed()
    );
    assert!(e.contains(&img.display().to_string()), "{e}");
    assert!(e.contains("the filesystem is corrupt"), "{e}");
}
