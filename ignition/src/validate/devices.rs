//! Disks, partitions, filesystems, RAID and LUKS: required devices, formats, labels, GUIDs.

use super::{dups, nodes::check_path, resource};
use crate::report::{join, Report};
use crate::types::{Clevis, ClevisCustom, Partition, Storage};
use crate::url;
use crate::version::Version;

const FORMATS: [&str; 7] = ["", "ext4", "btrfs", "xfs", "vfat", "swap", "none"];
const RAID_LEVELS: [&str; 8] = [
    "linear", "raid0", "0", "stripe", "raid1", "1", "mirror", "raid4",
];
const RAID_LEVELS_MORE: [&str; 7] = ["4", "raid5", "5", "raid6", "6", "raid10", "10"];

fn label_max(format: &str) -> Option<usize> {
    match format {
        "ext4" => Some(16),
        "btrfs" => Some(256),
        "xfs" => Some(12),
        "swap" => Some(15),
        "vfat" => Some(11),
        _ => None,
    }
}

fn is_guid(s: &str) -> bool {
    let groups: Vec<&str> = s.split('-').collect();
    let lens = [8, 4, 4, 4, 12];
    s.is_empty()
        || (groups.len() == 5
            && groups
                .iter()
                .zip(lens)
                .all(|(g, n)| g.len() == n && g.bytes().all(|c| c.is_ascii_hexdigit())))
}

pub(super) fn validate(s: &Storage, v: Version, r: &mut Report) {
    for (i, d) in s.disks.iter().enumerate() {
        let p = join("/storage/disks", i);
        if d.device.is_empty() {
            r.error(join(&p, "device"), "disk device is required");
        } else {
            check_path(&d.device, &join(&p, "device"), r);
        }
        // Without a device Ignition stops before the checks across partitions.
        partitions(
            &d.partitions,
            &join(&p, "partitions"),
            !d.device.is_empty(),
            r,
        );
    }
    dups(
        s.disks.iter().map(|d| d.device.as_str()),
        "/storage/disks",
        r,
    );
    for (i, fs) in s.filesystems.iter().enumerate() {
        let p = join("/storage/filesystems", i);
        check_path(&fs.device, &join(&p, "device"), r);
        let set = |o: &Option<String>| o.as_deref().is_some_and(|v| !v.is_empty());
        if let Some(path) = fs.path.as_deref().filter(|p| !p.is_empty()) {
            check_path(path, &join(&p, "path"), r);
        }
        let format = fs.format.as_deref().unwrap_or("");
        // "none" (leave the device unformatted) exists from 3.3.0.
        if !FORMATS.contains(&format) || (format == "none" && v < Version::V3_3) {
            r.error(join(&p, "format"), "invalid filesystem format");
        }
        let others = set(&fs.path)
            || set(&fs.label)
            || set(&fs.uuid)
            || fs.wipe_filesystem == Some(true)
            || !fs.options.is_empty()
            || !fs.mount_options.is_empty();
        if format.is_empty() && others {
            r.error(join(&p, "format"), "format cannot be empty when path, label, uuid, wipeFilesystem, options, or mountOptions is specified");
        }
        if let Some(label) = fs.label.as_deref().filter(|l| !l.is_empty()) {
            if format.is_empty() {
                r.error(
                    join(&p, "label"),
                    "filesystem must specify format if label is specified",
                );
            } else if label_max(format).is_some_and(|max| label.len() > max) {
                let max = label_max(format).unwrap_or_default();
                r.error(join(&p, "label"), format!("filesystem labels cannot be longer than {max} characters when using {format}"));
            }
        }
    }
    dups(
        s.filesystems.iter().map(|f| f.device.as_str()),
        "/storage/filesystems",
        r,
    );
    for (i, raid) in s.raid.iter().enumerate() {
        let p = join("/storage/raid", i);
        match raid.level.as_deref().unwrap_or("") {
            "" => r.error(join(&p, "level"), "raid level is required"),
            "linear" | "raid0" | "0" | "stripe" if raid.spares.is_some_and(|n| n != 0) => r.error(
                join(&p, "level"),
                "spares unsupported for linear and raid0 arrays",
            ),
            l if RAID_LEVELS.contains(&l) || RAID_LEVELS_MORE.contains(&l) => {}
            _ => r.error(join(&p, "level"), "unrecognized raid level"),
        }
        if raid.devices.is_empty() {
            r.error(join(&p, "devices"), "raid devices required");
        }
        for (j, dev) in raid.devices.iter().enumerate() {
            check_path(dev, &join(&join(&p, "devices"), j), r);
        }
        dups(raid.devices.iter(), &join(&p, "devices"), r);
    }
    dups(s.raid.iter().map(|x| x.name.as_str()), "/storage/raid", r);
    for (i, l) in s.luks.iter().enumerate() {
        let p = join("/storage/luks", i);
        match l.device.as_deref() {
            None | Some("") => r.error(join(&p, "device"), "disk device is required"),
            Some(dev) => check_path(dev, &join(&p, "device"), r),
        }
        if l.label.as_deref().is_some_and(|x| x.len() > 47) {
            r.error(
                join(&p, "label"),
                "luks device labels cannot be longer than 47 characters",
            );
        }
        resource(&l.key_file, &join(&p, "keyFile"), v, r);
        let key_src = l.key_file.source.as_deref().filter(|s| !s.is_empty());
        if key_src.is_some_and(|s| url::check_source(s, v).is_err()) {
            r.error(join(&p, "keys"), "invalid key-file source");
        }
        clevis_custom(&l.clevis, &format!("{p}/clevis"), r);
        dups(
            l.clevis.tang.iter().map(|t| t.url.as_str()),
            &format!("{p}/clevis/tang"),
            r,
        );
        for (j, t) in l.clevis.tang.iter().enumerate() {
            let tp = join(&format!("{p}/clevis/tang"), j);
            if let Err(e) = url::check_http(&t.url) {
                r.error(join(&tp, "url"), e);
            }
            if t.thumbprint.as_deref().unwrap_or("").is_empty() {
                r.error(join(&tp, "thumbprint"), "thumbprint is required");
            }
        }
    }
    dups(s.luks.iter().map(|x| x.name.as_str()), "/storage/luks", r);
}

