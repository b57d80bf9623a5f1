//! Just enough HTTP/1.1 for the test servers: one request read (headers and a `content-length` body), one
//! JSON response written.

use std::{
    io::{BufRead, BufReader, Read, Write},
    net::TcpStream,
};

/// A request as read.
pub(crate) struct Request {
    /// Its headers, names in lower case.
    pub(crate) headers: Vec<(String, String)>,
    /// Its body.
    pub(crate) body: Vec<u8>,
}

/// The next request on `reader`; `None` when the connection closed or broke.
pub(crate) fn read_request(reader: &mut BufReader<TcpStream>) -> Option<Request> {
    let mut headers = vec![];
    let mut line = String::new();
    loop {
        line.clear();
        if reader.read_line(&mut line).unwrap_or(0) == 0 {
            return None;
        }
        let header = line.trim_end();
        if header.is_empty() {
            break;
        }
        if let Some((name, value)) = header.split_once(':') {
            headers.push((name.to_ascii_lowercase(), value.trim().to_string()));
        }
    }
    let length = headers.iter().find(|(n, _)| n == "content-length").map_or(0, |(_, v)| v.parse().unwrap_or(0));
    let mut body = vec![0u8; length];
    reader.read_exact(&mut body).ok()?;
    Some(Request { headers, body })
}

/// Writes a JSON response with `status` and `body`; `close` says the connection ends after it.
pub(crate) fn write_json(stream: &mut TcpStream, status: u16, body: &[u8], close: bool) -> std::io::Result<()> {
    let connection = if close { "connection: close\r\n" } else { "" };
    let head = format!(
        "HTTP/1.1 {status} X\r\ncontent-type: application/json\r\ncontent-length: {}\r\n{connection}\r\n",
        body.len()
    );
    stream.write_all(head.as_bytes())?;
    stream.write_all(body)
}
