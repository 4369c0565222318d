//! The vagrant-libvirt box and its catalog, as `-t vagrant` writes them, accepted by the real
//! `vagrant box add` (Debian's vagrant + vagrant-libvirt), checksum verified, listed with
//! provider libvirt; a wrong checksum is refused. Never `vagrant up` (it would create a libvirt
//! network). Versions: a second box of the same name is a new version of the catalog (served
//! over HTTP on 127.0.0.1) that `vagrant box outdated --global` reports and
//! `vagrant box update` fetches, the old version staying downloadable. FAILS, never skips,
//! when vagrant or vagrant-libvirt is missing.

use solum_image::vagrant;
use std::path::Path;
use std::process::{Command, Output};

fn require_vagrant() {
    let ok = Command::new("vagrant")
        .arg("--version")
        .output()
        .map(|o| o.status.success())
        .unwrap_or(false);
    assert!(
        ok,
        "`vagrant` is not installed: apt-get install --no-install-recommends vagrant vagrant-libvirt"
    );
}

fn vagrant(home: &Path, args: &[&str]) -> Output {
    Command::new("vagrant")
        .args(args)
        .env("VAGRANT_HOME", home)
        .env("VAGRANT_CHECKPOINT_DISABLE", "1")
        .env("VAGRANT_DEFAULT_PROVIDER", "libvirt")
        .env_remove("VAGRANT_CWD")
        .current_dir(home)
        .output()
        .expect("run vagrant")
}

fn text(o: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    )
}

fn make_box(dir: &Path, name: &str) -> (std::path::PathBuf, String) {
    make_box_of(dir, name, 1)
}

/// A tiny box (an empty sparse qcow2 of `gb` GB) written as the build writes it: to a part
/// file, then renamed over `NAME.box`.
fn make_box_of(dir: &Path, name: &str, gb: u64) -> (std::path::PathBuf, String) {
    let qcow2 = dir.join(format!("disk-{gb}.qcow2"));
    let o = Command::new("qemu-img")
        .args(["create", "-f", "qcow2"])
        .arg(&qcow2)
        .arg(format!("{gb}G"))
        .output()
        .expect("qemu-img (apt install qemu-utils)");
    assert!(o.status.success(), "{}", text(&o));
    let b = dir.join(format!("{name}.box"));
    let part = dir.join(format!("{name}.box.part"));
    vagrant::write_box(&qcow2, gb << 30, &part).expect("write box");
    std::fs::rename(&part, &b).expect("rename box");
    std::fs::remove_file(&qcow2).expect("remove qcow2");
    let sum = solum_image::output::sha256_file(&b).expect("sha256");
    (b, sum)
}

/// `python3 -m http.server` on 127.0.0.1, killed when dropped.
struct Server(std::process::Child);

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn serve(dir: &Path) -> (Server, String) {
    let port = solum_tests::free_port();
    let child = Command::new("python3")
        .args(["-m", "http.server", "--bind", "127.0.0.1"])
        .arg(port.to_string())
        .arg("--directory")
        .arg(dir)
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .expect("python3 -m http.server");
    let server = Server(child);
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
        assert!(
            std::time::Instant::now() < deadline,
            "http.server on port {port} did not start"
        );
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
    (server, format!("http://127.0.0.1:{port}"))
}

#[test]
fn a_new_build_is_a_new_version_seen_by_box_outdated_and_fetched_by_box_update() {
    require_vagrant();
    let t = tempfile::tempdir().expect("tempdir");
    let home = t.path().join("vagrant-home");
    let served = t.path().join("served");
    std::fs::create_dir_all(&home).expect("mkdir");
    std::fs::create_dir_all(&served).expect("mkdir");
    let (_server, base) = serve(&served);
    let name = format!("solum-test-versions-{}", std::process::id());
    let catalog = served.join(format!("{name}.json"));
    let catalog_url = format!("{base}/{name}.json");

    let (b, sum1) = make_box_of(&served, &name, 1);
    let v1 = vagrant::publish(&b, &sum1, &catalog, Some(&base), "first").expect("publish 1");
    let o = vagrant(&home, &["box", "add", &catalog_url]);
    assert!(o.status.success(), "vagrant box add: {}", text(&o));
    let listed = text(&vagrant(&home, &["box", "list"]));
    assert!(
        listed.contains(&format!("{name} (libvirt, {})", v1.version)),
        "{listed}"
    );
    let o = vagrant(&home, &["box", "outdated", "--global"]);
    assert!(
        text(&o).contains("up to date") && !text(&o).contains("outdated!"),
        "{}",
        text(&o)
    );

    // The next build: another box under the same name, a new version in the same catalog.
    let (b2, sum2) = make_box_of(&served, &name, 2);
    assert_eq!(b2, b);
    assert_ne!(sum1, sum2);
    let v2 = vagrant::publish(&b, &sum2, &catalog, Some(&base), "second").expect("publish 2");
    assert!(v2.added && v2.version != v1.version, "{v1:?} {v2:?}");
    let doc: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&catalog).expect("catalog")).expect("json");
    let versions: Vec<&str> = doc["versions"]
        .as_array()
        .expect("versions")
        .iter()
        .filter_map(|v| v["version"].as_str())
        .collect();
    assert_eq!(versions, [v1.version.as_str(), v2.version.as_str()]);

    let o = vagrant(&home, &["box", "outdated", "--global"]);
    let said = text(&o);
    assert!(
        said.contains(&name)
            && said.contains("outdated")
            && said.contains(&format!("Latest: {}", v2.version)),
        "vagrant box outdated --global: {said}"
    );
    let o = vagrant(
        &home,
        &["box", "update", "--box", &name, "--provider", "libvirt"],
    );
    assert!(o.status.success(), "vagrant box update: {}", text(&o));
    let listed = text(&vagrant(&home, &["box", "list"]));
    assert!(
        listed.contains(&format!("{name} (libvirt, {})", v1.version))
            && listed.contains(&format!("{name} (libvirt, {})", v2.version)),
        "vagrant box list: {listed}"
    );
    // The new version is up to date (the old one stays installed, and is listed as outdated).
    let o = vagrant(&home, &["box", "outdated", "--global"]);
    assert!(
        text(&o).contains(&format!("(v{}) is up to date", v2.version)),
        "{}",
        text(&o)
    );

    // The first version's box is still served with its own checksum: adding it again works.
    let home2 = t.path().join("vagrant-home-2");
    std::fs::create_dir_all(&home2).expect("mkdir");
    let o = vagrant(
        &home2,
        &["box", "add", &catalog_url, "--box-version", &v1.version],
    );
    assert!(
        o.status.success(),
        "box add of the old version: {}",
        text(&o)
    );

    // A catalog that is not JSON is not overwritten by the next build.
    std::fs::write(&catalog, "<html>oops</html>").expect("write");
    let e = vagrant::publish(&b, "f".repeat(64).as_str(), &catalog, Some(&base), "x")
        .expect_err("a broken catalog was accepted");
    assert!(e.to_string().contains("left unchanged"), "{e}");
    assert_eq!(
        std::fs::read_to_string(&catalog).expect("catalog"),
        "<html>oops</html>"
    );
}

