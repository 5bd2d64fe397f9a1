//! A registry's v1 search index, stubbed: a loopback listener answering
//! every `GET` with canned JSON and keeping the request heads it saw, for
//! `berth search` and the API's `GET /images/search` (the loopback registry
//! has no `/v1/search`). A TLS hello is dropped unread, as a plain HTTP
//! index cannot speak it, so a client trying HTTPS first falls back.

use std::io::{BufRead, BufReader, Write};
use std::net::TcpListener;
use std::os::fd::AsRawFd;
use std::path::Path;
use std::sync::{Arc, Mutex};

/// Three results, as an index answers `GET /v1/search?q=busy`.
pub const RESULTS: &str = r#"{"num_results":3,"query":"busy","results":[
 {"name":"busybox","description":"Busybox base image with a very long description that goes on\nand on","star_count":3000,"is_official":true,"is_automated":false},
 {"name":"someone/busy","description":"a busy one","star_count":5,"is_official":false,"is_automated":true},
 {"name":"other/busy2","description":"","star_count":0,"is_official":false,"is_automated":false}]}"#;

/// The request heads an index saw, oldest first.
pub type Seen = Arc<Mutex<Vec<String>>>;

/// Serves `body` on 127.0.0.1 of `netns` (this process's namespace when
/// `None`); returns `host:port` and what it saw. The listener lives as long
/// as the test process.
pub fn serve(body: &'static str, netns: Option<&Path>) -> (String, Seen) {
    let (tx, rx) = std::sync::mpsc::channel();
    let seen = Seen::default();
    let log = seen.clone();
    let netns = netns.map(Path::to_path_buf);
    std::thread::spawn(move || {
        if let Some(ns) = netns {
            let f = std::fs::File::open(&ns).expect("open the network namespace");
            // SAFETY: a valid namespace fd; setns moves only this thread.
            let rc = unsafe { libc::setns(f.as_raw_fd(), libc::CLONE_NEWNET) };
            assert_eq!(rc, 0, "setns {}", ns.display());
        }
        let l = TcpListener::bind("127.0.0.1:0").unwrap();
        tx.send(l.local_addr().unwrap().to_string()).unwrap();
        for conn in l.incoming() {
            let Ok(mut s) = conn else { continue };
            let mut r = BufReader::new(s.try_clone().unwrap());
            let mut head = String::new();
            loop {
                let mut line = String::new();
                match r.read_line(&mut line) {
                    Ok(0) | Err(_) => break,
                    Ok(_) if line == "\r\n" => break,
                    Ok(_) => head.push_str(&line),
                }
            }
            if !head.starts_with("GET ") {
                continue;
            }
            log.lock().unwrap().push(head);
            let _ = write!(
                s,
                "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
                body.len()
            );
        }
    });
    (rx.recv().unwrap(), seen)
}
