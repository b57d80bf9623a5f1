//! A TCP proxy a test closes and opens again: the node's L1 goes away and comes back while anvil runs on.

use std::{
    io::{Read, Write},
    net::{Shutdown, TcpListener, TcpStream},
    sync::{
        Arc, Mutex,
        atomic::{AtomicBool, Ordering},
    },
};

/// Forwards connections to `target` while open; closed, it cuts the ones it carries and refuses new ones.
pub struct Proxy {
    /// Its endpoint (`http://127.0.0.1:port`).
    pub url: String,
    open: Arc<AtomicBool>,
    carried: Arc<Mutex<Vec<TcpStream>>>,
}

impl Proxy {
    /// A proxy to `target` (`host:port`), open.
    pub fn to(target: &str) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let url = format!("http://{}", listener.local_addr().unwrap());
        let (open, carried) = (Arc::new(AtomicBool::new(true)), Arc::new(Mutex::new(Vec::new())));
        let (target, is_open, streams) = (target.to_string(), open.clone(), carried.clone());
        std::thread::spawn(move || {
            for client in listener.incoming() {
                let Ok(client) = client else { continue };
                if !is_open.load(Ordering::Acquire) {
                    // Refused: the connection ends at once.
                    let _ = client.shutdown(Shutdown::Both);
                    continue;
                }
                let Ok(upstream) = TcpStream::connect(&target) else { continue };
                let mut kept = streams.lock().unwrap();
                kept.push(client.try_clone().unwrap());
                kept.push(upstream.try_clone().unwrap());
                pump(client.try_clone().unwrap(), upstream.try_clone().unwrap());
                pump(upstream, client);
            }
        });
        Self { url, open, carried }
    }

    /// Cuts every connection and refuses new ones.
    pub fn close(&self) {
        self.open.store(false, Ordering::Release);
        for stream in self.carried.lock().unwrap().drain(..) {
            let _ = stream.shutdown(Shutdown::Both);
        }
    }

    /// Takes connections again.
    pub fn open(&self) {
        self.open.store(true, Ordering::Release);
    }
}

/// Copies `from` into `to` on a thread of its own until either ends.
fn pump(mut from: TcpStream, mut to: TcpStream) {
    std::thread::spawn(move || {
        let mut buf = [0u8; 16 * 1024];
        while let Ok(n) = from.read(&mut buf) {
            if n == 0 || to.write_all(&buf[..n]).is_err() {
                break;
            }
        }
        let _ = to.shutdown(Shutdown::Both);
    });
}
