//! `solum-relay HOST PORT`: copies stdin to a new TCP connection to HOST:PORT and the
//! connection's answers to stdout. qemu's `guestfwd=...-cmd:solum-relay 127.0.0.1 PORT` runs it
//! once per guest connection, which is what lets a VM with `restrict=on` reach a fixture on the
//! host's loopback at the real metadata address (a `-tcp:` guestfwd target serves only the
//! first connection).

use std::io::{Read, Write};
use std::net::{Shutdown, TcpStream};

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let [host, port] = args.as_slice() else {
        eprintln!("usage: solum-relay HOST PORT");
        std::process::exit(2);
    };
    let stream = match TcpStream::connect(format!("{host}:{port}")) {
        Ok(s) => s,
        Err(e) => {
            eprintln!("solum-relay: connecting to {host}:{port}: {e}");
            std::process::exit(1);
        }
    };
    let _ = stream.set_nodelay(true);
    let mut upstream = stream.try_clone().expect("cloning the socket");
    std::thread::spawn(move || {
        let mut stdin = std::io::stdin().lock();
        let _ = copy(&mut stdin, &mut upstream);
        let _ = upstream.shutdown(Shutdown::Write);
    });
    let mut downstream = stream;
    let mut stdout = std::io::stdout().lock();
    let _ = copy(&mut downstream, &mut stdout);
    // The host closed: so does the guest's connection (qemu sees our stdout close).
    std::process::exit(0);
}

fn copy(from: &mut impl Read, to: &mut impl Write) -> std::io::Result<()> {
    let mut buf = [0u8; 64 * 1024];
    loop {
        let n = from.read(&mut buf)?;
        if n == 0 {
            return to.flush();
        }
        to.write_all(&buf[..n])?;
        to.flush()?;
    }
}
