//! The live tests' helpers: clips, RTSP servers and bad sources as processes and threads, a
//! `passwatch run` process with its HTTP surface, and the test data (site, passes).

#![allow(dead_code)]

use serde_json::Value;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Output, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, OnceLock};
use std::time::{Duration, Instant};

/// The tests of this binary take turns: each runs a CPU-heavy `passwatch run` and measures
/// time.
pub fn serial() -> MutexGuard<'static, ()> {
    static TURN: Mutex<()> = Mutex::new(());
    TURN.lock().unwrap_or_else(|p| p.into_inner())
}

pub fn tempdir() -> tempfile::TempDir {
    tempfile::tempdir().unwrap()
}

pub fn fixtures() -> PathBuf {
    match std::env::var_os("PASSWATCH_FIXTURES").filter(|v| !v.is_empty()) {
        Some(p) => PathBuf::from(p),
        None => Path::new(env!("CARGO_MANIFEST_DIR")).join("../../shared/fixtures"),
    }
}

// ---- clips -------------------------------------------------------------------------------------

/// `plates_dev.mp4` from 44.4 s to 66.0 s (18 plates, each 1.2 s, starting with M5XSX; the
/// demo's `unknown_plate`, `expired`, `not_yet_valid` and `revoked` plates are in it).
pub fn clip_plates() -> PathBuf {
    static CLIP: OnceLock<PathBuf> = OnceLock::new();
    CLIP.get_or_init(|| cut("plates_44_66.mp4", 44.4, 66.0))
        .clone()
}

/// `plates_dev.mp4` from 44.4 s to 45.6 s: the plate M5XSX alone.
pub fn clip_one_plate() -> PathBuf {
    static CLIP: OnceLock<PathBuf> = OnceLock::new();
    CLIP.get_or_init(|| cut("plate_m5xsx.mp4", 44.4, 45.6))
        .clone()
}

