//! A first pass over a tar stream, before `extract` lets the `tar` crate read it: the `tar`
//! crate reads a GNU long name or long link entry and a pax extended header into memory whole,
//! whatever their size, so a 1 MB `.tar.gz` holding a 1 GiB long name took 2 GB (found by
//! fuzzing). This pass walks the raw headers, never holding more than a pax header, and
//! refuses what the extraction pass could not read in bounded memory or would read
//! differently: oversized extension entries, pax `size` records that disagree with the
//! header (the passes would then split the stream differently), GNU sparse entries (their
//! extra header blocks, likewise).

use std::io::Read;

/// The largest GNU long name or long link entry accepted (paths are at most 4 KiB on Linux).
pub const MAX_LONG_NAME_BYTES: u64 = 64 << 10;
/// The largest pax extended header accepted.
pub const MAX_PAX_BYTES: u64 = 1 << 20;

/// Why the headers were refused (the caller names the tarball).
#[derive(Debug, PartialEq, Eq)]
pub enum Refused {
    /// An I/O or format error of the stream.
    Invalid(String),
    /// A header the extraction cannot take safely.
    Unsafe(String),
}

/// Walks the headers of the tar stream `reader`, at most `max_entries` of them.
pub fn check(reader: impl Read, max_entries: u64) -> Result<(), Refused> {
    let invalid = |e: std::io::Error| Refused::Invalid(format!("not a valid tar archive: {e}"));
    let mut archive = tar::Archive::new(reader);
    let entries = archive.entries().map_err(invalid)?.raw(true);
    let mut pax_size: Option<u64> = None;
    let mut count = 0u64;
    for entry in entries {
        let mut entry = entry.map_err(invalid)?;
        count += 1;
        if count > max_entries.saturating_mul(4) {
            // Each real entry has at most three extension entries before it; the extraction
            // pass counts real entries against `max_entries`.
            return Err(Refused::Unsafe(format!("more than {max_entries} entries")));
        }
        let kind = entry.header().entry_type();
        let size = entry.header().entry_size().map_err(invalid)?;
        if kind.is_gnu_longname() || kind.is_gnu_longlink() {
            if size > MAX_LONG_NAME_BYTES {
                return Err(Refused::Unsafe(format!(
                    "a long name entry of {size} bytes (at most {MAX_LONG_NAME_BYTES})"
                )));
            }
            continue;
        }
        if kind.is_pax_local_extensions() || kind.is_pax_global_extensions() {
            if size > MAX_PAX_BYTES {
                return Err(Refused::Unsafe(format!(
                    "a pax header of {size} bytes (at most {MAX_PAX_BYTES})"
                )));
            }
            if kind.is_pax_local_extensions() {
                let mut data = Vec::new();
                (&mut entry)
                    .take(MAX_PAX_BYTES)
                    .read_to_end(&mut data)
                    .map_err(invalid)?;
                pax_size = tar::PaxExtensions::new(&data)
                    .filter_map(Result::ok)
                    .filter(|e| e.key_bytes() == b"size")
                    .filter_map(|e| e.value().ok()?.parse::<u64>().ok())
                    .last();
            }
            continue;
        }
        if kind.is_gnu_sparse() {
            return Err(Refused::Unsafe("GNU sparse files are not supported".into()));
        }
        if let Some(declared) = pax_size.take() {
            if declared != size {
                return Err(Refused::Unsafe(format!(
                    "a pax size of {declared} bytes for an entry whose header says {size}"
                )));
            }
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn header(name: &str, kind: tar::EntryType, size: u64) -> Vec<u8> {
        let mut h = tar::Header::new_gnu();
        h.set_path(name).unwrap();
        h.set_entry_type(kind);
        h.set_size(size);
        h.set_mode(0o644);
        h.set_cksum();
        h.as_bytes().to_vec()
    }

    fn padded(data: &[u8]) -> Vec<u8> {
        let mut v = data.to_vec();
        v.resize(data.len().div_ceil(512) * 512, 0);
        v
    }

    #[test]
    fn ordinary_archives_pass() {
        let mut b = tar::Builder::new(Vec::new());
        let mut h = tar::Header::new_gnu();
        h.set_size(3);
        h.set_mode(0o644);
        b.append_data(&mut h, "a/".to_string() + &"n".repeat(300), &b"abc"[..])
            .unwrap();
        let tar = b.into_inner().unwrap();
        assert_eq!(check(&tar[..], 10), Ok(()));
    }

    #[test]
    fn a_huge_long_name_is_refused_without_reading_it() {
        let mut tar = header("././@LongLink", tar::EntryType::GNULongName, 1 << 40);
        tar.extend(vec![b'a'; 4096]);
        let e = check(&tar[..], 10).unwrap_err();
        assert!(
            matches!(&e, Refused::Unsafe(m) if m.contains("long name entry of 1099511627776 bytes")),
            "{e:?}"
        );
    }

    #[test]
    fn pax_sizes_must_agree_with_the_header() {
        let pax = b"12 size=999\n";
        let mut tar = header("pax", tar::EntryType::XHeader, pax.len() as u64);
        tar.extend(padded(pax));
        tar.extend(header("f", tar::EntryType::Regular, 0));
        tar.extend(vec![0; 1024]);
        let e = check(&tar[..], 10).unwrap_err();
        assert!(
            matches!(&e, Refused::Unsafe(m) if m.contains("pax size of 999")),
            "{e:?}"
        );
    }

    #[test]
    fn sparse_entries_are_refused() {
        let mut tar = header("s", tar::EntryType::GNUSparse, 0);
        tar.extend(vec![0; 1024]);
        assert!(matches!(check(&tar[..], 10), Err(Refused::Unsafe(_))));
    }
}
