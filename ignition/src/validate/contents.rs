//! Our one check beyond `ignition-validate`: contents embedded as `data:` URLs are decoded
//! (and gunzipped when `compression` is gzip) and must match `verification.hash`. Ignition
//! would only find this out on the machine, at first boot.

use std::io::Read;

use flate2::read::GzDecoder;

use crate::dataurl;
use crate::hash;
use crate::report::{join, Report};
use crate::types::{Config, Resource};

/// The bytes a resource would write, when they are embedded in the config.
pub fn embedded_contents(res: &Resource) -> Option<Result<Vec<u8>, String>> {
    let src = res.source.as_deref()?;
    let decoded = dataurl::decode(src).ok()?;
    if res.compression.as_deref() != Some("gzip") {
        return Some(Ok(decoded.data));
    }
    let mut out = Vec::new();
    let read = GzDecoder::new(decoded.data.as_slice()).read_to_end(&mut out);
    Some(
        read.map(|_| out)
            .map_err(|e| format!("contents are not valid gzip data: {e}")),
    )
}

fn check(res: &Resource, ptr: &str, r: &mut Report) {
    let Some(got) = embedded_contents(res) else {
        return;
    };
    let data = match got {
        Ok(d) => d,
        Err(e) => return r.error(join(ptr, "source"), e),
    };
    let Some(spec) = res.verification.hash.as_deref() else {
        return;
    };
    let Ok((f, sum)) = hash::parse(spec, true) else {
        return;
    };
    let hp = format!("{ptr}/verification/hash");
    if !sum.bytes().all(|c| c.is_ascii_hexdigit()) {
        r.error(hp, "hash sum is not hexadecimal");
    } else if !hash::matches(f, sum, &data) {
        r.error(
            hp,
            format!(
                "contents do not match the hash (they hash to {})",
                hash::sha512(&data)
            ),
        );
    }
}

pub(super) fn validate(cfg: &Config, r: &mut Report) {
    for (i, f) in cfg.storage.files.iter().enumerate() {
        let p = join("/storage/files", i);
        check(&f.contents, &join(&p, "contents"), r);
        for (j, a) in f.append.iter().enumerate() {
            check(a, &join(&join(&p, "append"), j), r);
        }
    }
}
