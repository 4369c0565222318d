//! Vagrant boxes for the libvirt provider: `metadata.json`, a minimal
//! `Vagrantfile` and the qcow2 as `box.img`, in one tar (`NAME.box`), and the
//! versioned catalog `NAME.json` (with the box's sha256) for `vagrant box add`.

use std::fs;
use std::io::Write;
use std::path::{Path, PathBuf};

/// A box could not be written.
#[derive(Debug, thiserror::Error)]
#[error("writing vagrant box {path}: {source}")]
pub struct BoxError {
    pub path: PathBuf,
    pub source: std::io::Error,
}

/// `metadata.json` of a libvirt box (pure); size in whole GB, rounded up.
pub fn metadata(virtual_size_bytes: u64) -> String {
    let gb = virtual_size_bytes.div_ceil(1 << 30).max(1);
    format!("{{\"provider\": \"libvirt\", \"format\": \"qcow2\", \"virtual_size\": {gb}}}\n")
}

/// The box's own Vagrantfile (pure).
pub const VAGRANTFILE: &str = "# solum-image box (libvirt)\n\
Vagrant.configure(\"2\") do |config|\n\
\x20 config.vm.provider :libvirt do |libvirt|\n\
\x20   libvirt.driver = \"kvm\"\n\
\x20   libvirt.disk_bus = \"virtio\"\n\
\x20 end\n\
end\n";

fn append(b: &mut tar::Builder<fs::File>, name: &str, data: &[u8]) -> std::io::Result<()> {
    let mut h = tar::Header::new_gnu();
    h.set_size(data.len() as u64);
    h.set_mode(0o644);
    h.set_mtime(0);
    h.set_entry_type(tar::EntryType::Regular);
    b.append_data(&mut h, name, data)
}

/// Write the box at `out` from `qcow2` of `virtual_size_bytes`.
pub fn write_box(qcow2: &Path, virtual_size_bytes: u64, out: &Path) -> Result<(), BoxError> {
    let e = |source| BoxError {
        path: out.to_path_buf(),
        source,
    };
    let file = fs::File::create(out).map_err(e)?;
    let mut b = tar::Builder::new(file);
    append(
        &mut b,
        "metadata.json",
        metadata(virtual_size_bytes).as_bytes(),
    )
    .map_err(e)?;
    append(&mut b, "Vagrantfile", VAGRANTFILE.as_bytes()).map_err(e)?;
    let mut img = fs::File::open(qcow2).map_err(|source| BoxError {
        path: qcow2.to_path_buf(),
        source,
    })?;
    b.append_file("box.img", &mut img).map_err(e)?;
    let mut f = b.into_inner().map_err(e)?;
    f.flush().map_err(e)?;
    f.sync_all().map_err(e)
}

/// The version written into catalogs.
pub const BOX_VERSION: &str = "1.0.0";

/// A versioned box catalog (pure): one version, one libvirt provider at `url`.
pub fn catalog(name: &str, url: &str, sha256: &str) -> String {
    let doc = serde_json::json!({
        "name": name,
        "versions": [{
            "version": BOX_VERSION,
            "providers": [{
                "name": "libvirt",
                "url": url,
                "checksum_type": "sha256",
                "checksum": sha256,
            }],
        }],
    });
    format!("{doc:#}\n")
}

/// `file://` URL of an absolute path, percent-encoding what a URL cannot hold.
pub fn file_url(path: &Path) -> String {
    let mut out = String::from("file://");
    for b in path.as_os_str().as_encoded_bytes() {
        match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'/' | b'-' | b'_' | b'.' | b'~' => {
                out.push(*b as char)
            }
            _ => out.push_str(&format!("%{b:02X}")),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    #[test]
    fn catalog_names_box_and_checksum() {
        let c = catalog("app", &file_url(Path::new("/o/a b.box")), "ab12");
        let v: serde_json::Value = serde_json::from_str(&c).unwrap();
        assert_eq!(v["name"], "app");
        let p = &v["versions"][0]["providers"][0];
        assert_eq!(p["name"], "libvirt");
        assert_eq!(p["url"], "file:///o/a%20b.box");
        assert_eq!(p["checksum_type"], "sha256");
        assert_eq!(p["checksum"], "ab12");
        assert_eq!(v["versions"][0]["version"], BOX_VERSION);
    }

    use super::*;

    #[test]
    fn metadata_rounds_up_to_gb() {
        assert_eq!(
            metadata(1_535_115_264),
            "{\"provider\": \"libvirt\", \"format\": \"qcow2\", \"virtual_size\": 2}\n"
        );
        assert!(metadata(1 << 30).contains("\"virtual_size\": 1}"));
        let v: serde_json::Value = serde_json::from_str(&metadata(5)).unwrap();
        assert_eq!(v["virtual_size"], 1);
    }

    #[test]
    fn box_holds_three_files() {
        let t = tempfile::tempdir().unwrap();
        let q = t.path().join("x.qcow2");
        fs::write(&q, b"QFI\xfbdata").unwrap();
        let out = t.path().join("x.box");
        write_box(&q, 3 << 30, &out).unwrap();
        let mut a = tar::Archive::new(fs::File::open(&out).unwrap());
        let names: Vec<String> = a
            .entries()
            .unwrap()
            .map(|e| e.unwrap().path().unwrap().display().to_string())
            .collect();
        assert_eq!(names, vec!["metadata.json", "Vagrantfile", "box.img"]);
    }
}
