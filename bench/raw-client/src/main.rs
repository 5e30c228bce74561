//! raw-client: the benchmark's ceiling. It pushes the same bytes as the real clients to the emulator's
//! `--bench` mode as plainly as possible: InitiateMultipartUpload, then `parallel` threads, each with one
//! keep-alive TCP connection, PUT parts (same part size) with no signing and no hashing, reading the file
//! with positional reads into one reused buffer per thread, then CompleteMultipartUpload.
//!
//! Blocking std sockets and threads only (no async runtime, no HTTP library), so what it measures is the
//! emulator plus loopback plus two copies per byte (page cache -> buffer -> socket). With an `https://`
//! endpoint it speaks HTTP/1.1 over TLS (rustls, ring provider; ALPN `http/1.1`), trusting the CA of
//! `--ca FILE`: the ceiling of the HTTPS cases, the same bytes plus encryption.
//!
//! ```text
//! raw-client put --endpoint [http://|https://]HOST:PORT --bucket B --key K --file F --part-size N
//!                --parallel P [--chunk BYTES] [--memory] [--ca CA.pem]
//! raw-client crc FILE
//! raw-client crc-dir DIR
//! ```
//! `put` prints one JSON line: `{"ok":true,"seconds":…,"bytes":…,"parts":…,"cpuUser":…,"cpuSys":…,
//! "maxRssKiB":…,"baselineRssKiB":…}` (CPU seconds and wall time of the upload alone). `--memory` reads the
//! whole file into memory first (not timed) and sends parts from there, the counterpart of a JS Buffer.
//! `crc` prints the file's CRC-64/XZ (OSS's `x-oss-hash-crc64ecma`), used to verify uploads; `crc-dir`
//! prints `NAME CRC` for every file of a directory (the many-small-files cases).

use std::collections::HashMap;
use std::fs::File;
use std::io::{self, Read, Write};
use std::net::TcpStream;
use std::os::unix::fs::FileExt;
use std::path::Path;
use std::process::exit;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Instant;

mod crc64;
mod tls;

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    match args.first().map(String::as_str) {
        Some("put") => match put(&parse_flags(&args[1..])) {
            Ok(json) => println!("{json}"),
            Err(e) => {
                println!(
                    "{{\"ok\":false,\"error\":\"{}\"}}",
                    e.to_string().replace('\\', "\\\\").replace('"', "\\\"")
                );
                exit(1);
            }
        },
        Some("crc-dir") if args.len() == 2 => {
            if let Err(e) = crc_dir(&args[1]) {
                eprintln!("raw-client crc-dir {}: {e}", args[1]);
                exit(1);
            }
        }
        Some("crc") if args.len() == 2 => match crc64::of_file(&args[1]) {
            Ok(c) => println!("{c}"),
            Err(e) => {
                eprintln!("raw-client crc {}: {e}", args[1]);
                exit(1);
            }
        },
        _ => {
            eprintln!(
                "usage: raw-client put --endpoint [https://]HOST:PORT --bucket B --key K --file F --part-size N \
                 --parallel P [--chunk BYTES] [--memory] [--ca CA.pem]\n       raw-client crc FILE\n       raw-client crc-dir DIR"
            );
            exit(2);
        }
    }
}

fn crc_dir(dir: &str) -> io::Result<()> {
    let mut out = io::BufWriter::new(io::stdout().lock());
    for entry in std::fs::read_dir(dir)? {
        let entry = entry?;
        if entry.file_type()?.is_file() {
            let path = entry.path();
            let crc = crc64::of_file(&path.to_string_lossy())?;
            writeln!(out, "{} {crc}", entry.file_name().to_string_lossy())?;
        }
    }
    out.flush()
}

fn parse_flags(args: &[String]) -> HashMap<String, String> {
    let mut out = HashMap::new();
    let mut i = 0;
    while i < args.len() {
        let name = args[i].trim_start_matches("--").to_string();
        if name == "memory" {
            out.insert(name, "1".into());
            i += 1;
        } else {
            let value = args.get(i + 1).cloned().unwrap_or_default();
            out.insert(name, value);
            i += 2;
        }
    }
    out
}

