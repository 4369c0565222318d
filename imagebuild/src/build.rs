//! One build from a plan: the tree (from the final-tree cache when the plan
//! hash matches, else base tree + phases, then renamed into the cache), then
//! the outputs, all read from the cached tree in place. Owns the build
//! directory and refuses to delete it while anything is mounted below it.

use crate::cache::{self, Cache, CacheError};
use crate::disk::{self, DiskError};
use crate::hash::HashError;
use crate::hooks::{self, HooksError};
use crate::mounts;
use crate::output::{self, OutputError, Produced};
use crate::phase::Phase;
use crate::plan::{Plan, RootTree};
use crate::progress;
use crate::rootfs::{self, RootfsError};
use crate::run::{self, Profile, RunContext, RunError};
use crate::tidy::{self, TidyError};
use crate::vagrant::{self, BoxError, CatalogError};
use std::fs;
use std::path::{Path, PathBuf};
use std::time::Instant;

/// Any build failure.
#[derive(Debug, thiserror::Error)]
pub enum BuildError {
    #[error(transparent)]
    Hash(#[from] HashError),
    #[error(transparent)]
    Cache(#[from] CacheError),
    #[error(transparent)]
    Hooks(#[from] HooksError),
    #[error(transparent)]
    Rootfs(#[from] RootfsError),
    #[error(transparent)]
    Run(#[from] RunError),
    #[error(transparent)]
    Output(#[from] OutputError),
    #[error(transparent)]
    Disk(#[from] DiskError),
    #[error(transparent)]
    Box(#[from] BoxError),
    #[error(transparent)]
    Catalog(#[from] CatalogError),
    #[error(transparent)]
    Tidy(#[from] TidyError),
    #[error("--offline: the final tree for plan {hash} is not cached and the plan needs root.d scripts to make a tree")]
    OfflineNeedsTree { hash: String },
    #[error("cannot make the build directory: {0}")]
    Workdir(std::io::Error),
    #[error("{} is still mounted after the phases; the tree is not cached", .0.display())]
    StillMounted(PathBuf),
    #[error("--image-size is only for disk outputs (raw, qcow2, vagrant)")]
    SizeWithoutDisk,
}

/// Options that are not part of the plan (they do not change the result).
#[derive(Debug, Clone)]
pub struct BuildOptions {
    pub output: PathBuf,
    pub cache_dir: PathBuf,
    pub elements_path: Vec<PathBuf>,
    pub offline: bool,
    pub trace: bool,
    pub docker_tag: Option<String>,
    pub image_size_gb: Option<f64>,
    /// Where `-t vagrant` boxes will be served (`BASE/NAME-VERSION.box` in the catalog);
    /// `None`: `file://` URLs of the files written.
    pub box_base_url: Option<String>,
    /// How the disk outputs are made (mkfs and qemu-img options).
    pub disk: disk::DiskOptions,
    /// Also write `NAME.EXT.md5` beside each file output (DIB's `--checksum`).
    pub checksum: bool,
    /// The caller's environment, passed to scripts as DIB passes it (the
    /// plan was made from it).
    pub env: std::collections::BTreeMap<String, String>,
}

/// What a build did.
#[derive(Debug, Clone)]
pub struct BuildReport {
    pub plan_hash: String,
    pub from_cache: bool,
    pub profile: Profile,
    pub produced: Vec<Produced>,
    /// Seconds spent on each output (`tar`, `docker`, `disk`, `qcow2`,
    /// `vagrant`), in order.
    pub output_timings: Vec<(String, f64)>,
}

impl BuildReport {
    pub fn render_profile(&self) -> String {
        let mut s = self.profile.render();
        for p in &self.produced {
            match p {
                Produced::File { path, sha256 } => s.push_str(&format!(
                    "solum-image: wrote {} (sha256 {sha256})\n",
                    path.display()
                )),
                Produced::DockerImage { tag, id } => s.push_str(&format!(
                    "solum-image: imported docker image {tag} ({id})\n"
                )),
            }
        }
        s
    }
}

/// A build's scratch directory; removed on drop unless something is still
/// mounted below it (then it is left, with a warning, rather than deleting
/// through a mount).
struct Workdir {
    path: PathBuf,
}

impl Workdir {
    fn new(what: &str, parent: &Path) -> Result<Workdir, BuildError> {
        let dir = tempfile::Builder::new()
            .prefix(&cache::work_prefix(what))
            .tempdir_in(parent)
            .map_err(BuildError::Workdir)?;
        Ok(Workdir { path: dir.keep() })
    }
}

impl Drop for Workdir {
    fn drop(&mut self) {
        // What a failed build's elements mounted below the tree (the
        // builder's own mounts are guards, gone already).
        if let Err(e) = tidy::unmount_below(&self.path) {
            tracing::warn!("{e}");
        }
        let left = mounts::mounts_below(&self.path);
        if !left.is_empty() {
            tracing::warn!(
                "not removing {} because {} is still mounted",
                self.path.display(),
                left[0].display()
            );
            return;
        }
        let _ = fs::remove_dir_all(&self.path);
    }
}

/// Files being written under temp names; whatever is still there when this
/// is dropped (a failure, an interrupt) is removed.
struct PartFiles(Vec<PathBuf>);

impl Drop for PartFiles {
    fn drop(&mut self) {
        for p in &self.0 {
            let _ = fs::remove_file(p);
        }
    }
}

fn timed(profile: &mut Profile, phase: Phase, name: &str, start: Instant) {
    profile.steps.push(run::Timing {
        phase,
        name: name.into(),
        seconds: start.elapsed().as_secs_f64(),
    });
}

/// Run the plan into a new tree and move it to `dest` in the cache.
fn make_tree(
    plan: &Plan,
    hash: &str,
    opts: &BuildOptions,
    cache: &Cache,
    dest: &Path,
) -> Result<Profile, BuildError> {
    let mut profile = Profile::default();
    let work = Workdir::new("build", &cache.work_parent()?)?;
    let root = work.path.join("mnt");
    let hooks_dir = work.path.join("hooks");
    let image_dir = work.path.join("image");
    fs::create_dir_all(&root).map_err(BuildError::Workdir)?;
    fs::create_dir_all(&image_dir).map_err(BuildError::Workdir)?;
    fs::create_dir_all(cache.root().join("solum-image/lockfiles")).map_err(BuildError::Workdir)?;
    hooks::prepare(plan, &hooks_dir)?;
    let start = Instant::now();
    let apt = match &plan.root_tree {
        RootTree::Debian { release, arch, .. } => {
            rootfs::lay_base(cache, &plan.root_tree, opts.offline, &root)?;
            Some(cache.apt_archives(release, arch)?)
        }
        RootTree::Elements => {
            if opts.offline {
                return Err(BuildError::OfflineNeedsTree {
                    hash: hash.to_string(),
                });
            }
            None
        }
    };
    timed(&mut profile, Phase::Root, "(base tree)", start);
    let ctx = RunContext {
        plan,
        root: &root,
        hooks: &hooks_dir,
        build_dir: &work.path,
        image_dir: &image_dir,
        cache_dir: cache.root(),
        apt_archives: apt.as_deref(),
        elements_path: &opts.elements_path,
        offline: opts.offline,
        trace: opts.trace,
        caller_env: &opts.env,
    };
    if let Err(e) = run::run_phases(&ctx, &mut profile) {
        progress::clear();
        eprint!("{}", profile.render());
        return Err(e.into());
    }
    if crate::namespace::interrupted() {
        return Err(RunError::Interrupted.into());
    }
    let start = Instant::now();
    progress::step("tidy: /tmp, /var/log");
    for m in tidy::tidy(&root)? {
        progress::line(&format!(
            "solum-image: unmounted {} (an element mounted it)",
            m.display()
        ));
    }
    timed(
        &mut profile,
        Phase::Cleanup,
        "(tidy: /tmp, /var/log)",
        start,
    );
    let start = Instant::now();
    // A tree with a kernel gets its boot loader config now, so the cached
    // tree is the disk's root file system as it will be.
    disk::write_boot_config(&root, &disk_ids(plan, hash))?;
    if let Some(m) = mounts::mounts_below(&root).first() {
        return Err(BuildError::StillMounted(m.clone()));
    }
    fs::rename(&root, dest).map_err(|source| RootfsError::Io {
        path: dest.to_path_buf(),
        source,
    })?;
    timed(&mut profile, Phase::Cleanup, "(tree into the cache)", start);
    drop(work);
    Ok(profile)
}

/// The disk's file system identities for a plan (pure).
fn disk_ids(plan: &Plan, hash: &str) -> disk::Ids {
    let label = plan
        .env
        .get("DIB_ROOT_LABEL")
        .filter(|l| !l.is_empty())
        .cloned()
        .unwrap_or_else(|| "cloudimg-rootfs".into());
    disk::Ids::from_hash(hash, &label)
}

/// Move a finished file to its final name and write its `.sha256`.
fn finish_file(part: &Path, dest: &Path) -> Result<Produced, BuildError> {
    progress::step(&format!("sha256 {}", dest.display()));
    let sum = output::sha256_file(part)?;
    if fs::rename(part, dest).is_ok() {
        output::write_atomic(
            &output::output_path(dest, "sha256"),
            output::sum_line(&sum, dest).as_bytes(),
        )?;
    } else {
        // Another file system: copy (under a temp name there), then drop ours.
        output::write_file_with_sum(part, &sum, dest)?;
        let _ = fs::remove_file(part);
    }
    Ok(Produced::File {
        path: dest.to_path_buf(),
        sha256: sum,
    })
}

/// Assemble the disk outputs (raw, qcow2, vagrant) from the finished tree.
/// The big files are written next to the outputs under temp names.
fn make_disks(
    plan: &Plan,
    hash: &str,
    tree: &Path,
    opts: &BuildOptions,
    timings: &mut Vec<(String, f64)>,
) -> Result<Vec<Produced>, BuildError> {
    let wants = |t: &str| plan.outputs.iter().any(|o| o == t);
    let start = Instant::now();
    progress::step("disk: laying out");
    let work = Workdir::new("disk", &std::env::temp_dir())?;
    let ids = disk_ids(plan, hash);
    let size = opts
        .image_size_gb
        .map(|g| (g * 1024.0 * 1024.0 * 1024.0) as u64);
    let raw = cache::partial(&output::output_path(&opts.output, "raw"));
    let qcow2 = cache::partial(&output::output_path(&opts.output, "qcow2"));
    let boxfile = output::output_path(&opts.output, "box");
    let box_part = cache::partial(&boxfile);
    let _parts = PartFiles(vec![raw.clone(), qcow2.clone(), box_part.clone()]);
    let layout = disk::assemble_raw(tree, &ids, &opts.disk, size, &work.path, &raw)?;
    timings.push(("disk".into(), start.elapsed().as_secs_f64()));
    progress::line(&format!(
        "solum-image: disk assembled in {:.1} s (root UUID {})",
        start.elapsed().as_secs_f64(),
        ids.root_uuid
    ));
    let mut produced = Vec::new();
    if wants("qcow2") || wants("vagrant") {
        let t = Instant::now();
        disk::convert_qcow2(&raw, &qcow2, &opts.disk)?;
        timings.push(("qcow2".into(), t.elapsed().as_secs_f64()));
        progress::line(&format!(
            "solum-image: qcow2 in {:.1} s",
            t.elapsed().as_secs_f64()
        ));
    }
    if wants("vagrant") {
        let t = Instant::now();
        let qcow2_len = fs::metadata(&qcow2).map(|m| m.len()).unwrap_or(0);
        let bar = progress::FileBar::new(
            "vagrant box",
            &box_part,
            qcow2_len,
            progress::Measure::Length,
        );
        vagrant::write_box(&qcow2, layout.disk_bytes, &box_part)?;
        drop(bar);
        timings.push(("vagrant".into(), t.elapsed().as_secs_f64()));
        let made = finish_file(&box_part, &boxfile)?;
        if let Produced::File { path, sha256 } = &made {
            let published = vagrant::publish(
                path,
                sha256,
                &output::output_path(&opts.output, "json"),
                opts.box_base_url.as_deref(),
                &format!("solum-image plan {hash}"),
            )?;
            eprintln!(
                "solum-image: vagrant box {} version {}{}",
                vagrant::box_name(path),
                published.version,
                if published.added {
                    ""
                } else {
                    " (unchanged: the catalog already has this box)"
                }
            );
        }
        produced.push(made);
    }
    if wants("qcow2") {
        produced.push(finish_file(
            &qcow2,
            &output::output_path(&opts.output, "qcow2"),
        )?);
    }
    if wants("raw") {
        produced.push(finish_file(
            &raw,
            &output::output_path(&opts.output, "raw"),
        )?);
    }
    drop(work);
    Ok(produced)
}

/// Build `plan`.
pub fn build(plan: &Plan, opts: &BuildOptions) -> Result<BuildReport, BuildError> {
    for t in &plan.outputs {
        if !output::SUPPORTED.contains(&t.as_str()) {
            return Err(OutputError::Unsupported(t.clone()).into());
        }
    }
    let wants_disk = plan
        .outputs
        .iter()
        .any(|t| output::DISK_TYPES.contains(&t.as_str()));
    if opts.image_size_gb.is_some() && !wants_disk {
        return Err(BuildError::SizeWithoutDisk);
    }
    if plan.outputs.iter().any(|o| o == "vagrant") {
        // A catalog that cannot take the new version fails the build before it starts.
        let boxfile = output::output_path(&opts.output, "box");
        vagrant::read_catalog(
            &output::output_path(&opts.output, "json"),
            &vagrant::box_name(&boxfile),
        )?;
    }
    let hash = plan.hash()?;
    let cache = Cache::new(&opts.cache_dir);
    for left in cache.sweep_work() {
        progress::line(&format!(
            "solum-image: removed {} (left by a killed build)",
            left.display()
        ));
    }
    let tree = cache.tree_dir(&hash)?;
    let _lock = cache.lock(&format!("tree-{}", &hash[..16]))?;
    let (from_cache, profile) = if tree.is_dir() {
        progress::line(&format!(
            "solum-image: plan {hash} unchanged: reusing the cached tree {}",
            tree.display()
        ));
        cache.touch(&tree);
        (true, Profile::default())
    } else {
        let profile = make_tree(plan, &hash, opts, &cache, &tree)?;
        let keep = std::env::var("DIB_IMAGE_CACHE_TREES")
            .ok()
            .and_then(|v| v.parse().ok())
            .unwrap_or(cache::DEFAULT_TREES_KEPT);
        for old in cache.prune_trees(keep, &tree)? {
            progress::line(&format!(
                "solum-image: pruned cached tree {}",
                old.display()
            ));
        }
        (false, profile)
    };
    let tag = opts
        .docker_tag
        .clone()
        .unwrap_or_else(|| format!("{}:latest", plan.image_name));
    if crate::namespace::interrupted() {
        return Err(RunError::Interrupted.into());
    }
    let mut timings = Vec::new();
    let mut produced = output::produce(&tree, &plan.outputs, &opts.output, &tag, &mut timings)?;
    if wants_disk {
        produced.extend(make_disks(plan, &hash, &tree, opts, &mut timings)?);
    }
    if opts.checksum {
        for p in &produced {
            if let Produced::File { path, .. } = p {
                progress::step(&format!("md5 {}", path.display()));
                let md5 = output::md5_file(path)?;
                output::write_atomic(
                    &output::output_path(path, "md5"),
                    output::sum_line(&md5, path).as_bytes(),
                )?;
            }
        }
    }
    progress::clear();
    Ok(BuildReport {
        plan_hash: hash,
        from_cache,
        profile,
        produced,
        output_timings: timings,
    })
}
