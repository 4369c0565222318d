//! Vagrant boxes for the libvirt provider: `metadata.json`, a minimal
//! `Vagrantfile` and the qcow2 as `box.img`, in one tar (`NAME.box`), and the
//! versioned catalog `NAME.json` for `vagrant box add` / `box outdated` / `box update`: each
//! new box is a version `YYYYMMDD.N` with its own file `NAME-VERSION.box` and sha256, added
//! to the versions already there.

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

/// The largest catalog read back (thousands of versions fit in far less).
pub const CATALOG_MAX_BYTES: usize = 4 << 20;

/// An existing catalog that cannot be extended. It is never overwritten.
#[derive(Debug, thiserror::Error)]
pub enum CatalogError {
    #[error("vagrant catalog {error} (left unchanged)")]
    Read {
        path: PathBuf,
        error: solum_limits::ReadError,
    },
    #[error("vagrant catalog {}: not a JSON catalog: {error} (left unchanged; move it away to start a new one)", path.display())]
    Json {
        path: PathBuf,
        error: solum_limits::json::JsonError,
    },
    #[error("vagrant catalog {}: {reason} (left unchanged; move it away to start a new one)", path.display())]
    Shape { path: PathBuf, reason: String },
    #[error("vagrant catalog {}: {error}", path.display())]
    Write {
        path: PathBuf,
        error: std::io::Error,
    },
}

/// Checks the shape of a catalog for box `name` (pure): an object whose `name` is `name`,
/// whose `versions` is a list of objects, each with a non-empty string `version` and, if
/// present, a list of `providers`. Other keys are kept as they are.
pub fn check_catalog(doc: &serde_json::Value, name: &str) -> Result<(), String> {
    let obj = doc.as_object().ok_or("the document is not a JSON object")?;
    match obj.get("name").and_then(|n| n.as_str()) {
        Some(n) if n == name => {}
        Some(n) => return Err(format!("it is the catalog of box {n:?}, not {name:?}")),
        None => return Err("it has no string \"name\"".into()),
    }
    let versions = obj
        .get("versions")
        .and_then(|v| v.as_array())
        .ok_or("it has no \"versions\" list")?;
    for (i, v) in versions.iter().enumerate() {
        let ok = v
            .get("version")
            .and_then(|v| v.as_str())
            .is_some_and(|s| !s.is_empty());
        if !ok {
            return Err(format!("versions[{i}] has no \"version\" string"));
        }
        if v.get("providers").is_some_and(|p| !p.is_array()) {
            return Err(format!("versions[{i}].providers is not a list"));
        }
    }
    Ok(())
}

/// The UTC date `YYYYMMDD` of a Unix time (pure; the proleptic Gregorian calendar).
pub fn utc_date(unix_secs: u64) -> String {
    let days = (unix_secs / 86_400) as i64;
    // Howard Hinnant's civil_from_days.
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + i64::from(m <= 2);
    format!("{y:04}{m:02}{d:02}")
}

/// The version a new build of `date` (`YYYYMMDD`) gets: `DATE.N`, N one more than the
/// highest N of that date in the catalog (pure).
pub fn next_version(catalog: Option<&serde_json::Value>, date: &str) -> String {
    let highest = catalog
        .and_then(|c| c.get("versions"))
        .and_then(|v| v.as_array())
        .into_iter()
        .flatten()
        .filter_map(|v| v.get("version")?.as_str())
        .filter_map(|v| v.strip_prefix(date)?.strip_prefix('.')?.parse::<u64>().ok())
        .max()
        .unwrap_or(0);
    format!("{date}.{}", highest.saturating_add(1))
}

/// The version whose libvirt box has checksum `sha256`, if the catalog has one (pure).
pub fn version_with_checksum(catalog: &serde_json::Value, sha256: &str) -> Option<String> {
    catalog["versions"].as_array()?.iter().find_map(|v| {
        let same = v["providers"]
            .as_array()?
            .iter()
            .any(|p| p["name"] == "libvirt" && p["checksum"].as_str() == Some(sha256));
        same.then(|| v["version"].as_str().map(str::to_string))?
    })
}