fn partitions(parts: &[Partition], ptr: &str, across: bool, r: &mut Report) {
    let nonempty = |o: &Option<String>| o.as_deref().is_some_and(|v| !v.is_empty());
    for (i, part) in parts.iter().enumerate() {
        let p = join(ptr, i);
        if part.should_exist == Some(false)
            && (part.label.is_some()
                || nonempty(&part.type_guid)
                || nonempty(&part.guid)
                || part.start_mib.is_some()
                || part.size_mib.is_some())
        {
            r.error(
                &p,
                "shouldExist specified false with other options also specified",
            );
        }
        if part.number.unwrap_or(0) == 0 && part.label.is_none() {
            r.error(&p, "a partition number >= 1 or a label must be specified");
        }
        let label = part.label.as_deref().unwrap_or("");
        if label.len() > 36 {
            r.error(
                join(&p, "label"),
                "partition labels may not exceed 36 characters",
            );
        } else if label.contains(':') {
            r.error(
                join(&p, "label"),
                "partition label will be truncated to text before the colon",
            );
        }
        for (key, g) in [("guid", &part.guid), ("typeGuid", &part.type_guid)] {
            if !is_guid(g.as_deref().unwrap_or("")) {
                r.error(
                    join(&p, key),
                    "doesn't match the form \"01234567-89AB-CDEF-EDCB-A98765432101\"",
                );
            }
        }
    }
    let keys = parts.iter().map(|p| match p.number.unwrap_or(0) {
        0 => format!("label:{}", p.label.as_deref().unwrap_or("")),
        n => format!("number:{n}"),
    });
    dups(keys, ptr, r);
    if !across {
        return;
    }
    let mut seen = std::collections::HashSet::new();
    if let Some(i) = (0..parts.len()).find(|&i| {
        let n = parts[i].number.unwrap_or(0);
        n != 0 && !seen.insert(n)
    }) {
        r.error(join(ptr, i), "partition numbers collide");
    }
    if let Some(i) = overlapping(parts) {
        r.error(join(ptr, i), "partitions overlap");
    }
    let has_zero = parts.iter().any(|p| p.number.unwrap_or(0) == 0);
    if has_zero && parts.iter().any(|p| p.should_exist == Some(false)) {
        r.error(
            ptr,
            "shouldExist is false for a partition and other partition(s) has start or size 0",
        );
    }
    let mut labels = std::collections::HashSet::new();
    if let Some(i) = (0..parts.len()).find(|&i| {
        // Every given label counts, even "".
        parts[i].label.as_deref().is_some_and(|l| !labels.insert(l))
    }) {
        r.error(join(ptr, i), "cannot use the same partition label twice");
    }
}

