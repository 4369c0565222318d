//! The config drive: a filesystem labelled `config-2` (or `CONFIG-2`), iso9660 or vfat. Given a
//! directory (how Vagrant and tests feed it), its files are read in place; given a block
//! device or image file, its filesystem is read directly (our `iso9660` reader, the `fatfs`
//! crate), never mounted: no mount to leak, no dependence on the kernel having iso9660 or vfat,
//! and nothing on the drive can be executed or followed as a link. An image is read through
//! `budget::Budgeted`: a time and byte budget, so a corrupt or hostile filesystem ends in an
//! error (and the daemon's fall-back to the metadata service), never a hang.

use std::path::{Path, PathBuf};
use std::process::Command;

use super::budget::Budgeted;
use super::{from_files, MetadataError, NovaMetadata, MAX_FILE_BYTES};

/// The labels Nova gives config drives.
pub const LABELS: [&str; 2] = ["config-2", "CONFIG-2"];

/// The config drive's device, found by label, if there is one.
pub fn find_by_label() -> Option<PathBuf> {
    for label in LABELS {
        let p = Path::new("/dev/disk/by-label").join(label);
        if p.exists() {
            return Some(p);
        }
    }
    // Without udev links (minimal images, containers): ask blkid.
    for label in LABELS {
        let out = Command::new("blkid")
            .args(["-t", &format!("LABEL={label}"), "-o", "device"])
            .output()
            .ok()?;
        let dev = String::from_utf8_lossy(&out.stdout)
            .lines()
            .next()
            .map(str::trim)
            .map(PathBuf::from);
        if let Some(dev) = dev.filter(|d| !d.as_os_str().is_empty()) {
            return Some(dev);
        }
    }
    None
}

/// Reads the drive at `path`: a directory holding `openstack/`, or a device/image file.
pub fn read(path: &Path) -> Result<NovaMetadata, MetadataError> {
    let origin = format!("config drive {}", path.display());
    let io = |source| MetadataError::Io {
        context: origin.clone(),
        source,
    };
    let meta = std::fs::metadata(path).map_err(io)?;
    if meta.is_dir() {
        return read_dir(path, &origin);
    }
    let mut file = Budgeted::new(std::fs::File::open(path).map_err(io)?);
    if super::iso9660::is_iso(&mut file).map_err(io)? {
        return from_files(&origin, |name| {
            super::iso9660::read_file(
                &mut file,
                &format!("openstack/latest/{name}"),
                MAX_FILE_BYTES,
            )
            .map_err(|e| MetadataError::Invalid {
                origin: origin.clone(),
                path: format!("openstack/latest/{name}"),
                message: e.to_string(),
            })
        });
    }
    use std::io::Seek;
    file.rewind().map_err(io)?;
    fat_guard(&origin, || {
        let fs = fatfs::FileSystem::new(file, fatfs::FsOptions::new()).map_err(|e| {
            MetadataError::Unavailable {
                origin: origin.clone(),
                message: format!("neither an ISO 9660 nor a FAT filesystem ({e})"),
            }
        })?;
        from_files(&origin, |name| {
            read_fat_file(&fs, &format!("openstack/latest/{name}"), &origin)
        })
    })
}

/// Runs the `fatfs` crate over a drive, a panic inside it becoming an error: it computes
/// cluster offsets unchecked, and a directory entry naming cluster 0 or 1 made it panic on an
/// overflow (found by fuzzing, `fuzz/corpus/config_drive/fatfs-*`). Nothing of the file system
/// outlives the call, so nothing half-updated is used after a panic.
fn fat_guard<T>(
    origin: &str,
    f: impl FnOnce() -> Result<T, MetadataError>,
) -> Result<T, MetadataError> {
    std::panic::catch_unwind(std::panic::AssertUnwindSafe(f)).unwrap_or_else(|_| {
        Err(MetadataError::Unavailable {
            origin: origin.into(),
            message: "a corrupt FAT file system (the reader stopped on it)".into(),
        })
    })
}