/// `catalog` (or a new one for `name`) with `version` added: one libvirt provider at `url`
/// with its sha256 (pure). Older versions and unknown keys are kept.
pub fn add_version(
    catalog: Option<serde_json::Value>,
    name: &str,
    version: &str,
    url: &str,
    sha256: &str,
    description: &str,
) -> serde_json::Value {
    let mut doc = catalog.unwrap_or_else(|| serde_json::json!({"name": name, "versions": []}));
    let entry = serde_json::json!({
        "version": version,
        "description": description,
        "providers": [{
            "name": "libvirt",
            "url": url,
            "checksum_type": "sha256",
            "checksum": sha256,
        }],
    });
    if let Some(list) = doc["versions"].as_array_mut() {
        list.push(entry);
    }
    doc
}

/// A catalog as written: pretty JSON and a newline (pure).
pub fn render(catalog: &serde_json::Value) -> String {
    format!("{catalog:#}\n")
}

/// Reads and checks the catalog at `path` for box `name`; `None` when there is none yet.
pub fn read_catalog(path: &Path, name: &str) -> Result<Option<serde_json::Value>, CatalogError> {
    let text = match solum_limits::read_text(path, CATALOG_MAX_BYTES) {
        Ok(t) => t,
        Err(e) if e.is_not_found() => return Ok(None),
        Err(error) => {
            return Err(CatalogError::Read {
                path: path.to_path_buf(),
                error,
            })
        }
    };
    parse_catalog(text.as_bytes(), name, path).map(Some)
}

/// A catalog's bytes as JSON within the catalog budget, checked for box `name` (pure; `path`
/// names it in errors).
pub fn parse_catalog(
    bytes: &[u8],
    name: &str,
    path: &Path,
) -> Result<serde_json::Value, CatalogError> {
    let budget = solum_limits::Budget::DEFAULT.with_max_bytes(CATALOG_MAX_BYTES);
    let doc: serde_json::Value =
        solum_limits::json::from_slice(bytes, &budget).map_err(|error| CatalogError::Json {
            path: path.to_path_buf(),
            error,
        })?;
    check_catalog(&doc, name).map_err(|reason| CatalogError::Shape {
        path: path.to_path_buf(),
        reason,
    })?;
    Ok(doc)
}

/// Where the box of one version is kept: `NAME-VERSION.box` beside `NAME.box`.
pub fn versioned_box(boxfile: &Path, name: &str, version: &str) -> PathBuf {
    boxfile.with_file_name(format!("{name}-{version}.box"))
}

/// What [`publish`] did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Published {
    pub version: String,
    /// False when the catalog already had a version with this very box.
    pub added: bool,
    pub url: String,
}

