//! A time and byte budget on reading a config drive image: every read from the device goes
//! through `Budgeted`, which fails once `MAX_READ_BYTES` have been read or `MAX_READ_TIME` has
//! passed. The ISO 9660 reader and the `fatfs` crate do all their work through reads, so a
//! hostile image (a FAT directory whose cluster chain loops on itself, which `fatfs` follows
//! forever) ends in a clear error instead of a spinning agent, and the daemon falls back to
//! the metadata service. Writes are refused: the drive is only read.

use std::io::{Read, Seek, SeekFrom, Write};
use std::time::{Duration, Instant};

/// Bytes one reading of a drive may take from the device: the five files of
/// `openstack/latest` at their limit, plus the directories and FAT that lead to them.
pub const MAX_READ_BYTES: u64 = 5 * super::MAX_FILE_BYTES as u64 + (16 << 20);
/// Time one reading of a drive may take (a real one takes milliseconds).
pub const MAX_READ_TIME: Duration = Duration::from_secs(3);

/// `R` with a byte and time budget on its reads.
pub struct Budgeted<R> {
    inner: R,
    read: u64,
    max_bytes: u64,
    deadline: Instant,
    max_time: Duration,
}

impl<R> Budgeted<R> {
    /// `inner` with the drive budget (`MAX_READ_BYTES`, `MAX_READ_TIME` from now).
    pub fn new(inner: R) -> Self {
        Budgeted::with(inner, MAX_READ_BYTES, MAX_READ_TIME)
    }

    pub fn with(inner: R, max_bytes: u64, max_time: Duration) -> Self {
        Budgeted {
            inner,
            read: 0,
            max_bytes,
            deadline: Instant::now() + max_time,
            max_time,
        }
    }

    fn check(&self) -> std::io::Result<()> {
        if self.read > self.max_bytes {
            return Err(over(format!(
                "over {} bytes read from the device: the filesystem is corrupt (a cluster chain or directory that loops?)",
                self.max_bytes
            )));
        }
        if Instant::now() > self.deadline {
            return Err(over(format!(
                "still reading after {:?}: the filesystem is corrupt (a cluster chain or directory that loops?)",
                self.max_time
            )));
        }
        Ok(())
    }
}

fn over(message: String) -> std::io::Error {
    std::io::Error::other(message)
}

impl<R: Read> Read for Budgeted<R> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        self.check()?;
        let n = self.inner.read(buf)?;
        self.read += n as u64;
        Ok(n)
    }
}

impl<R: Seek> Seek for Budgeted<R> {
    fn seek(&mut self, pos: SeekFrom) -> std::io::Result<u64> {
        self.check()?;
        self.inner.seek(pos)
    }
}

impl<R> Write for Budgeted<R> {
    fn write(&mut self, _: &[u8]) -> std::io::Result<usize> {
        Err(std::io::Error::new(
            std::io::ErrorKind::PermissionDenied,
            "the config drive is read only",
        ))
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Cursor;

    #[test]
    fn reads_within_budget_then_fails() {
        let mut r = Budgeted::with(Cursor::new(vec![7u8; 100]), 50, Duration::from_secs(60));
        let mut buf = [0u8; 40];
        r.read_exact(&mut buf).unwrap();
        r.read_exact(&mut buf).unwrap();
        let e = r.read_exact(&mut buf).unwrap_err();
        assert!(e.to_string().contains("over 50 bytes read"), "{e}");
        assert!(r.write(b"x").is_err());
    }

    #[test]
    fn reads_within_time_then_fail() {
        let mut r = Budgeted::with(Cursor::new(vec![7u8; 100]), 1000, Duration::ZERO);
        std::thread::sleep(Duration::from_millis(2));
        let e = r.read(&mut [0u8; 4]).unwrap_err();
        assert!(e.to_string().contains("still reading after"), "{e}");
    }
}