fn read_fat_file<T: fatfs::ReadWriteSeek>(
    fs: &fatfs::FileSystem<T>,
    path: &str,
    origin: &str,
) -> Result<Option<Vec<u8>>, MetadataError> {
    use std::io::Read;
    let invalid = |message: String| MetadataError::Invalid {
        origin: origin.into(),
        path: path.into(),
        message,
    };
    let mut file = match fs.root_dir().open_file(path) {
        Ok(f) => f,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(invalid(e.to_string())),
    };
    let mut buf = Vec::new();
    (&mut file)
        .take(MAX_FILE_BYTES as u64 + 1)
        .read_to_end(&mut buf)
        .map_err(|e| invalid(e.to_string()))?;
    if buf.len() > MAX_FILE_BYTES {
        return Err(invalid(format!("over the {MAX_FILE_BYTES} byte limit")));
    }
    Ok(Some(buf))
}

/// Reads `openstack/latest/*` under `root`, refusing symlinks and oversized files.
pub fn read_dir(root: &Path, origin: &str) -> Result<NovaMetadata, MetadataError> {
    let latest = root.join("openstack/latest");
    from_files(origin, |name| read_file(&latest.join(name), origin))
}

fn read_file(path: &Path, origin: &str) -> Result<Option<Vec<u8>>, MetadataError> {
    let io = |source| MetadataError::Io {
        context: format!("{origin}: {}", path.display()),
        source,
    };
    let meta = match std::fs::symlink_metadata(path) {
        Ok(m) => m,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(io(e)),
    };
    if !meta.is_file() {
        return Err(MetadataError::Invalid {
            origin: origin.into(),
            path: path.display().to_string(),
            message: "not a regular file (links are not followed)".into(),
        });
    }
    if meta.len() as usize > MAX_FILE_BYTES {
        return Err(MetadataError::Invalid {
            origin: origin.into(),
            path: path.display().to_string(),
            message: format!("{} bytes, over the {MAX_FILE_BYTES} byte limit", meta.len()),
        });
    }
    std::fs::read(path).map(Some).map_err(io)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn drive(files: &[(&str, &[u8])]) -> tempfile::TempDir {
        let d = tempfile::tempdir().unwrap();
        let latest = d.path().join("openstack/latest");
        std::fs::create_dir_all(&latest).unwrap();
        for (name, body) in files {
            std::fs::write(latest.join(name), body).unwrap();
        }
        d
    }

    #[test]
    fn reads_a_directory_drive() {
        let d = drive(&[
            ("meta_data.json", br#"{"uuid": "u-1", "name": "vm", "meta": {"solum_wait_url": "http://x"}, "public_keys": {"k": "ssh-ed25519 AAA"}}"#),
            ("user_data", b"#!/bin/sh\n"),
            ("network_data.json", b"{\"links\": []}"),
        ]);
        let m = read(d.path()).unwrap();
        assert_eq!(m.uuid(), Some("u-1"));
        assert_eq!(m.meta("solum_wait_url"), Some("http://x"));
        assert_eq!(m.user_data.as_deref(), Some(&b"#!/bin/sh\n"[..]));
        assert_eq!(
            m.public_keys(),
            vec![("k".to_string(), "ssh-ed25519 AAA".to_string())]
        );
        assert!(m.vendor_data.is_none());
        assert!(m.network_data.is_some());
    }

    #[test]
    fn bad_drives_are_clear_errors() {
        let d = drive(&[]);
        let e = read(d.path()).unwrap_err().to_string();
        assert!(e.contains("meta_data.json: missing"), "{e}");
        let d = drive(&[("meta_data.json", b"[1]")]);
        assert!(read(d.path())
            .unwrap_err()
            .to_string()
            .contains("not a JSON object"));
        let d = drive(&[("meta_data.json", b"{}"), ("vendor_data.json", b"{oops")]);
        assert!(read(d.path())
            .unwrap_err()
            .to_string()
            .contains("vendor_data.json"));
        let d = drive(&[]);
        std::os::unix::fs::symlink(
            "/etc/passwd",
            d.path().join("openstack/latest/meta_data.json"),
        )
        .unwrap();
        assert!(read(d.path())
            .unwrap_err()
            .to_string()
            .contains("links are not followed"));
    }
}