fn flag<'a>(flags: &'a HashMap<String, String>, name: &str) -> io::Result<&'a str> {
    flags
        .get(name)
        .map(String::as_str)
        .ok_or_else(|| io::Error::other(format!("missing --{name}")))
}

fn num(flags: &HashMap<String, String>, name: &str) -> io::Result<u64> {
    flag(flags, name)?
        .parse()
        .map_err(|_| io::Error::other(format!("--{name} is not a number")))
}

/// Where part bytes come from.
enum Data {
    File(File),
    Memory(Vec<u8>),
}

struct Job {
    endpoint: Endpoint,
    /// `/bucket/key` (path-style; the key is used as given, so keep it URL-safe).
    path: String,
    upload_id: String,
    data: Data,
    size: u64,
    part_size: u64,
    num_parts: u64,
    chunk: usize,
    next: AtomicU64,
    etags: Mutex<Vec<String>>,
}

fn put(flags: &HashMap<String, String>) -> io::Result<String> {
    let endpoint = Endpoint::parse(flag(flags, "endpoint")?, flags.get("ca").map(Path::new))?;
    let path = format!("/{}/{}", flag(flags, "bucket")?, flag(flags, "key")?);
    let file_path = flag(flags, "file")?;
    let part_size = num(flags, "part-size")?;
    let parallel = num(flags, "parallel")?.max(1);
    let chunk = flags
        .get("chunk")
        .map(|c| c.parse::<usize>().unwrap_or(1 << 20))
        .unwrap_or(1 << 20)
        .max(4096);
    let file = File::open(file_path)?;
    let size = file.metadata()?.len();
    let data = if flags.contains_key("memory") {
        let mut v = Vec::with_capacity(size as usize);
        (&file).read_to_end(&mut v)?;
        Data::Memory(v)
    } else {
        Data::File(file)
    };
    if part_size == 0 {
        return Err(io::Error::other("--part-size must be positive"));
    }
    let num_parts = size.div_ceil(part_size).max(1);
    let baseline_rss = max_rss_kib();

    let cpu0 = cpu_seconds();
    let t0 = Instant::now();
    let mut conn = Conn::connect(&endpoint)?;
    let init = conn.request(&format!("POST {path}?uploads HTTP/1.1"), 0, |_| Ok(()))?;
    let body = String::from_utf8_lossy(&init.body).into_owned();
    let upload_id = between(&body, "<UploadId>", "</UploadId>")
        .ok_or_else(|| io::Error::other(format!("InitiateMultipartUpload: no UploadId in {body}")))?
        .to_string();

    let job = Arc::new(Job {
        endpoint: endpoint.clone(),
        path: path.clone(),
        upload_id: upload_id.clone(),
        data,
        size,
        part_size,
        num_parts,
        chunk: chunk.min(part_size as usize),
        next: AtomicU64::new(1),
        etags: Mutex::new(vec![String::new(); num_parts as usize]),
    });
    // The first worker reuses the connection Initiate opened; the others open their own.
    let mut first = Some(conn);
    let workers: Vec<_> = (0..parallel.min(num_parts))
        .map(|_| {
            let job = job.clone();
            let conn = first.take();
            std::thread::spawn(move || worker(&job, conn))
        })
        .collect();
    for w in workers {
        w.join()
            .map_err(|_| io::Error::other("a worker thread panicked"))??;
    }

    let mut xml =
        String::from("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<CompleteMultipartUpload>\n");
    let etags = job.etags.lock().map_err(|_| io::Error::other("poisoned"))?;
    for (i, etag) in etags.iter().enumerate() {
        xml.push_str(&format!(
            "<Part>\n<PartNumber>{}</PartNumber>\n<ETag>{}</ETag>\n</Part>\n",
            i + 1,
            etag
        ));
    }
    xml.push_str("</CompleteMultipartUpload>");
    let mut conn = Conn::connect(&endpoint)?;
    let xml_bytes = xml.into_bytes();
    conn.request(
        &format!("POST {path}?uploadId={upload_id} HTTP/1.1"),
        xml_bytes.len() as u64,
        |s| s.write_all(&xml_bytes),
    )?;
    let seconds = t0.elapsed().as_secs_f64();
    let cpu1 = cpu_seconds();
    Ok(format!(
        "{{\"ok\":true,\"seconds\":{seconds},\"bytes\":{size},\"parts\":{num_parts},\"cpuUser\":{},\
         \"cpuSys\":{},\"cpuProcessTotal\":{},\"maxRssKiB\":{},\"baselineRssKiB\":{baseline_rss}}}",
        cpu1.0 - cpu0.0,
        cpu1.1 - cpu0.1,
        cpu1.0 + cpu1.1,
        max_rss_kib()
    ))
}