/// Cuts `plates_dev.mp4` at key frames (every 1.2 s there), without re-encoding, so the clip's
/// frames are the original's: a reader pipeline seeks and hands access units to a writer
/// pipeline (a muxer does not survive a flushing seek), timestamps moved to start at zero.
fn cut(name: &str, start_s: f64, stop_s: f64) -> PathBuf {
    use gstreamer as gst;
    use gstreamer::prelude::*;
    use gstreamer_app as gst_app;
    let dir = Path::new(env!("CARGO_TARGET_TMPDIR")).join("live-clips");
    std::fs::create_dir_all(&dir).unwrap();
    let dst = dir.join(name);
    if dst.is_file() {
        return dst;
    }
    let src = fixtures().join("video/plates_dev.mp4");
    assert!(
        src.is_file(),
        "{} missing (PASSWATCH_FIXTURES)",
        src.display()
    );
    let tmp = dir.join(format!("{name}.part"));
    gst::init().unwrap();
    let launch = |desc: &str| {
        gst::parse::launch(desc)
            .unwrap()
            .downcast::<gst::Pipeline>()
            .unwrap()
    };
    let reader = launch(&format!(
        "filesrc location=\"{}\" ! qtdemux ! h264parse \
         ! video/x-h264,stream-format=avc,alignment=au ! appsink name=sink sync=false",
        src.display()
    ));
    let sink = reader
        .by_name("sink")
        .unwrap()
        .downcast::<gst_app::AppSink>()
        .unwrap();
    reader.set_state(gst::State::Paused).unwrap();
    let bus = reader.bus().unwrap();
    let msg = bus
        .timed_pop_filtered(
            gst::ClockTime::from_seconds(30),
            &[gst::MessageType::AsyncDone, gst::MessageType::Error],
        )
        .expect("preroll");
    assert!(
        matches!(msg.view(), gst::MessageView::AsyncDone(_)),
        "{msg:?}"
    );
    reader
        .seek(
            1.0,
            gst::SeekFlags::FLUSH | gst::SeekFlags::KEY_UNIT | gst::SeekFlags::SNAP_BEFORE,
            gst::SeekType::Set,
            gst::ClockTime::from_nseconds((start_s * 1e9) as u64),
            gst::SeekType::Set,
            gst::ClockTime::from_nseconds((stop_s * 1e9) as u64 - 1),
        )
        .unwrap();
    reader.set_state(gst::State::Playing).unwrap();
    let writer = launch(&format!(
        "appsrc name=src format=time ! h264parse ! mp4mux ! filesink location=\"{}\"",
        tmp.display()
    ));
    let appsrc = writer
        .by_name("src")
        .unwrap()
        .downcast::<gst_app::AppSrc>()
        .unwrap();
    let mut base: Option<u64> = None;
    let mut started = false;
    while let Ok(sample) = sink.pull_sample() {
        if !started {
            appsrc.set_caps(sample.caps().map(|c| c.to_owned()).as_ref());
            writer.set_state(gst::State::Playing).unwrap();
            started = true;
        }
        let Some(buffer) = sample.buffer() else {
            continue;
        };
        let mut out = buffer.copy();
        let b = out.get_mut().unwrap();
        let first = *base.get_or_insert_with(|| b.dts().or(b.pts()).map_or(0, |t| t.nseconds()));
        let shift = |t: Option<gst::ClockTime>| {
            t.map(|t| gst::ClockTime::from_nseconds(t.nseconds().saturating_sub(first)))
        };
        let (pts, dts) = (shift(b.pts()), shift(b.dts()));
        b.set_pts(pts);
        b.set_dts(dts);
        appsrc.push_buffer(out).unwrap();
    }
    reader.set_state(gst::State::Null).unwrap();
    appsrc.end_of_stream().unwrap();
    let msg = writer
        .bus()
        .unwrap()
        .timed_pop_filtered(
            gst::ClockTime::from_seconds(60),
            &[gst::MessageType::Eos, gst::MessageType::Error],
        )
        .expect("the clip is written");
    assert!(matches!(msg.view(), gst::MessageView::Eos(_)), "{msg:?}");
    writer.set_state(gst::State::Null).unwrap();
    std::fs::rename(&tmp, &dst).unwrap();
    dst
}

// ---- servers -----------------------------------------------------------------------------------

/// An `rtsp-serve` process serving a clip, looped.
pub struct Server {
    child: Mutex<Child>,
    pub url: String,
    pub port: u16,
    clip: PathBuf,
    extra: Vec<String>,
}

impl Server {
    pub fn start(clip: &Path, port: u16) -> Server {
        Server::start_with(clip, port, &[])
    }

