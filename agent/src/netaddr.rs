//! This host's own addresses, read from /proc (no extra dependency): for the URLs of apps
//! bound on all addresses and for the registration.

/// Non-loopback IPv4 addresses of this host's interfaces, in the kernel's order.
pub fn local_ipv4() -> Vec<String> {
    std::fs::read_to_string("/proc/net/fib_trie")
        .map(|t| parse_fib_trie(&t))
        .unwrap_or_default()
}

/// Pure: the `/32 host LOCAL` entries of /proc/net/fib_trie, loopback and duplicates dropped.
pub fn parse_fib_trie(text: &str) -> Vec<String> {
    let mut out = Vec::new();
    let lines: Vec<&str> = text.lines().collect();
    for w in lines.windows(2) {
        if w[1].contains("/32 host LOCAL") {
            let addr = w[0].trim().trim_start_matches("|-- ").trim().to_string();
            if addr.parse::<std::net::Ipv4Addr>().is_ok()
                && !addr.starts_with("127.")
                && !out.contains(&addr)
            {
                out.push(addr);
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    #[test]
    fn reads_local_host_entries() {
        let text = "Main:\n  +-- 0.0.0.0/0 3 0 5\n     |-- 0.0.0.0\n        /0 universe UNICAST\n     +-- 10.0.0.0/24 2 0 2\n        |-- 10.0.0.5\n           /32 host LOCAL\n     +-- 127.0.0.0/8 2 0 2\n        |-- 127.0.0.1\n           /32 host LOCAL\nLocal:\n        |-- 10.0.0.5\n           /32 host LOCAL\n";
        assert_eq!(super::parse_fib_trie(text), vec!["10.0.0.5".to_string()]);
        assert!(super::parse_fib_trie("").is_empty());
    }
}