/// Adds the box at `boxfile` (named after its stem, checksum `sha256`) to the catalog at
/// `catalog` as a new version of today (UTC), unless a version already has this box. The
/// version's box is `NAME-VERSION.box`, a hard link to `boxfile` (a copy where links fail),
/// so a later build replacing `NAME.box` leaves older versions downloadable. Its URL is
/// `base_url/NAME-VERSION.box`, or a `file://` URL without a base. The catalog is replaced
/// atomically; an existing one that is not a catalog of this box is an error and stays.
pub fn publish(
    boxfile: &Path,
    sha256: &str,
    catalog: &Path,
    base_url: Option<&str>,
    description: &str,
) -> Result<Published, CatalogError> {
    let name = box_name(boxfile);
    let existing = read_catalog(catalog, &name)?;
    let werr = |path: &Path| {
        let path = path.to_path_buf();
        move |error| CatalogError::Write { path, error }
    };
    let url_of = |file: &Path| match base_url {
        Some(base) => format!(
            "{}/{}",
            base.trim_end_matches('/'),
            file.file_name().and_then(|n| n.to_str()).unwrap_or("box")
        ),
        None => file_url(&std::path::absolute(file).unwrap_or_else(|_| file.to_path_buf())),
    };
    if let Some(version) = existing
        .as_ref()
        .and_then(|c| version_with_checksum(c, sha256))
    {
        let url = url_of(&versioned_box(boxfile, &name, &version));
        return Ok(Published {
            version,
            added: false,
            url,
        });
    }
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0);
    let version = next_version(existing.as_ref(), &utc_date(now));
    let kept = versioned_box(boxfile, &name, &version);
    match fs::remove_file(&kept) {
        Err(e) if e.kind() != std::io::ErrorKind::NotFound => return Err(werr(&kept)(e)),
        _ => {}
    }
    if fs::hard_link(boxfile, &kept).is_err() {
        fs::copy(boxfile, &kept).map_err(werr(&kept))?;
    }
    let url = url_of(&kept);
    let doc = add_version(existing, &name, &version, &url, sha256, description);
    write_atomic(catalog, render(&doc).as_bytes()).map_err(werr(catalog))?;
    Ok(Published {
        version,
        added: true,
        url,
    })
}

/// The box name of `NAME.box`.
pub fn box_name(boxfile: &Path) -> String {
    boxfile
        .file_stem()
        .and_then(|n| n.to_str())
        .unwrap_or("box")
        .to_string()
}