fn worker(job: &Job, conn: Option<Conn>) -> io::Result<()> {
    let mut conn = match conn {
        Some(c) => c,
        None => Conn::connect(&job.endpoint)?,
    };
    let mut buf = match job.data {
        Data::File(_) => vec![0u8; job.chunk],
        Data::Memory(_) => Vec::new(),
    };
    loop {
        let number = job.next.fetch_add(1, Ordering::Relaxed);
        if number > job.num_parts {
            return Ok(());
        }
        let start = (number - 1) * job.part_size;
        let end = (start + job.part_size).min(job.size);
        let head = format!(
            "PUT {}?partNumber={number}&uploadId={} HTTP/1.1",
            job.path, job.upload_id
        );
        let res = conn.request(&head, end - start, |sock| match &job.data {
            Data::Memory(v) => sock.write_all(&v[start as usize..end as usize]),
            Data::File(f) => {
                let mut pos = start;
                while pos < end {
                    let n = ((end - pos) as usize).min(buf.len());
                    f.read_exact_at(&mut buf[..n], pos)?;
                    sock.write_all(&buf[..n])?;
                    pos += n as u64;
                }
                Ok(())
            }
        })?;
        let etag = res
            .headers
            .get("etag")
            .cloned()
            .ok_or_else(|| io::Error::other(format!("part {number}: no ETag")))?;
        job.etags.lock().map_err(|_| io::Error::other("poisoned"))?[number as usize - 1] = etag;
    }
}

/// Where to connect: `host:port`, and the TLS setup for an `https://` endpoint.
#[derive(Clone)]
struct Endpoint {
    addr: String,
    tls: Option<tls::Client>,
}

impl Endpoint {
    fn parse(endpoint: &str, ca: Option<&Path>) -> io::Result<Endpoint> {
        if let Some(addr) = endpoint.strip_prefix("https://") {
            let ca = ca.ok_or_else(|| io::Error::other("an https:// endpoint needs --ca FILE"))?;
            let host = addr.rsplit_once(':').map_or(addr, |(h, _)| h);
            return Ok(Endpoint {
                addr: addr.to_string(),
                tls: Some(tls::Client::new(ca, host)?),
            });
        }
        Ok(Endpoint {
            addr: endpoint.trim_start_matches("http://").to_string(),
            tls: None,
        })
    }
}

struct Response {
    headers: HashMap<String, String>,
    body: Vec<u8>,
}

/// A plain or TLS socket.
enum Stream {
    Plain(TcpStream),
    Tls(Box<tls::Stream>),
}

impl Read for Stream {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        match self {
            Stream::Plain(s) => s.read(buf),
            Stream::Tls(s) => s.read(buf),
        }
    }
}

impl Write for Stream {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        match self {
            Stream::Plain(s) => s.write(buf),
            Stream::Tls(s) => s.write(buf),
        }
    }

    fn flush(&mut self) -> io::Result<()> {
        match self {
            Stream::Plain(s) => s.flush(),
            Stream::Tls(s) => s.flush(),
        }
    }
}

/// One keep-alive HTTP/1.1 connection.
struct Conn {
    sock: Stream,
    host: String,
    rbuf: Vec<u8>,
}

impl Conn {
    fn connect(endpoint: &Endpoint) -> io::Result<Conn> {
        let tcp = TcpStream::connect(&endpoint.addr)?;
        tcp.set_nodelay(true)?;
        let sock = match &endpoint.tls {
            Some(t) => Stream::Tls(Box::new(t.connect(tcp)?)),
            None => Stream::Plain(tcp),
        };
        Ok(Conn {
            sock,
            host: endpoint.addr.clone(),
            rbuf: Vec::with_capacity(4096),
        })
    }