/// A partition overlapping another: explicitly placed ones (start and size both non-zero)
/// `a` and `b` overlap when `start_a < end_b && start_b < end_a` (`end = start + size`, in
/// i128 so that no value overflows). Sorted by start, a proper one (size > 0) overlaps an
/// earlier one iff it starts before the furthest end so far; one with a negative size (end
/// before start) overlaps only a proper one that starts before its end and ends after its
/// start; two of those never overlap. O(n log n): the pairwise check took minutes for a
/// 1.5 MB config of 30,000 partitions (found by fuzzing).
fn overlapping(parts: &[Partition]) -> Option<usize> {
    let span = |(i, p): (usize, &Partition)| match (p.start_mib, p.size_mib) {
        (Some(s), Some(l)) if s != 0 && l != 0 => {
            Some((i128::from(s), i128::from(s) + i128::from(l), i))
        }
        _ => None,
    };
    let (mut proper, reversed): (Vec<_>, Vec<_>) = parts
        .iter()
        .enumerate()
        .filter_map(span)
        .partition(|(s, e, _)| s < e);
    proper.sort_unstable();
    // The furthest end among proper[..=k].
    let mut reach = Vec::with_capacity(proper.len());
    let mut furthest = i128::MIN;
    let mut found = None;
    for &(start, end, i) in &proper {
        if found.is_none() && start < furthest {
            found = Some(i);
        }
        furthest = furthest.max(end);
        reach.push(furthest);
    }
    if found.is_some() {
        return found;
    }
    reversed.into_iter().find_map(|(start, end, i)| {
        let before = proper.partition_point(|&(s, _, _)| s < end);
        (before > 0 && reach[before - 1] > start).then_some(i)
    })
}

/// A custom clevis pin needs a known pin and a config, and excludes tpm2/tang/threshold.
fn clevis_custom(c: &Clevis, ptr: &str, r: &mut Report) {
    if c.custom == ClevisCustom::default() {
        return;
    }
    let cp = join(ptr, "custom");
    match c.custom.pin.as_deref().unwrap_or("") {
        "" => r.error(join(&cp, "pin"), "missing required custom clevis pin"),
        "tpm2" | "tang" | "sss" => {}
        _ => r.error(join(&cp, "pin"), "unsupported clevis pin"),
    }
    if c.custom.config.as_deref().unwrap_or("").is_empty() {
        r.error(join(&cp, "config"), "missing required custom clevis config");
    }
    if c.tpm2 == Some(true) || !c.tang.is_empty() || c.threshold.is_some_and(|t| t != 0) {
        r.error(
            &cp,
            "cannot use custom clevis config with tpm2, tang, or threshold",
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn part(start: i64, size: i64) -> Partition {
        Partition {
            start_mib: Some(start),
            size_mib: Some(size),
            ..Partition::default()
        }
    }

    /// The pairwise definition, for comparison.
    fn naive(parts: &[Partition]) -> bool {
        let span = |p: &Partition| match (p.start_mib, p.size_mib) {
            (Some(s), Some(l)) if s != 0 && l != 0 => Some((i128::from(s), i128::from(l))),
            _ => None,
        };
        parts.iter().enumerate().any(|(a, pa)| {
            parts
                .iter()
                .enumerate()
                .any(|(b, pb)| match (span(pa), span(pb)) {
                    (Some((s1, l1)), Some((s2, l2))) => a != b && s1 < s2 + l2 && s2 < s1 + l1,
                    _ => false,
                })
        })
    }

    #[test]
    fn overlap_agrees_with_the_pairwise_definition() {
        let values = -3..=3;
        for s1 in values.clone() {
            for l1 in values.clone() {
                for s2 in values.clone() {
                    for l2 in values.clone() {
                        for (s3, l3) in [(0, 0), (1, 1), (-2, 4), (3, -5), (2, 2)] {
                            let parts = [part(s1, l1), part(s2, l2), part(s3, l3)];
                            let found = overlapping(&parts);
                            assert_eq!(
                                found.is_some(),
                                naive(&parts),
                                "{s1},{l1} {s2},{l2} {s3},{l3}"
                            );
                            if let Some(i) = found {
                                let others: Vec<Partition> = parts
                                    .iter()
                                    .enumerate()
                                    .filter(|(j, _)| *j != i)
                                    .map(|(_, p)| p.clone())
                                    .collect();
                                let with = |o: &Partition| naive(&[parts[i].clone(), o.clone()]);
                                assert!(others.iter().any(with), "{i} overlaps nothing");
                            }
                        }
                    }
                }
            }
        }
    }

    #[test]
    fn many_partitions_and_extreme_values() {
        let parts: Vec<Partition> = (0..100_000).map(|i| part(2 * i + 1, 1)).collect();
        let start = std::time::Instant::now();
        assert_eq!(overlapping(&parts), None);
        assert!(start.elapsed() < std::time::Duration::from_secs(30));
        let extreme = [
            part(i64::MAX, i64::MAX),
            part(i64::MAX - 1, 2),
            part(i64::MIN, -1),
        ];
        assert_eq!(overlapping(&extreme), Some(0));
    }
}
