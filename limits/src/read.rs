//! Reading one input file up to a size: never more than `max_bytes + 1` bytes are read, so a
//! huge or endless file (a FIFO, `/dev/zero`) costs no more than the limit.

use std::io::Read;
use std::path::{Path, PathBuf};

/// Why a file could not be read as text. Each names the file.
#[derive(Debug, thiserror::Error)]
pub enum ReadError {
    #[error("{}: {source}", path.display())]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("{}: larger than the {max} byte limit", path.display())]
    TooLarge { path: PathBuf, max: usize },
    #[error("{}: not UTF-8 text (invalid byte at offset {offset})", path.display())]
    NotUtf8 { path: PathBuf, offset: usize },
}

impl ReadError {
    /// Whether the file does not exist.
    pub fn is_not_found(&self) -> bool {
        matches!(self, ReadError::Io { source, .. } if source.kind() == std::io::ErrorKind::NotFound)
    }
}

/// Reads `path` as UTF-8 text of at most `max_bytes` bytes.
pub fn read_text(path: &Path, max_bytes: usize) -> Result<String, ReadError> {
    let io = |source| ReadError::Io {
        path: path.to_path_buf(),
        source,
    };
    let file = std::fs::File::open(path).map_err(io)?;
    let mut bytes = Vec::new();
    file.take(max_bytes as u64 + 1)
        .read_to_end(&mut bytes)
        .map_err(io)?;
    if bytes.len() > max_bytes {
        return Err(ReadError::TooLarge {
            path: path.to_path_buf(),
            max: max_bytes,
        });
    }
    String::from_utf8(bytes).map_err(|e| ReadError::NotUtf8 {
        path: path.to_path_buf(),
        offset: e.utf8_error().valid_up_to(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_up_to_the_limit() {
        let dir = std::env::temp_dir().join(format!("solum-limits-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let f = dir.join("f");
        std::fs::write(&f, "hello").unwrap();
        assert_eq!(read_text(&f, 5).unwrap(), "hello");
        let e = read_text(&f, 4).unwrap_err();
        assert!(
            e.to_string().ends_with("/f: larger than the 4 byte limit"),
            "{e}"
        );
        std::fs::write(&f, b"ab\xff").unwrap();
        assert!(matches!(
            read_text(&f, 5),
            Err(ReadError::NotUtf8 { offset: 2, .. })
        ));
        assert!(read_text(&dir.join("nope"), 5).unwrap_err().is_not_found());
        // An endless file costs the limit, not forever.
        let e = read_text(Path::new("/dev/zero"), 1 << 20).unwrap_err();
        assert!(matches!(e, ReadError::TooLarge { .. }));
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
