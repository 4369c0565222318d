//! Reading files from an ISO 9660 image (a Nova config drive) without mounting it: Joliet names
//! (preferred), else Rock Ridge `NM` names, else plain ISO names compared case-insensitively
//! without their `;1` version. Only what a config drive needs: look up a path, read a file.
//! Pure over `Read + Seek`; every offset and length is checked, so a hostile image gives an
//! error, never a panic or an unbounded read.

use std::io::{Read, Seek, SeekFrom};

const SECTOR: u64 = 2048;
/// Directories larger than this are refused (a config drive has a handful of entries).
const MAX_DIR_BYTES: u32 = 1 << 20;

#[derive(Debug, thiserror::Error)]
pub enum IsoError {
    #[error("not an ISO 9660 image (no CD001 volume descriptor)")]
    NotIso,
    #[error("ISO 9660: {0}")]
    Corrupt(String),
    #[error("{path}: {size} bytes, over the {limit} byte limit")]
    TooLarge {
        path: String,
        size: u64,
        limit: usize,
    },
    #[error("reading the image: {0}")]
    Io(#[from] std::io::Error),
}

/// True when the image has an ISO 9660 volume descriptor.
pub fn is_iso<R: Read + Seek>(img: &mut R) -> std::io::Result<bool> {
    let mut magic = [0u8; 5];
    img.seek(SeekFrom::Start(16 * SECTOR + 1))?;
    match img.read_exact(&mut magic) {
        Ok(()) => Ok(&magic == b"CD001"),
        Err(e) if e.kind() == std::io::ErrorKind::UnexpectedEof => Ok(false),
        Err(e) => Err(e),
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Names {
    Joliet,
    /// Rock Ridge if entries carry NM, plain ISO otherwise.
    Primary,
}

#[derive(Debug, Clone, Copy)]
struct Extent {
    lba: u32,
    len: u32,
    dir: bool,
}

/// Reads the file at `path` (e.g. `openstack/latest/meta_data.json`); `Ok(None)` if absent.
pub fn read_file<R: Read + Seek>(
    img: &mut R,
    path: &str,
    limit: usize,
) -> Result<Option<Vec<u8>>, IsoError> {
    let (names, root) = root(img)?;
    let mut cur = root;
    let parts: Vec<&str> = path.split('/').filter(|p| !p.is_empty()).collect();
    for (i, part) in parts.iter().enumerate() {
        if !cur.dir {
            return Ok(None);
        }
        match find(img, cur, names, part)? {
            Some(e) => cur = e,
            None => return Ok(None),
        }
        if i + 1 == parts.len() && cur.dir {
            return Ok(None);
        }
    }
    if cur.len as u64 > limit as u64 {
        return Err(IsoError::TooLarge {
            path: path.into(),
            size: cur.len.into(),
            limit,
        });
    }
    let mut buf = vec![0u8; cur.len as usize];
    img.seek(SeekFrom::Start(cur.lba as u64 * SECTOR))?;
    img.read_exact(&mut buf)
        .map_err(|_| IsoError::Corrupt(format!("{path}: extent beyond the end of the image")))?;
    Ok(Some(buf))
}

/// The root directory: Joliet's if there is a Joliet supplementary descriptor, else primary.
fn root<R: Read + Seek>(img: &mut R) -> Result<(Names, Extent), IsoError> {
    if !is_iso(img)? {
        return Err(IsoError::NotIso);
    }
    let mut primary = None;
    let mut joliet = None;
    let mut vd = [0u8; SECTOR as usize];
    for n in 16..16 + 64 {
        img.seek(SeekFrom::Start(n * SECTOR))?;
        if img.read_exact(&mut vd).is_err() || &vd[1..6] != b"CD001" {
            break;
        }
        match vd[0] {
            1 => primary = Some(record_extent(&vd[156..190])?),
            2 if vd[88] == b'%' && vd[89] == b'/' && matches!(vd[90], b'@' | b'C' | b'E') => {
                joliet = Some(record_extent(&vd[156..190])?)
            }
            255 => break,
            _ => {}
        }
    }
    match (joliet, primary) {
        (Some(j), _) => Ok((Names::Joliet, j)),
        (None, Some(p)) => Ok((Names::Primary, p)),
        (None, None) => Err(IsoError::Corrupt("no primary volume descriptor".into())),
    }
}

fn record_extent(rec: &[u8]) -> Result<Extent, IsoError> {
    if rec.len() < 34 {
        return Err(IsoError::Corrupt("short directory record".into()));
    }
    let lba = u32::from_le_bytes([rec[2], rec[3], rec[4], rec[5]]);
    let len = u32::from_le_bytes([rec[10], rec[11], rec[12], rec[13]]);
    Ok(Extent {
        lba,
        len,
        dir: rec[25] & 0x02 != 0,
    })
}

/// Looks `name` up in the directory `dir`.
fn find<R: Read + Seek>(
    img: &mut R,
    dir: Extent,
    names: Names,
    name: &str,
) -> Result<Option<Extent>, IsoError> {
    if dir.len > MAX_DIR_BYTES {
        return Err(IsoError::Corrupt(format!("directory of {} bytes", dir.len)));
    }
    let mut data = vec![0u8; dir.len as usize];
    img.seek(SeekFrom::Start(dir.lba as u64 * SECTOR))?;
    img.read_exact(&mut data)
        .map_err(|_| IsoError::Corrupt("directory beyond the end of the image".into()))?;
    let mut pos = 0usize;
    while pos < data.len() {
        let len = data[pos] as usize;
        if len == 0 {
            // Records never cross sectors: the rest of this sector is padding.
            pos = (pos / SECTOR as usize + 1) * SECTOR as usize;
            continue;
        }
        let rec = data
            .get(pos..pos + len)
            .ok_or_else(|| IsoError::Corrupt("directory record past its directory".into()))?;
        if rec.len() < 34 {
            return Err(IsoError::Corrupt("short directory record".into()));
        }
        let name_len = rec[32] as usize;
        let raw = rec
            .get(33..33 + name_len)
            .ok_or_else(|| IsoError::Corrupt("name past its record".into()))?;
        let is_special = name_len == 1 && (raw[0] == 0 || raw[0] == 1);
        if !is_special {
            let system_use = &rec[(33 + name_len + (1 - name_len % 2)).min(rec.len())..];
            if entry_name_matches(names, raw, system_use, name) {
                return Ok(Some(record_extent(rec)?));
            }
        }
        pos += len;
    }
    Ok(None)
}

fn entry_name_matches(names: Names, raw: &[u8], system_use: &[u8], wanted: &str) -> bool {
    match names {
        Names::Joliet => {
            let units: Vec<u16> = raw
                .chunks_exact(2)
                .map(|c| u16::from_be_bytes([c[0], c[1]]))
                .collect();
            let s = String::from_utf16_lossy(&units);
            strip_version(&s) == wanted
        }
        Names::Primary => match rock_ridge_name(system_use) {
            Some(rr) => rr == wanted,
            None => {
                let s = String::from_utf8_lossy(raw);
                strip_version(&s).eq_ignore_ascii_case(wanted)
            }
        },
    }
}

fn strip_version(s: &str) -> &str {
    let s = s.split(';').next().unwrap_or(s);
    s.strip_suffix('.').unwrap_or(s)
}

/// The Rock Ridge alternate name from a record's System Use area (concatenated NM entries).
fn rock_ridge_name(mut su: &[u8]) -> Option<String> {
    let mut name = Vec::new();
    let mut found = false;
    while su.len() >= 4 {
        let len = su[2] as usize;
        if len < 4 || len > su.len() {
            break;
        }
        if &su[..2] == b"NM" && len >= 5 {
            found = true;
            name.extend_from_slice(&su[5..len]);
        }
        su = &su[len..];
    }
    found.then(|| String::from_utf8_lossy(&name).into_owned())
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Cursor;

    #[test]
    fn not_an_iso() {
        let mut c = Cursor::new(vec![0u8; 40000]);
        assert!(matches!(read_file(&mut c, "x", 10), Err(IsoError::NotIso)));
        let mut short = Cursor::new(vec![0u8; 10]);
        assert!(!is_iso(&mut short).unwrap());
    }

    #[test]
    fn rock_ridge_names_concatenate() {
        let su = [
            b'N', b'M', 8, 1, 1, b'a', b'b', b'c', b'N', b'M', 7, 1, 0, b'd', b'e', b'P', b'X', 4,
            1,
        ];
        assert_eq!(rock_ridge_name(&su).as_deref(), Some("abcde"));
        assert_eq!(
            rock_ridge_name(&[b'P', b'X', 2]),
            None,
            "bad lengths stop the walk"
        );
    }

    #[test]
    fn hostile_records_are_errors_not_panics() {
        // A primary descriptor whose root directory points past the end of the image.
        let mut img = vec![0u8; 18 * SECTOR as usize];
        let vd = &mut img[16 * SECTOR as usize..17 * SECTOR as usize];
        vd[0] = 1;
        vd[1..6].copy_from_slice(b"CD001");
        vd[156] = 34;
        vd[158..162].copy_from_slice(&1000u32.to_le_bytes());
        vd[166..170].copy_from_slice(&2048u32.to_le_bytes());
        vd[181] = 2;
        let t = &mut img[17 * SECTOR as usize..];
        t[0] = 255;
        t[1..6].copy_from_slice(b"CD001");
        let e = read_file(
            &mut Cursor::new(img),
            "openstack/latest/meta_data.json",
            100,
        )
        .unwrap_err();
        assert!(e.to_string().contains("beyond the end"), "{e}");
    }
}
