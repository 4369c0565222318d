//! Bad input never panics: every corpus file and Butane sample, mutated many times (bytes
//! flipped, cut, or spliced with JSON/YAML/escape characters), goes through the parsers.

use std::path::Path;

/// A small deterministic generator (xorshift), so failures reproduce.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }

    fn below(&mut self, n: usize) -> usize {
        (self.next() % n.max(1) as u64) as usize
    }
}

const SPLICES: &[&[u8]] = &[
    b"\\",
    b"\"",
    b"\\u",
    b"\\ud800",
    b"\xc3\xa9",
    b"\xff",
    b"[",
    b"]",
    b"{",
    b"}",
    b":",
    b",",
    b"-0",
    b"null",
    b"%",
    b"%zz",
    b"data:",
    b";base64,",
    b"\n",
    b"\r",
    b"=",
    b"#",
    b"'",
    b"0644",
    b"- ",
    b"  ",
    b"\t",
    b"/../",
];

fn mutate(rng: &mut Rng, input: &[u8]) -> Vec<u8> {
    let mut out = input.to_vec();
    for _ in 0..1 + rng.below(3) {
        let at = rng.below(out.len() + 1);
        match rng.below(4) {
            0 => out.truncate(at),
            1 if at < out.len() => out[at] = rng.next() as u8,
            2 if at < out.len() => {
                let end = (at + 1 + rng.below(8)).min(out.len());
                out.drain(at..end);
            }
            _ => {
                let s = SPLICES[rng.below(SPLICES.len())];
                out.splice(at..at, s.iter().copied());
            }
        }
    }
    out
}

fn inputs(sub: &str, ext: &str) -> Vec<Vec<u8>> {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests")
        .join(sub);
    let mut files = Vec::new();
    for entry in walk(&root) {
        if entry.extension().is_some_and(|x| x == ext) {
            files.push(std::fs::read(&entry).expect("reading input"));
        }
    }
    assert!(!files.is_empty(), "no *.{ext} under {}", root.display());
    files
}

fn walk(dir: &Path) -> Vec<std::path::PathBuf> {
    let mut out = Vec::new();
    for e in std::fs::read_dir(dir).expect("listing").flatten() {
        let p = e.path();
        if p.is_dir() {
            out.extend(walk(&p));
        } else {
            out.push(p);
        }
    }
    out
}

#[test]
fn mutated_configs_never_panic() {
    let mut rng = Rng(0x5eed_1234_abcd_0001);
    let (mut ok, mut err) = (0, 0);
    for file in inputs("corpus", "ign") {
        for _ in 0..60 {
            let m = mutate(&mut rng, &file);
            match solum_ignition::check(&m) {
                Ok(report) => {
                    ok += 1;
                    let _ = report.to_string();
                }
                Err(e) => {
                    err += 1;
                    assert!(!e.to_string().is_empty());
                }
            }
        }
    }
    // Both outcomes occur, so the mutations reach past the JSON parser.
    assert!(ok > 100 && err > 100, "ok={ok} err={err}");
}

#[test]
fn mutated_butane_never_panics() {
    let mut rng = Rng(0x5eed_1234_abcd_0002);
    let resolve = |name: &str| -> Result<Vec<u8>, String> { Ok(name.as_bytes().to_vec()) };
    let (mut ok, mut err) = (0, 0);
    for file in inputs("butane", "bu") {
        for _ in 0..300 {
            let m = mutate(&mut rng, &file);
            let text = String::from_utf8_lossy(&m);
            match solum_ignition::butane_to_ignition(&text, &resolve) {
                Ok(_) => ok += 1,
                Err(e) => {
                    err += 1;
                    assert!(!e.to_string().is_empty());
                }
            }
        }
    }
    assert!(ok > 10 && err > 10, "ok={ok} err={err}");
}

#[test]
fn random_strings_never_panic_the_small_parsers() {
    let mut rng = Rng(0x5eed_1234_abcd_0003);
    let mut decoded = 0;
    for _ in 0..20_000 {
        let mut s = Vec::new();
        for _ in 0..rng.below(6) {
            s.extend_from_slice(SPLICES[rng.below(SPLICES.len())]);
            if rng.below(2) == 0 {
                s.push(b'a' + rng.below(26) as u8);
            }
        }
        let text = String::from_utf8_lossy(&s);
        let _ = solum_ignition::unit::parse(&text);
        let _ = solum_ignition::url::check_source(&text, solum_ignition::Version::V3_4);
        if solum_ignition::dataurl::decode(&format!("data:{text}")).is_ok() {
            decoded += 1;
        }
        let _ = solum_ignition::hash::parse(&text, true);
    }
    assert!(decoded > 0);
}
