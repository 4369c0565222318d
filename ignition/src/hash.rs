//! `verification.hash` strings (`sha512-<hex>`, `sha256-<hex>` from 3.1): format checks as
//! Ignition does them, and computing the hash of (decompressed) contents.

use sha2::{Digest, Sha256, Sha512};

/// A hash function Ignition knows.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Function {
    Sha256,
    Sha512,
}

impl Function {
    fn hex_len(self) -> usize {
        match self {
            Function::Sha256 => 64,
            Function::Sha512 => 128,
        }
    }
}

/// Why a hash string is rejected; messages match Ignition's.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum HashError {
    Malformed,
    Unrecognized,
    WrongSize,
}

impl HashError {
    pub fn message(self) -> &'static str {
        match self {
            HashError::Malformed => "malformed hash specifier",
            HashError::Unrecognized => "unrecognized hash function",
            HashError::WrongSize => "incorrect size for hash sum",
        }
    }
}

/// Splits `fn-hex` and checks the function and the length (like Ignition, not the digits).
pub fn parse(spec: &str, sha256_allowed: bool) -> Result<(Function, &str), HashError> {
    let (name, sum) = spec.split_once('-').ok_or(HashError::Malformed)?;
    let f = match name {
        "sha512" => Function::Sha512,
        "sha256" if sha256_allowed => Function::Sha256,
        _ => return Err(HashError::Unrecognized),
    };
    if sum.len() != f.hex_len() {
        return Err(HashError::WrongSize);
    }
    Ok((f, sum))
}

/// `sha512-<hex>` of `data`.
pub fn sha512(data: &[u8]) -> String {
    format!("sha512-{}", hex::encode(Sha512::digest(data)))
}

/// Whether `data` matches a well-formed hash spec (hex compared case-insensitively).
pub fn matches(f: Function, sum: &str, data: &[u8]) -> bool {
    let got = match f {
        Function::Sha256 => hex::encode(Sha256::digest(data)),
        Function::Sha512 => hex::encode(Sha512::digest(data)),
    };
    got.eq_ignore_ascii_case(sum)
}

#[cfg(test)]
mod tests {
    use super::*;

    const HELLO512: &str = "9b71d224bd62f3785d96d46ad3ea3d73319bfbc2890caadae2dff72519673ca72323c3d99ba5c11d7c7acc6e14b8c5da0c4663475c2e5c3adef46f73bcdec043";

    #[test]
    fn parse_and_match() {
        let spec = sha512(b"hello");
        assert_eq!(spec, format!("sha512-{HELLO512}"));
        let (f, sum) = parse(&spec, false).expect("well formed");
        assert!(matches(f, sum, b"hello"));
        assert!(!matches(f, sum, b"hellx"));
        assert_eq!(parse("sha512abc", true), Err(HashError::Malformed));
        assert_eq!(parse("md5-abc", true), Err(HashError::Unrecognized));
        assert_eq!(parse("sha512-abc", true), Err(HashError::WrongSize));
        let s256 = "sha256-2cf24dba5fb0a30e26e83b2ac5b9e29e1b161e5c1fa7425e73043362938b9824";
        assert_eq!(parse(s256, false), Err(HashError::Unrecognized));
        let (f, sum) = parse(s256, true).expect("3.1+ knows sha256");
        assert!(matches(f, sum, b"hello"));
    }
}