    /// With more `rtsp-serve` options (`--speed 0.5`).
    pub fn start_with(clip: &Path, port: u16, extra: &[&str]) -> Server {
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            let mut child = Command::new(env!("CARGO_BIN_EXE_rtsp-serve"))
                .args([
                    "--file",
                    clip.to_str().unwrap(),
                    "--port",
                    &port.to_string(),
                ])
                .args(extra)
                .stdout(Stdio::piped())
                .stderr(Stdio::piped())
                .spawn()
                .expect("rtsp-serve starts");
            let mut line = String::new();
            let mut out = BufReader::new(child.stdout.take().unwrap());
            out.read_line(&mut line).unwrap();
            if line.starts_with("rtsp://") {
                let url = line.trim().to_string();
                let port = url
                    .rsplit(':')
                    .next()
                    .and_then(|p| p.split('/').next())
                    .and_then(|p| p.parse().ok())
                    .unwrap();
                return Server {
                    child: Mutex::new(child),
                    url,
                    port,
                    clip: clip.to_path_buf(),
                    extra: extra.iter().map(|s| s.to_string()).collect(),
                };
            }
            // The port may still be held for an instant after a kill: try again.
            let mut err = String::new();
            let _ = child.stderr.take().unwrap().read_to_string(&mut err);
            let _ = child.wait();
            assert!(Instant::now() < deadline, "rtsp-serve failed: {err}");
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    pub fn pid(&self) -> i32 {
        self.child.lock().unwrap().id() as i32
    }

    pub fn signal(&self, sig: i32) {
        // SAFETY: kill(2) on our own child's pid.
        unsafe {
            libc::kill(self.pid(), sig);
        }
    }

    /// SIGKILL, and reap it.
    pub fn kill(&self) {
        let mut c = self.child.lock().unwrap();
        let _ = c.kill();
        let _ = c.wait();
    }

    /// A new server on the same port (after [`Server::kill`]).
    pub fn restart(&self) -> Server {
        let extra: Vec<&str> = self.extra.iter().map(String::as_str).collect();
        Server::start_with(&self.clip, self.port, &extra)
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        self.signal(libc::SIGCONT);
        self.kill();
    }
}

/// A port nothing listens on.
pub fn closed_port() -> u16 {
    let l = TcpListener::bind("127.0.0.1:0").unwrap();
    l.local_addr().unwrap().port()
}

/// A socket that accepts connections (the kernel does) and never says a word.
pub struct SilentServer {
    _listener: TcpListener,
    pub port: u16,
}

impl SilentServer {
    pub fn start() -> SilentServer {
        let l = TcpListener::bind("127.0.0.1:0").unwrap();
        let port = l.local_addr().unwrap().port();
        SilentServer { _listener: l, port }
    }
}

/// A TCP server that answers every connection with random bytes.
pub struct GarbageServer {
    pub port: u16,
    stop: Arc<AtomicBool>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl GarbageServer {
    pub fn start() -> GarbageServer {
        let l = TcpListener::bind("127.0.0.1:0").unwrap();
        let port = l.local_addr().unwrap().port();
        l.set_nonblocking(true).unwrap();
        let stop = Arc::new(AtomicBool::new(false));
        let s = stop.clone();
        let thread = std::thread::spawn(move || {
            let mut x: u64 = 0x2545_F491_4F6C_DD1D;
            while !s.load(Ordering::SeqCst) {
                match l.accept() {
                    Ok((mut conn, _)) => {
                        let mut junk = vec![0u8; 4096];
                        for b in junk.iter_mut() {
                            x ^= x << 13;
                            x ^= x >> 7;
                            x ^= x << 17;
                            *b = x as u8;
                        }
                        let _ = conn.write_all(&junk);
                        let _ = conn.flush();
                        std::thread::sleep(Duration::from_millis(200));
                    }
                    Err(_) => std::thread::sleep(Duration::from_millis(20)),
                }
            }
        });
        GarbageServer {
            port,
            stop,
            thread: Some(thread),
        }
    }
}

impl Drop for GarbageServer {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

// ---- test data ---------------------------------------------------------------------------------

pub const HEADER: &str =
    "code,kind,plate,region,valid_from,valid_until,zones,purpose,status,holder_ref";

/// The demo's passes (fixtures/demo/passes.csv) moved to validity windows around any date a
/// test runs on: valid 2020–2099, except RK003AB (expired in 2021), RK376AF (valid from 2099),
/// RK373AK (revoked) and OZC8400 (another zone), as in the demo.
pub fn test_passes() -> String {
    let demo = std::fs::read_to_string(
        Path::new(env!("CARGO_MANIFEST_DIR")).join("../fixtures/demo/passes.csv"),
    )
    .unwrap();
    let mut out = String::new();
    for (i, line) in demo.lines().enumerate() {
        if i == 0 {
            out.push_str(line);
            out.push('\n');
            continue;
        }
        let mut f: Vec<String> = line.split(',').map(str::to_string).collect();
        let (from, until) = match f[2].as_str() {
            "RK003AB" => ("2021-01-01T00:00:00Z", "2021-12-31T23:59:59Z"),
            "RK376AF" => ("2099-01-01T00:00:00Z", "2099-12-31T23:59:59Z"),
            _ => ("2020-01-01T00:00:00Z", "2099-12-31T23:59:59Z"),
        };
        f[4] = from.into();
        f[5] = until.into();
        out.push_str(&f.join(","));
        out.push('\n');
    }
    out
}

/// A site whose zone `centre` is restricted at all times, with these cameras (id, source).
pub fn write_site(dir: &Path, cameras: &[(String, String)], analyse_fps: f64) -> PathBuf {
    let mut s =
        String::from("name = \"live-test\"\n[plates]\nregions = [\"us\", \"eu\", \"br\"]\n");
    for (id, source) in cameras {
        s.push_str(&format!(
            "[[cameras]]\nid = \"{id}\"\nsource = \"{source}\"\nzone = \"centre\"\nanalyse_fps = {analyse_fps:.1}\n"
        ));
    }
    s.push_str("[[zones]]\nid = \"centre\"\n[[zones.restrictions]]\n[[zones]]\nid = \"north\"\n");
    let path = dir.join("site.toml");
    std::fs::write(&path, s).unwrap();
    path
}

/// A registry database with these files imported in order.
pub fn registry_with(dir: &Path, files: &[(&str, &str)]) -> PathBuf {
    let db = dir.join("registry.db");
    for (name, content) in files {
        let f = dir.join(name);
        std::fs::write(&f, content).unwrap();
        let out = passwatch(&[
            "registry",
            "import-passes",
            f.to_str().unwrap(),
            "--registry",
            db.to_str().unwrap(),
            "--actor",
            "test",
        ]);
        assert!(out.status.success(), "{}", text(&out).1);
    }
    db
}

pub fn passwatch(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_passwatch"))
        .args(args)
        .output()
        .expect("passwatch runs")
}

pub fn text(o: &Output) -> (String, String) {
    (
        String::from_utf8_lossy(&o.stdout).into_owned(),
        String::from_utf8_lossy(&o.stderr).into_owned(),
    )
}

/// SHA-256 of `bytes`, lower-case hex (as events name their evidence).
pub fn sha256_hex(bytes: &[u8]) -> String {
    use sha2::Digest;
    hex::encode(sha2::Sha256::digest(bytes))
}

pub fn events_of(path: &Path) -> Vec<Value> {
    match std::fs::read_to_string(path) {
        Ok(t) => t
            .lines()
            .map(|l| serde_json::from_str(l).unwrap())
            .collect(),
        Err(_) => Vec::new(),
    }
}

// ---- a passwatch run ---------------------------------------------------------------------------

/// One event line of `passwatch run`'s stdout.
#[derive(Clone, Debug, PartialEq)]
pub struct EventLine {
    pub event_id: String,
    pub kind: String,
    pub reason: String,
    pub camera: String,
    pub subject: String,
    pub registry_version: u64,
    pub latency_ms: u64,
}

impl EventLine {
    fn parse(line: &str) -> Option<EventLine> {
        let mut it = line.split_whitespace();
        if it.next()? != "event" {
            return None;
        }
        let event_id = it.next()?.to_string();
        let kind = it.next()?.to_string();
        let reason = it.next()?.to_string();
        let mut e = EventLine {
            event_id,
            kind,
            reason,
            camera: String::new(),
            subject: String::new(),
            registry_version: 0,
            latency_ms: 0,
        };
        for kv in it {
            let (k, v) = kv.split_once('=')?;
            match k {
                "camera" => e.camera = v.into(),
                "subject" => e.subject = v.into(),
                "registry_version" => e.registry_version = v.parse().ok()?,
                "latency_ms" => e.latency_ms = v.parse().ok()?,
                _ => {}
            }
        }
        Some(e)
    }
}

/// A `passwatch run` process.
pub struct Run {
    child: Mutex<Child>,
    lines: Arc<Mutex<Vec<String>>>,
    stderr: PathBuf,
    pub address: String,
    /// A viewer's API token in the run's data folder (its HTTP surface needs one).
    pub token: String,
    last_metrics: Mutex<String>,
}

/// Adds a viewer and makes a token for it in data folder `out`, through the CLI; the token.
pub fn viewer_token(out: &Path) -> String {
    use std::io::Write as _;
    std::fs::create_dir_all(out).unwrap();
    let mut add = Command::new(env!("CARGO_BIN_EXE_passwatch"))
        .args(["users", "add", "ops", "--role", "viewer", "--data"])
        .arg(out)
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .spawn()
        .unwrap();
    add.stdin
        .take()
        .unwrap()
        .write_all(b"ops-password-long\n")
        .unwrap();
    assert!(add.wait().unwrap().success(), "passwatch users add");
    let made = Command::new(env!("CARGO_BIN_EXE_passwatch"))
        .args(["tokens", "create", "--user", "ops", "--data"])
        .arg(out)
        .output()
        .unwrap();
    assert!(made.status.success(), "passwatch tokens create");
    String::from_utf8(made.stdout)
        .unwrap()
        .lines()
        .last()
        .unwrap()
        .to_owned()
}

impl Run {
    pub fn start(site: &Path, registry: &Path, out: &Path, extra: &[&str]) -> Run {
        let stderr = out.with_extension("stderr.log");
        std::fs::create_dir_all(out.parent().unwrap()).unwrap();
        let token = if out.join("access.db").exists() {
            // A restart into the same folder: the viewer is there already.
            let made = Command::new(env!("CARGO_BIN_EXE_passwatch"))
                .args(["tokens", "create", "--user", "ops", "--data"])
                .arg(out)
                .output()
                .unwrap();
            String::from_utf8(made.stdout)
                .unwrap()
                .lines()
                .last()
                .unwrap()
                .to_owned()
        } else {
            viewer_token(out)
        };
        let mut child = Command::new(env!("CARGO_BIN_EXE_passwatch"))
            .args([
                "run",
                "--site",
                site.to_str().unwrap(),
                "--registry",
                registry.to_str().unwrap(),
                "--out",
                out.to_str().unwrap(),
                "--http",
                "127.0.0.1:0",
                "--threads",
                "2",
            ])
            .args(extra)
            .env("PASSWATCH_LOG", "info")
            .stdout(Stdio::piped())
            .stderr(std::fs::File::create(&stderr).unwrap())
            .spawn()
            .expect("passwatch run starts");
        let stdout = child.stdout.take().unwrap();
        let lines = Arc::new(Mutex::new(Vec::new()));
        let l2 = lines.clone();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines() {
                let Ok(line) = line else { break };
                l2.lock().unwrap().push(line);
            }
        });
        let mut run = Run {
            child: Mutex::new(child),
            lines,
            stderr,
            address: String::new(),
            token,
            last_metrics: Mutex::new(String::new()),
        };
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            let address = run
                .lines
                .lock()
                .unwrap()
                .iter()
                .find_map(|l| l.strip_prefix("listening on http://").map(str::to_string));
            if let Some(a) = address {
                run.address = a;
                return run;
            }
            if let Ok(Some(status)) = run.child.lock().unwrap().try_wait() {
                panic!("passwatch run exited ({status}): {}", run.stderr_tail());
            }
            assert!(
                Instant::now() < deadline,
                "no address printed: {}",
                run.stderr_tail()
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// GET a path of the HTTP surface; the body.
    pub fn get(&self, path: &str) -> String {
        let mut s = TcpStream::connect(&self.address).unwrap();
        s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
        write!(
            s,
            "GET {path} HTTP/1.1\r\nHost: {}\r\nAuthorization: Bearer {}\r\nConnection: close\r\n\r\n",
            self.address, self.token
        )
        .unwrap();
        let mut resp = String::new();
        s.read_to_string(&mut resp).unwrap();
        let (head, body) = resp.split_once("\r\n\r\n").unwrap_or((&resp, ""));
        assert!(head.starts_with("HTTP/1.1 200"), "{head}");
        body.to_string()
    }

    pub fn cameras(&self) -> Value {
        serde_json::from_str(&self.get("/api/cameras")).unwrap()
    }

    /// Polls `/api/cameras` until `pred` holds; the cameras then.
    pub fn wait_for(&self, what: &str, timeout: Duration, pred: impl Fn(&Value) -> bool) -> Value {
        let deadline = Instant::now() + timeout;
        loop {
            let cams = self.cameras();
            if pred(&cams) {
                return cams;
            }
            if Instant::now() > deadline {
                panic!(
                    "timed out waiting for {what}: {cams:#}\n{}",
                    self.stderr_tail()
                );
            }
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    /// The event lines printed so far.
    pub fn events(&self) -> Vec<EventLine> {
        self.lines
            .lock()
            .unwrap()
            .iter()
            .filter_map(|l| EventLine::parse(l))
            .collect()
    }

    pub fn wait_for_event(
        &self,
        timeout: Duration,
        pred: impl Fn(&EventLine) -> bool,
    ) -> EventLine {
        let deadline = Instant::now() + timeout;
        loop {
            if let Some(e) = self.events().into_iter().find(|e| pred(e)) {
                return e;
            }
            assert!(
                Instant::now() < deadline,
                "no such event; got {:?}\n{}",
                self.events(),
                self.stderr_tail()
            );
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    pub fn wait_for_events(&self, n: usize, timeout: Duration) {
        let deadline = Instant::now() + timeout;
        while self.events().len() < n {
            assert!(
                Instant::now() < deadline,
                "only {:?}\n{}",
                self.events(),
                self.stderr_tail()
            );
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    pub fn signal(&self, sig: i32) {
        let pid = self.child.lock().unwrap().id() as i32;
        // SAFETY: kill(2) on our own child's pid.
        unsafe {
            libc::kill(pid, sig);
        }
    }

    /// Waits for the process to exit.
    pub fn wait(&self, timeout: Duration) -> ExitStatus {
        let deadline = Instant::now() + timeout;
        loop {
            if let Some(status) = self.child.lock().unwrap().try_wait().unwrap() {
                // Let the stdout reader take the last lines.
                std::thread::sleep(Duration::from_millis(100));
                return status;
            }
            assert!(
                Instant::now() < deadline,
                "passwatch run did not exit within {timeout:?}\n{}",
                self.stderr_tail()
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// Keeps the last /metrics, sends SIGTERM, waits for the exit.
    pub fn stop(&self) -> ExitStatus {
        *self.last_metrics.lock().unwrap() = self.get("/metrics");
        self.signal(libc::SIGTERM);
        self.wait(Duration::from_secs(30))
    }

    /// /metrics as it was just before [`Run::stop`].
    pub fn last_metrics(&self) -> String {
        self.last_metrics.lock().unwrap().clone()
    }

    pub fn stderr_tail(&self) -> String {
        let text = std::fs::read_to_string(&self.stderr).unwrap_or_default();
        let lines: Vec<&str> = text.lines().collect();
        lines[lines.len().saturating_sub(80)..].join("\n")
    }
}

impl Drop for Run {
    fn drop(&mut self) {
        let mut c = self.child.lock().unwrap();
        if c.try_wait().ok().flatten().is_none() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }
}

// ---- reading /api/cameras ------------------------------------------------------------------------

pub fn camera<'a>(cams: &'a Value, id: &str) -> &'a Value {
    cams.as_array()
        .unwrap()
        .iter()
        .find(|c| c["id"] == id)
        .unwrap_or_else(|| panic!("no camera {id} in {cams}"))
}

pub fn state(cams: &Value, id: &str) -> String {
    camera(cams, id)["state"].as_str().unwrap().to_string()
}

pub fn analysed(cams: &Value, id: &str) -> u64 {
    camera(cams, id)["frames_analysed"].as_u64().unwrap()
}

pub fn last_error(cams: &Value, id: &str) -> String {
    camera(cams, id)["last_error"]
        .as_str()
        .unwrap_or_default()
        .to_string()
}