    /// Sends `request_line`, the headers and a body of `len` bytes written by `body`, then reads the
    /// response; a status other than 200 is an error.
    fn request(
        &mut self,
        request_line: &str,
        len: u64,
        body: impl FnOnce(&mut Stream) -> io::Result<()>,
    ) -> io::Result<Response> {
        let head = format!(
            "{request_line}\r\nHost: {}\r\nContent-Length: {len}\r\nContent-Type: application/octet-stream\r\n\r\n",
            self.host
        );
        self.sock.write_all(head.as_bytes())?;
        body(&mut self.sock)?;
        self.sock.flush()?;
        let res = self.read_response()?;
        Ok(res)
    }

    fn read_response(&mut self) -> io::Result<Response> {
        let mut tmp = [0u8; 8192];
        let head_end = loop {
            if let Some(i) = find(&self.rbuf, b"\r\n\r\n") {
                break i + 4;
            }
            let n = self.sock.read(&mut tmp)?;
            if n == 0 {
                return Err(io::Error::other("connection closed before a response"));
            }
            self.rbuf.extend_from_slice(&tmp[..n]);
        };
        let head = String::from_utf8_lossy(&self.rbuf[..head_end]).into_owned();
        let mut lines = head.split("\r\n");
        let status_line = lines.next().unwrap_or("");
        let status: u16 = status_line
            .split(' ')
            .nth(1)
            .and_then(|s| s.parse().ok())
            .unwrap_or(0);
        let mut headers = HashMap::new();
        for line in lines {
            if let Some((k, v)) = line.split_once(':') {
                headers.insert(k.trim().to_ascii_lowercase(), v.trim().to_string());
            }
        }
        let len: usize = headers
            .get("content-length")
            .and_then(|v| v.parse().ok())
            .unwrap_or(0);
        self.rbuf.drain(..head_end);
        while self.rbuf.len() < len {
            let n = self.sock.read(&mut tmp)?;
            if n == 0 {
                return Err(io::Error::other("connection closed inside a response body"));
            }
            self.rbuf.extend_from_slice(&tmp[..n]);
        }
        let body: Vec<u8> = self.rbuf.drain(..len).collect();
        if status != 200 {
            return Err(io::Error::other(format!(
                "{status_line}: {}",
                String::from_utf8_lossy(&body)
            )));
        }
        Ok(Response { headers, body })
    }
}

fn find(hay: &[u8], needle: &[u8]) -> Option<usize> {
    hay.windows(needle.len()).position(|w| w == needle)
}

fn between<'a>(s: &'a str, open: &str, close: &str) -> Option<&'a str> {
    let a = s.find(open)? + open.len();
    let b = s[a..].find(close)? + a;
    Some(&s[a..b])
}

#[repr(C)]
struct Timeval {
    sec: i64,
    usec: i64,
}

/// `struct rusage` of Linux on 64-bit targets: two timevals, then fourteen longs (ru_maxrss first).
#[repr(C)]
struct Rusage {
    utime: Timeval,
    stime: Timeval,
    maxrss: i64,
    rest: [i64; 13],
}

extern "C" {
    fn getrusage(who: i32, usage: *mut Rusage) -> i32;
}

fn rusage() -> Rusage {
    let mut r = Rusage {
        utime: Timeval { sec: 0, usec: 0 },
        stime: Timeval { sec: 0, usec: 0 },
        maxrss: 0,
        rest: [0; 13],
    };
    // SAFETY: `r` is a live, writable value with the layout of the C `struct rusage` on this target
    // (x86_64/aarch64 Linux: 2 × struct timeval + 14 × long), and RUSAGE_SELF (0) is a valid `who`;
    // getrusage writes only within that struct.
    let rc = unsafe { getrusage(0, &mut r) };
    if rc != 0 {
        r.maxrss = 0;
    }
    r
}

/// (user, system) CPU seconds of this process so far, all threads (getrusage(RUSAGE_SELF)).
fn cpu_seconds() -> (f64, f64) {
    let r = rusage();
    let secs = |t: &Timeval| t.sec as f64 + t.usec as f64 / 1e6;
    (secs(&r.utime), secs(&r.stime))
}

/// Peak resident set size in KiB (ru_maxrss).
fn max_rss_kib() -> u64 {
    rusage().maxrss.max(0) as u64
}
