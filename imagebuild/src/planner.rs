//! From a search path and the user's element list to a `Plan`: scan,
//! resolve, collect. The entry point of planning for the binary and tests.

use crate::collect::{self, CollectError, PlanOptions};
use crate::element::{ElementError, ElementIndex};
use crate::plan::Plan;
use crate::resolve::{self, ResolveError};
use std::path::PathBuf;

/// Any planning failure.
#[derive(Debug, thiserror::Error)]
pub enum PlanError {
    #[error(transparent)]
    Element(#[from] ElementError),
    #[error(transparent)]
    Resolve(#[from] ResolveError),
    #[error(transparent)]
    Collect(#[from] CollectError),
}

/// Scan `search_path`, resolve `elements` and read them into a plan.
pub fn make_plan(
    search_path: &[PathBuf],
    elements: &[String],
    no_base: bool,
    opts: &PlanOptions,
) -> Result<Plan, PlanError> {
    let mut index = ElementIndex::scan(search_path)?;
    if let Some(dir) = &opts.builtin_dir {
        index.use_builtins(dir)?;
    }
    let resolved = resolve::resolve(&index, elements, no_base)?;
    Ok(collect::collect(&resolved, opts)?)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::phase::{Phase, Place};
    use crate::plan::{PkgAction, RootTree};
    use std::fs;
    use std::os::unix::fs::PermissionsExt;
    use std::path::Path;

    fn write(p: &Path, text: &str, exec: bool) {
        fs::create_dir_all(p.parent().unwrap()).unwrap();
        fs::write(p, text).unwrap();
        let mode = if exec { 0o755 } else { 0o644 };
        fs::set_permissions(p, fs::Permissions::from_mode(mode)).unwrap();
    }

    fn opts() -> PlanOptions {
        PlanOptions {
            image_name: "img".into(),
            outputs: vec!["tar".into()],
            release: "bookworm".into(),
            arch: "amd64".into(),
            extra_packages: vec!["htop".into()],
            env: [
                ("DIB_FLAVOUR".to_string(), "x".to_string()),
                ("DIB_ADMIN_PASSWORD".to_string(), "hunter2".to_string()),
                ("HOME".to_string(), "/root".to_string()),
            ]
            .into_iter()
            .collect(),
            args: String::new(),
            builtin_dir: None,
        }
    }

    /// A fixture tree: an OS element, base, and an app with every kind of file.
    fn fixture(root: &Path) {
        write(
            &root.join("debian-minimal/element-provides"),
            "operating-system\n",
            false,
        );
        write(
            &root.join("debian-minimal/environment.d/10-debian.bash"),
            "export X=1\n",
            false,
        );
        write(
            &root.join("debian-minimal/install.d/05-first"),
            "#!/bin/sh\n",
            true,
        );
        write(&root.join("base/install.d/50-base"), "#!/bin/sh\n", true);
        write(
            &root.join("base/install.d/10-skipped.sh"),
            "#!/bin/sh\n",
            true,
        );
        write(
            &root.join("base/install.d/20-not-exec"),
            "#!/bin/sh\n",
            false,
        );
        write(&root.join("app/element-deps"), "dep\n", false);
        write(
            &root.join("app/environment.d/02-app"),
            "export Y=2\n",
            false,
        );
        write(&root.join("app/install.d/100-last"), "#!/bin/sh\n", true);
        write(&root.join("app/install.d/9-early"), "#!/bin/sh\n", true);
        write(&root.join("app/root.d/10-root"), "#!/bin/sh\n", true);
        write(&root.join("app/finalise.d/10-fin"), "#!/bin/sh\n", true);
        write(&root.join("app/static/etc/app.conf"), "a=1\n", false);
        write(&root.join("app/bin/app-tool"), "#!/bin/sh\n", true);
        write(
            &root.join("app/package-installs.yaml"),
            "web:\ngcc:\n  build-only: true\nonly-when:\n  when: DIB_FLAVOUR=y\n",
            false,
        );
        write(
            &root.join("app/pkg-map"),
            r#"{"family": {"debian": {"web": "nginx-light"}}}"#,
            false,
        );
        write(&root.join("dep/post-install.d/30-dep"), "#!/bin/sh\n", true);
    }

    fn plan_in(root: &Path) -> Result<Plan, PlanError> {
        make_plan(
            &[root.to_path_buf()],
            &["debian-minimal".into(), "app".into()],
            false,
            &opts(),
        )
    }

    #[test]
    fn full_plan_from_fixture() {
        let t = tempfile::tempdir().unwrap();
        fixture(t.path());
        let plan = plan_in(t.path()).unwrap();
        let names: Vec<&str> = plan.elements.iter().map(|e| e.name.as_str()).collect();
        assert_eq!(names, vec!["base", "debian-minimal", "app", "dep"]);
        assert!(matches!(plan.root_tree, RootTree::Debian { .. }));
        let env: Vec<&str> = plan.environment_d.iter().map(|f| f.name.as_str()).collect();
        assert_eq!(env, vec!["02-app", "10-debian.bash"]);
        let install = plan
            .phases
            .iter()
            .find(|p| p.phase == Phase::Install)
            .unwrap();
        assert_eq!(install.place, Place::Chroot);
        let scripts: Vec<(&str, &str)> = install
            .scripts
            .iter()
            .map(|s| (s.name.as_str(), s.element.as_str()))
            .collect();
        assert_eq!(
            scripts,
            vec![
                ("05-first", "debian-minimal"),
                ("9-early", "app"),
                ("50-base", "base"),
                ("100-last", "app")
            ]
        );
        let order: Vec<Phase> = plan.phases.iter().map(|p| p.phase).collect();
        assert_eq!(order, Phase::ALL.to_vec());
        assert_eq!(plan.static_files[0].name, "etc/app.conf");
        assert_eq!(plan.bin_files[0].name, "app-tool");
        let installs: Vec<&str> = plan
            .packages
            .iter()
            .filter(|s| s.action == PkgAction::Install)
            .flat_map(|s| s.packages.iter().map(|p| p.package.as_str()))
            .collect();
        assert_eq!(installs, vec!["gcc", "htop", "nginx-light"]);
        assert_eq!(plan.env.get("DIB_FLAVOUR").map(String::as_str), Some("x"));
        assert!(!plan.env.contains_key("HOME"));
        // Secrets are neither shown nor dropped from the hash.
        let json = serde_json::to_string(&plan).unwrap();
        assert!(!json.contains("hunter2"));
        assert!(!plan.render_text().contains("hunter2"));
        let text = plan.render_text();
        assert!(text.contains("install.d (in chroot)"), "{text}");
        assert!(text.contains("  DIB_FLAVOUR=x\n"), "{text}");
        assert!(!text.contains("DIB_ADMIN_PASSWORD="), "{text}");
        assert!(
            text.contains("secret variables (passed, hashed, never shown): DIB_ADMIN_PASSWORD\n"),
            "{text}"
        );
        assert_eq!(
            plan.passed_env.get("HOME").map(String::as_str),
            Some("/root")
        );
        assert!(text.contains("[install] gcc htop nginx-light"), "{text}");
        assert!(text.contains("[uninstall] gcc"), "{text}");
    }

    #[test]
    fn duplicate_script_names_both_elements() {
        let t = tempfile::tempdir().unwrap();
        fixture(t.path());
        write(&t.path().join("dep/install.d/50-base"), "#!/bin/sh\n", true);
        let e = plan_in(t.path()).unwrap_err();
        assert_eq!(
            e.to_string(),
            "install.d script '50-base' is in both element 'base' and element 'dep'"
        );
    }

    #[test]
    fn malformed_package_installs_names_file_and_line() {
        let t = tempfile::tempdir().unwrap();
        fixture(t.path());
        let p = t.path().join("app/package-installs.yaml");
        write(&p, "web:\n  phase: install.d\n   bad-indent: 1\n", false);
        let e = plan_in(t.path()).unwrap_err().to_string();
        assert!(e.starts_with(&format!("{}:", p.display())), "{e}");
        assert!(e.contains("invalid YAML"), "{e}");
    }

    #[test]
    fn hash_is_stable_and_tracks_content() {
        let t = tempfile::tempdir().unwrap();
        fixture(t.path());
        let h1 = plan_in(t.path()).unwrap().hash().unwrap();
        let h2 = plan_in(t.path()).unwrap().hash().unwrap();
        assert_eq!(h1, h2);
        assert_eq!(h1.len(), 64);
        // A non-runnable file still changes the hash (it is shipped in the hooks dir).
        write(
            &t.path().join("base/install.d/20-not-exec"),
            "#!/bin/sh\necho\n",
            false,
        );
        let h3 = plan_in(t.path()).unwrap().hash().unwrap();
        assert_ne!(h1, h3);
        // Output types do not key the tree.
        let mut o = opts();
        o.outputs = vec!["docker".into(), "qcow2".into()];
        let h_out = make_plan(
            &[t.path().to_path_buf()],
            &["debian-minimal".into(), "app".into()],
            false,
            &o,
        )
        .unwrap()
        .hash()
        .unwrap();
        assert_eq!(h3, h_out);
        // So does a secret's value, though it is never shown.
        let mut o = opts();
        o.env.insert("DIB_ADMIN_PASSWORD".into(), "other".into());
        let h4 = make_plan(
            &[t.path().to_path_buf()],
            &["debian-minimal".into(), "app".into()],
            false,
            &o,
        )
        .unwrap()
        .hash()
        .unwrap();
        assert_ne!(h3, h4);
        // And an input file's content.
        let bin = t.path().join("agent-bin");
        fs::write(&bin, "v1").unwrap();
        let mut o = opts();
        o.env
            .insert("SOLUM_AGENT_BINARY".into(), bin.display().to_string());
        let mk = |o: &PlanOptions| {
            make_plan(
                &[t.path().to_path_buf()],
                &["debian-minimal".into(), "app".into()],
                false,
                o,
            )
            .unwrap()
            .hash()
            .unwrap()
        };
        let a = mk(&o);
        fs::write(&bin, "v2").unwrap();
        assert_ne!(a, mk(&o));
    }

    fn plan_with(root: &Path, env: &[(&str, &str)]) -> Result<Plan, PlanError> {
        let mut o = opts();
        for (k, v) in env {
            o.env.insert(k.to_string(), v.to_string());
        }
        make_plan(
            &[root.to_path_buf()],
            &["debian-minimal".into(), "app".into()],
            false,
            &o,
        )
    }

    fn installs(plan: &Plan) -> Vec<&str> {
        plan.packages
            .iter()
            .filter(|s| s.action == PkgAction::Install)
            .flat_map(|s| s.packages.iter().map(|p| p.package.as_str()))
            .collect()
    }

    #[test]
    fn package_selection_sees_what_environment_d_exports() {
        let t = tempfile::tempdir().unwrap();
        fixture(t.path());
        // dib-python's way: a fragment sets the default, entries follow it.
        write(
            &t.path().join("app/environment.d/50-py"),
            "export DIB_PYTHON_VERSION=${DIB_PYTHON_VERSION:-3}\nexport DIB_FLAVOUR=${DIB_FLAVOUR:-y}\n",
            false,
        );
        write(
            &t.path().join("app/package-installs.yaml"),
            "py2:\n  dib_python_version: 2\npy3:\n  dib_python_version: 3\nfrom-pkg:\n  installtype: package\nfrom-src:\n  installtype: source\nonly-when:\n  when: DIB_FLAVOUR=x\n",
            false,
        );
        let p = plan_with(t.path(), &[]).unwrap();
        // DIB_FLAVOUR=x comes from the caller and wins over the fragment's default.
        assert_eq!(installs(&p), vec!["from-src", "htop", "only-when", "py3"]);
        let p = plan_with(
            t.path(),
            &[
                ("DIB_PYTHON_VERSION", "2"),
                ("DIB_DEFAULT_INSTALLTYPE", "package"),
            ],
        )
        .unwrap();
        assert_eq!(installs(&p), vec!["from-pkg", "htop", "only-when", "py2"]);
        assert_eq!(p.env["DIB_DEFAULT_INSTALLTYPE"], "package");
        // A fragment that fails is named at planning.
        write(
            &t.path().join("app/environment.d/60-bad"),
            "echo 'Can not continue'\nexit 1\n",
            false,
        );
        let e = plan_with(t.path(), &[]).unwrap_err().to_string();
        assert!(
            e.starts_with("environment.d/60-bad of element 'app' fails when sourced"),
            "{e}"
        );
    }

    #[test]
    fn every_file_a_dib_variable_names_keys_the_plan() {
        let t = tempfile::tempdir().unwrap();
        fixture(t.path());
        let conf = t.path().join("jail.local");
        let keys = t.path().join("dir/keys");
        fs::write(&conf, "v1").unwrap();
        write(&keys, "ssh-ed25519 AAAA v1", false);
        let dir = t.path().join("dir");
        let later = t.path().join("later.conf");
        let env = [
            ("DIB_FAIL2BAN_CONF", conf.to_str().unwrap()),
            ("DIB_DEV_USER_AUTHORIZED_KEYS", keys.to_str().unwrap()),
            ("DIB_APT_SOURCES_DIR", dir.to_str().unwrap()),
            ("DIB_NOT_YET", later.to_str().unwrap()),
        ];
        let h = || plan_with(t.path(), &env).unwrap().hash().unwrap();
        let h1 = h();
        assert_eq!(h1, h());
        fs::write(&conf, "v2").unwrap();
        let h2 = h();
        assert_ne!(h1, h2, "the file DIB_FAIL2BAN_CONF names changed");
        write(&keys, "ssh-ed25519 AAAA v2", false);
        let h3 = h();
        assert_ne!(
            h2, h3,
            "the file DIB_DEV_USER_AUTHORIZED_KEYS names changed"
        );
        write(&t.path().join("dir/new"), "x", false);
        let h4 = h();
        assert_ne!(
            h3, h4,
            "a file appeared in the directory DIB_APT_SOURCES_DIR names"
        );
        fs::write(t.path().join("later.conf"), "now").unwrap();
        assert_ne!(h4, h(), "the file DIB_NOT_YET names appeared");
        // --dry-run lists them, the secret-looking variable's path hidden.
        let plan = plan_with(t.path(), &env).unwrap();
        let parts: Vec<String> = plan
            .key_parts()
            .unwrap()
            .into_iter()
            .map(|p| p.what)
            .collect();
        let shown = parts.join("\n");
        assert!(
            shown.contains(&format!("input {} ($DIB_FAIL2BAN_CONF)", conf.display())),
            "{shown}"
        );
        assert!(
            shown.contains(
                "input (the path a secret variable names) ($DIB_DEV_USER_AUTHORIZED_KEYS)"
            ),
            "{shown}"
        );
        assert!(shown.contains("element app ("), "{shown}");
        let json = serde_json::to_string(&plan).unwrap();
        assert!(!json.contains(keys.to_str().unwrap()), "{json}");
    }

    #[test]
    fn host_files_an_element_reads_key_the_plan() {
        let t = tempfile::tempdir().unwrap();
        fixture(t.path());
        write(&t.path().join("local-config/README"), "", false);
        let home = t.path().join("home");
        write(&home.join(".ssh/authorized_keys"), "k1", false);
        let mk = || {
            let mut o = opts();
            o.env.insert("HOME".into(), home.display().to_string());
            make_plan(
                &[t.path().to_path_buf()],
                &["debian-minimal".into(), "app".into(), "local-config".into()],
                false,
                &o,
            )
            .unwrap()
            .hash()
            .unwrap()
        };
        let a = mk();
        write(&home.join(".ssh/authorized_keys"), "k2", false);
        assert_ne!(a, mk());
    }

    #[test]
    fn the_callers_environment_keys_the_plan_but_its_session_does_not() {
        let t = tempfile::tempdir().unwrap();
        fixture(t.path());
        let h = |env: &[(&str, &str)]| plan_with(t.path(), env).unwrap().hash().unwrap();
        let base = h(&[]);
        assert_ne!(base, h(&[("no_proxy", "example.invalid")]));
        assert_ne!(base, h(&[("OS_PASSWORD", "pw1")]));
        assert_eq!(
            base,
            h(&[("TERM", "xterm"), ("SSH_CLIENT", "1 2 3"), ("TMPDIR", "/x")])
        );
    }

    #[test]
    fn output_name_keys_the_hash_only_when_an_element_reads_it() {
        let t = tempfile::tempdir().unwrap();
        fixture(t.path());
        let named = |name: &str| {
            let mut o = opts();
            o.image_name = name.into();
            o.args = format!("-o {name} debian-minimal app");
            make_plan(
                &[t.path().to_path_buf()],
                &["debian-minimal".into(), "app".into()],
                false,
                &o,
            )
            .unwrap()
        };
        let (vm, vm2) = (named("vm"), named("vm2"));
        assert!(vm.name_readers().unwrap().is_empty());
        assert_eq!(vm.hash().unwrap(), vm2.hash().unwrap());
        // The plan itself still says the name scripts get.
        assert_eq!(vm2.env["IMAGE_NAME"], "vm2");
        assert_eq!(vm2.env["DIB_ARGS"], "-o vm2 debian-minimal app");
        write(
            &t.path().join("dep/post-install.d/40-name"),
            "#!/bin/sh\necho \"$IMAGE_NAME\" > /etc/image-name\n",
            true,
        );
        let (vm, vm2) = (named("vm"), named("vm2"));
        assert_eq!(vm.name_readers().unwrap(), vec!["dep".to_string()]);
        assert_ne!(vm.hash().unwrap(), vm2.hash().unwrap());
        // DIB_ARGS carries the name too.
        fs::remove_file(t.path().join("dep/post-install.d/40-name")).unwrap();
        write(&t.path().join("app/README.rst"), "Reads DIB_ARGS.\n", false);
        let (vm, vm2) = (named("vm"), named("vm2"));
        assert_eq!(vm.name_readers().unwrap(), vec!["app".to_string()]);
        assert_ne!(vm.hash().unwrap(), vm2.hash().unwrap());
    }
}