#[test]
fn box_added_from_catalog_with_checksum_and_listed_as_libvirt() {
    require_vagrant();
    let plugins = Command::new("vagrant")
        .args(["plugin", "list"])
        .env("VAGRANT_CHECKPOINT_DISABLE", "1")
        .output()
        .expect("vagrant plugin list");
    assert!(
        text(&plugins).contains("vagrant-libvirt"),
        "the vagrant-libvirt plugin is missing (apt-get install vagrant-libvirt): {}",
        text(&plugins)
    );
    let t = tempfile::tempdir().expect("tempdir");
    let home = t.path().join("vagrant-home");
    std::fs::create_dir_all(&home).expect("mkdir");
    let name = format!("solum-test-box-{}", std::process::id());
    let (b, sum) = make_box(t.path(), &name);
    let catalog = t.path().join(format!("{name}.json"));
    let published = vagrant::publish(&b, &sum, &catalog, None, "test").expect("catalog");

    let o = vagrant(&home, &["box", "add", catalog.to_str().unwrap_or("?")]);
    assert!(o.status.success(), "vagrant box add: {}", text(&o));
    let list = vagrant(&home, &["box", "list"]);
    let listed = text(&list);
    assert!(
        listed.contains(&name) && listed.contains("libvirt") && listed.contains(&published.version),
        "vagrant box list: {listed}"
    );
    let img = walkdir::WalkDir::new(home.join("boxes").join(&name))
        .into_iter()
        .filter_map(Result::ok)
        .find(|e| e.file_name() == "box.img")
        .map(|e| e.into_path())
        .expect("box.img in the added box");
    assert!(
        img.to_string_lossy().contains("libvirt"),
        "{}",
        img.display()
    );
    let info = Command::new("qemu-img")
        .arg("info")
        .arg(&img)
        .output()
        .expect("qemu-img info");
    assert!(
        String::from_utf8_lossy(&info.stdout).contains("file format: qcow2"),
        "{}: {}",
        img.display(),
        text(&info)
    );

    // a catalog whose checksum does not match the box is refused
    let bad_name = format!("{name}-bad");
    let bad = t.path().join(format!("{bad_name}.json"));
    let wrong = "0".repeat(64);
    let doc = vagrant::add_version(
        None,
        &bad_name,
        "1.0.0",
        &vagrant::file_url(&b),
        &wrong,
        "wrong",
    );
    std::fs::write(&bad, vagrant::render(&doc)).expect("bad catalog");
    let o = vagrant(&home, &["box", "add", bad.to_str().unwrap_or("?")]);
    assert!(!o.status.success(), "a wrong checksum was accepted");
    assert!(text(&o).to_lowercase().contains("checksum"), "{}", text(&o));
    let listed = text(&vagrant(&home, &["box", "list"]));
    assert!(!listed.contains(&bad_name), "{listed}");
}

#[test]
fn a_build_refuses_a_catalog_it_cannot_extend_before_building_and_leaves_it() {
    let t = tempfile::tempdir().expect("tempdir");
    let out = t.path().join("app");
    let catalog = t.path().join("app.json");
    for (body, want) in [
        ("<html>not json</html>".to_string(), "not a JSON catalog"),
        (
            r#"{"name": "other", "versions": []}"#.to_string(),
            "catalog of box \"other\", not \"app\"",
        ),
        (
            r#"{"name": "app", "versions": [{"providers": []}]}"#.to_string(),
            "versions[0] has no \"version\"",
        ),
        (" ".repeat(vagrant::CATALOG_MAX_BYTES + 1), "byte limit"),
    ] {
        std::fs::write(&catalog, &body).expect("write");
        let started = std::time::Instant::now();
        let o = Command::new(env!("CARGO_BIN_EXE_solum-image"))
            .args(["build", "-o"])
            .arg(&out)
            .args(["-t", "vagrant", "debian-minimal"])
            .output()
            .expect("solum-image");
        let said = text(&o);
        let said = said.trim();
        assert!(!o.status.success(), "{said}");
        assert!(
            said.contains(want) && said.contains("left unchanged") && said.lines().count() == 1,
            "{said}"
        );
        assert!(started.elapsed() < std::time::Duration::from_secs(10));
        assert_eq!(std::fs::read_to_string(&catalog).expect("catalog"), body);
        assert!(!t.path().join("app.box").exists());
    }
}