/// Temp file beside `dest`, fsync, rename, fsync of the directory.
fn write_atomic(dest: &Path, data: &[u8]) -> std::io::Result<()> {
    let part = crate::cache::partial(dest);
    let written = (|| {
        let mut f = fs::File::create(&part)?;
        f.write_all(data)?;
        f.sync_all()?;
        fs::rename(&part, dest)
    })();
    if written.is_err() {
        let _ = fs::remove_file(&part);
    }
    written?;
    let dir = match dest.parent() {
        Some(d) if !d.as_os_str().is_empty() => d,
        _ => Path::new("."),
    };
    fs::File::open(dir)?.sync_all()
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
        let c = add_version(
            None,
            "app",
            "20261207.1",
            &file_url(Path::new("/o/a b.box")),
            "ab12",
            "plan x",
        );
        let v: serde_json::Value = serde_json::from_str(&render(&c)).unwrap();
        assert_eq!(v["name"], "app");
        let p = &v["versions"][0]["providers"][0];
        assert_eq!(p["name"], "libvirt");
        assert_eq!(p["url"], "file:///o/a%20b.box");
        assert_eq!(p["checksum_type"], "sha256");
        assert_eq!(p["checksum"], "ab12");
        assert_eq!(v["versions"][0]["version"], "20261207.1");
        assert!(check_catalog(&v, "app").is_ok());
    }

    #[test]
    fn versions_accumulate_within_and_across_days() {
        let c = add_version(None, "app", "1.0.0", "u0", "s0", "");
        assert_eq!(next_version(Some(&c), "20261207"), "20261207.1");
        let c = add_version(Some(c), "app", "20261207.1", "u1", "s1", "");
        let c = add_version(Some(c), "app", "20261207.9", "u9", "s9", "");
        assert_eq!(next_version(Some(&c), "20261207"), "20261207.10");
        assert_eq!(next_version(Some(&c), "20261208"), "20261208.1");
        assert_eq!(next_version(None, "20261208"), "20261208.1");
        let max = add_version(None, "app", "20261208.18446744073709551615", "u", "s", "");
        assert_eq!(
            next_version(Some(&max), "20261208"),
            "20261208.18446744073709551615"
        );
        let versions: Vec<&str> = c["versions"]
            .as_array()
            .unwrap()
            .iter()
            .map(|v| v["version"].as_str().unwrap())
            .collect();
        assert_eq!(versions, ["1.0.0", "20261207.1", "20261207.9"]);
        assert_eq!(
            version_with_checksum(&c, "s9").as_deref(),
            Some("20261207.9")
        );
        assert_eq!(version_with_checksum(&c, "nope"), None);
    }

    #[test]
    fn dates_are_utc_calendar_days() {
        assert_eq!(utc_date(0), "19700101");
        assert_eq!(utc_date(951_782_400), "20000229");
        assert_eq!(utc_date(1_796_601_599), "20261206");
        assert_eq!(utc_date(1_796_601_600), "20261207");
    }

    #[test]
    fn wrong_shapes_are_refused() {
        let bad = [
            ("[]", "not a JSON object"),
            (r#"{"versions": []}"#, "no string"),
            (r#"{"name": "other", "versions": []}"#, "box \"other\""),
            (r#"{"name": "app"}"#, "no \"versions\" list"),
            (r#"{"name": "app", "versions": {}}"#, "no \"versions\" list"),
            (r#"{"name": "app", "versions": [{}]}"#, "versions[0]"),
            (
                r#"{"name": "app", "versions": [{"version": ""}]}"#,
                "versions[0]",
            ),
            (
                r#"{"name": "app", "versions": [{"version": "1", "providers": 3}]}"#,
                "providers is not a list",
            ),
        ];
        for (text, want) in bad {
            let v: serde_json::Value = serde_json::from_str(text).unwrap();
            let e = check_catalog(&v, "app").unwrap_err();
            assert!(e.contains(want), "{text}: {e}");
        }
    }

    #[test]
    fn publish_adds_versions_keeps_old_boxes_and_refuses_bad_catalogs() {
        let t = tempfile::tempdir().unwrap();
        let b = t.path().join("app.box");
        let cat = t.path().join("app.json");
        fs::write(&b, b"one").unwrap();
        let p1 = publish(&b, "s1", &cat, None, "first").unwrap();
        assert!(p1.added);
        // the next build replaces app.box by a rename, as the build does
        let part = t.path().join("app.box.part");
        fs::write(&part, b"two").unwrap();
        fs::rename(&part, &b).unwrap();
        let p2 = publish(&b, "s2", &cat, Some("http://h:1/boxes/"), "second").unwrap();
        assert!(p2.added && p2.version != p1.version, "{p1:?} {p2:?}");
        assert_eq!(p2.url, format!("http://h:1/boxes/app-{}.box", p2.version));
        let kept1 = versioned_box(&b, "app", &p1.version);
        assert_eq!(fs::read(&kept1).unwrap(), b"one");
        assert_eq!(
            fs::read(versioned_box(&b, "app", &p2.version)).unwrap(),
            b"two"
        );
        let again = publish(&b, "s2", &cat, None, "same").unwrap();
        assert_eq!((again.added, &again.version), (false, &p2.version));
        let doc = read_catalog(&cat, "app").unwrap().unwrap();
        assert_eq!(doc["versions"].as_array().unwrap().len(), 2);
        assert_eq!(doc["versions"][0]["providers"][0]["url"], file_url(&kept1));

        for (text, want) in [
            ("not json", "not a JSON catalog"),
            (r#"{"name": "app", "versions": 1}"#, "versions"),
            (r#"{"name": "else", "versions": []}"#, "else"),
        ] {
            fs::write(&cat, text).unwrap();
            let e = publish(&b, "s3", &cat, None, "x").unwrap_err().to_string();
            assert!(e.contains(want) && e.contains("left unchanged"), "{e}");
            assert_eq!(fs::read_to_string(&cat).unwrap(), text);
        }
        let huge = format!(
            "{{\"name\": \"app\", \"versions\": [], \"x\": \"{}\"}}",
            "a".repeat(CATALOG_MAX_BYTES)
        );
        fs::write(&cat, &huge).unwrap();
        let e = publish(&b, "s3", &cat, None, "x").unwrap_err().to_string();
        assert!(e.contains("limit"), "{e}");
        assert_eq!(fs::read(&cat).unwrap().len(), huge.len());
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
