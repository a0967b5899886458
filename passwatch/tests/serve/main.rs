//! `passwatch serve` over HTTP, for real: a data folder with events and evidence written by the
//! product's own sink, users and tokens made by the CLI, the server started as a process on
//! 127.0.0.1 with a port the system picks, and every request a real HTTP/1.1 exchange.
//!
//! The security properties of the review API, each shown against the running server: no
//! credentials → 401 on every route of the OpenAPI document; wrong role or out of scope → 403;
//! revoked and expired tokens → 401; evidence names that climb out of the data folder never
//! leave it; SQL in filters is inert; oversized bodies → 413; a cookie POST without its CSRF
//! token → 403; a login brute force → 429; tampered evidence is refused; a tampered audit entry
//! is found by `passwatch audit verify`. And the review itself: verdicts with their versions,
//! four eyes on faces, dismissals counted in /metrics, imports with row errors, revocation.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use image::RgbImage;
use passwatch_events::{EventSink, FolderSink};
use serde_json::{json, Value};

const PASSWORD: &str = "a long enough password";

fn passwatch() -> Command {
    Command::new(env!("CARGO_BIN_EXE_passwatch"))
}

/// Adds a user through the CLI (password on stdin).
fn add_user(data: &Path, name: &str, roles: &str, extra: &[&str]) {
    let mut child = passwatch()
        .args(["users", "add", name, "--role", roles, "--data"])
        .arg(data)
        .args(extra)
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    child
        .stdin
        .take()
        .unwrap()
        .write_all(format!("{PASSWORD}\n").as_bytes())
        .unwrap();
    let out = child.wait_with_output().unwrap();
    assert!(
        out.status.success(),
        "users add {name}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// Makes a token through the CLI: the last line of stdout.
fn token(data: &Path, user: &str, extra: &[&str]) -> String {
    let out = passwatch()
        .args(["tokens", "create", "--user", user, "--data"])
        .arg(data)
        .args(extra)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let stdout = String::from_utf8(out.stdout).unwrap();
    let last = stdout.lines().last().unwrap().to_owned();
    assert!(last.starts_with("pwt_"), "{stdout}");
    last
}

fn plate_event(id: &str, camera: &str, zone: &str, plate: &str, time: &str) -> Value {
    json!({
        "schema": "passwatch.event.v1", "event_id": id, "kind": "no_valid_pass",
        "camera": camera, "zone": zone, "source": "/clips/gate.mp4", "time": time,
        "media_time": {"first": 1.0, "last": 2.5},
        "subject": {"type": "plate", "plate": plate, "region": "us", "confidence": 0.93,
                    "reads": [{"media_time": 1.0, "text": plate, "confidence": 0.93}]},
        "decision": {"rule": "no_valid_pass", "reason": "unknown_plate", "matched_pass": null,
                     "edit_cost": null, "registry_version": 3,
                     "explanation": format!("no pass for plate {plate}"),
                     "plate_probability": 0.91},
        "evidence": null, "models": {"plate_ocr": "ppocr-v4"}, "review": "pending",
        "priority": "normal"
    })
}

fn face_event(id: &str, camera: &str, zone: &str, time: &str) -> Value {
    json!({
        "schema": "passwatch.event.v1", "event_id": id, "kind": "stay_home_breach",
        "camera": camera, "zone": zone, "source": "/clips/street.mp4", "time": time,
        "media_time": {"first": 4.0, "last": 5.0},
        "subject": {"type": "face", "subject_id": "S-17", "similarity": 0.58, "threshold": 0.43,
                    "far": 0.0001, "faces_used": 3, "comparisons": 36, "media_times": [4.0, 4.5, 5.0]},
        "decision": {"rule": "stay_home_breach", "reason": "outside_home_zone",
                     "matched_pass": null, "edit_cost": null, "registry_version": 3,
                     "explanation": "face matches subject S-17 outside home zone north"},
        "evidence": null, "models": {"face_embedder": "arcface"}, "review": "pending",
        "priority": "normal"
    })
}

/// A data folder: events through the product's `FolderSink`, with real evidence files.
fn data_folder(dir: &Path) {
    let mut sink = FolderSink::open(dir).unwrap();
    let crop = RgbImage::from_fn(64, 20, |x, y| image::Rgb([x as u8 * 3, y as u8 * 9, 80]));
    let frame = RgbImage::from_fn(160, 90, |x, y| image::Rgb([x as u8, y as u8, 128]));
    let events = [
        plate_event(
            "ev-north-1",
            "gate-n",
            "north",
            "ABC1234",
            "2026-04-10T08:00:00.000Z",
        ),
        plate_event(
            "ev-north-2",
            "gate-n",
            "north",
            "5DJ0529",
            "2026-04-10T09:00:00.000Z",
        ),
        plate_event(
            "ev-south-1",
            "gate-s",
            "south",
            "XYZ9876",
            "2026-04-10T10:00:00.000Z",
        ),
        face_event("ev-face-1", "street-s", "south", "2026-04-10T11:00:00.000Z"),
    ];
    for e in events {
        let mut event: passwatch_events::Event = serde_json::from_value(e).unwrap();
        event.evidence = Some(sink.store_evidence(&event.event_id, &crop, &frame).unwrap());
        sink.emit(&event).unwrap();
    }
    sink.flush().unwrap();
}

struct Server {
    child: Child,
    address: String,
    data: PathBuf,
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Server {
    fn start(data: &Path) -> Server {
        Server::start_with(data, &[])
    }

    fn start_with(data: &Path, extra: &[&str]) -> Server {
        let mut child = passwatch()
            .args(["serve", "--listen", "127.0.0.1:0", "--data"])
            .arg(data)
            .args(extra)
            .env("PASSWATCH_LOG", "debug")
            .stdout(Stdio::piped())
            .stderr(std::fs::File::create(data.with_extension("serve.log")).unwrap())
            .spawn()
            .unwrap();
        let mut line = String::new();
        BufReader::new(child.stdout.take().unwrap())
            .read_line(&mut line)
            .unwrap();
        let address = line
            .trim()
            .strip_prefix("listening on http://")
            .unwrap_or_else(|| panic!("serve printed {line:?}"))
            .to_owned();
        Server {
            child,
            address,
            data: data.to_owned(),
        }
    }

    fn request(&self, method: &str, path: &str, headers: &[(&str, &str)], body: &[u8]) -> Response {
        let mut s = TcpStream::connect(&self.address).unwrap();
        s.set_read_timeout(Some(Duration::from_secs(30))).unwrap();
        let mut head = format!(
            "{method} {path} HTTP/1.1\r\nHost: {}\r\nConnection: close\r\nContent-Length: {}\r\n",
            self.address,
            body.len()
        );
        for (k, v) in headers {
            head.push_str(&format!("{k}: {v}\r\n"));
        }
        head.push_str("\r\n");
        s.write_all(head.as_bytes()).unwrap();
        // A server may answer (413) before the whole body is sent and close: that is fine.
        let _ = s.write_all(body);
        let mut raw = Vec::new();
        let _ = s.read_to_end(&mut raw);
        Response::parse(&raw)
    }

    fn get(&self, path: &str, token: &str) -> Response {
        self.request(
            "GET",
            path,
            &[("Authorization", &format!("Bearer {token}"))],
            b"",
        )
    }

    fn post_json(&self, path: &str, token: &str, body: &Value) -> Response {
        self.request(
            "POST",
            path,
            &[
                ("Authorization", &format!("Bearer {token}")),
                ("Content-Type", "application/json"),
            ],
            body.to_string().as_bytes(),
        )
    }
}

#[derive(Debug)]
struct Response {
    status: u16,
    headers: Vec<(String, String)>,
    body: Vec<u8>,
}

impl Response {
    fn parse(raw: &[u8]) -> Response {
        let split = raw
            .windows(4)
            .position(|w| w == b"\r\n\r\n")
            .unwrap_or_else(|| panic!("no HTTP head in {:?}", String::from_utf8_lossy(raw)));
        let head = String::from_utf8_lossy(&raw[..split]).into_owned();
        let mut lines = head.lines();
        let status = lines
            .next()
            .unwrap()
            .split(' ')
            .nth(1)
            .unwrap()
            .parse()
            .unwrap();
        let headers = lines
            .filter_map(|l| l.split_once(':'))
            .map(|(k, v)| (k.trim().to_ascii_lowercase(), v.trim().to_owned()))
            .collect();
        Response {
            status,
            headers,
            body: raw[split + 4..].to_vec(),
        }
    }

    fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }

    fn json(&self) -> Value {
        serde_json::from_slice(&self.body).unwrap_or_else(|e| {
            panic!(
                "{e}: {} {}",
                self.status,
                String::from_utf8_lossy(&self.body)
            )
        })
    }

    fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }
}

/// A folder with events, an admin, a reviewer, a reviewer scoped to zone north, a viewer, a
/// registrar and an auditor; the server; and a token of each.
struct Fixture {
    _dir: tempfile::TempDir,
    server: Server,
    admin: String,
    reviewer: String,
    north: String,
    viewer: String,
    registrar: String,
    auditor: String,
}

fn fixture() -> Fixture {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    data_folder(&data);
    add_user(&data, "root", "admin", &[]);
    add_user(&data, "ann", "reviewer", &[]);
    add_user(&data, "bob", "reviewer", &[]);
    add_user(&data, "nora", "reviewer", &["--zone", "north"]);
    add_user(&data, "vic", "viewer", &[]);
    add_user(&data, "reg", "registrar", &[]);
    add_user(&data, "aud", "auditor", &[]);
    Fixture {
        admin: token(&data, "root", &[]),
        reviewer: token(&data, "ann", &[]),
        north: token(&data, "nora", &[]),
        viewer: token(&data, "vic", &[]),
        registrar: token(&data, "reg", &[]),
        auditor: token(&data, "aud", &[]),
        server: Server::start(&data),
        _dir: dir,
    }
}

/// Every operation of the OpenAPI document, with its path parameters filled in.
fn operations(server: &Server) -> Vec<(String, String, bool)> {
    let doc = server.request("GET", "/api/openapi.json", &[], b"").json();
    let mut ops = Vec::new();
    for (path, item) in doc["paths"].as_object().unwrap() {
        for (method, op) in item.as_object().unwrap() {
            let secured = op.get("security").is_some();
            let concrete = path
                .replace("{id}", "ev-north-1")
                .replace("{which}", "crop")
                .replace("{code}", "AAAAAAAAAAAAAAAA")
                .replace("{subject}", "S-17")
                .replace("{name}", "ann");
            ops.push((method.to_uppercase(), concrete, secured));
        }
    }
    assert!(ops.len() >= 20, "{ops:?}");
    ops
}

#[test]
fn every_route_needs_credentials_and_the_right_role() {
    let f = fixture();
    let s = &f.server;
    let ops = operations(s);
    for (method, path, secured) in &ops {
        if !secured {
            continue;
        }
        let r = s.request(method, path, &[("Content-Type", "application/json")], b"{}");
        assert_eq!(
            r.status,
            401,
            "{method} {path} without credentials: {}",
            r.text()
        );
        assert_eq!(r.json()["error"], "unauthenticated");
        let r = s.request(
            method,
            path,
            &[
                ("Authorization", "Bearer pwt_nope_nope"),
                ("Content-Type", "application/json"),
            ],
            b"{}",
        );
        assert_eq!(r.status, 401, "{method} {path} with a made-up token");
    }
    // The routes a viewer may not touch, by prefix; a viewer may see cameras, metrics and itself.
    let viewer_ok = ["/api/cameras", "/metrics", "/api/session", "/api/logout"];
    for (method, path, secured) in &ops {
        if !secured || viewer_ok.contains(&path.as_str()) {
            continue;
        }
        let r = s.request(
            method,
            path,
            &[
                ("Authorization", &format!("Bearer {}", f.viewer)),
                ("Content-Type", "application/json"),
            ],
            b"{}",
        );
        assert_eq!(r.status, 403, "{method} {path} as a viewer: {}", r.text());
    }
    // A reviewer reaches events but not the registry, the audit log or the users.
    for path in [
        "/api/passes",
        "/api/audit",
        "/api/users",
        "/api/tokens",
        "/api/watchlist",
    ] {
        assert_eq!(s.get(path, &f.reviewer).status, 403, "{path} as a reviewer");
    }
    for path in ["/api/events", "/api/users", "/api/audit"] {
        assert_eq!(
            s.get(path, &f.registrar).status,
            403,
            "{path} as a registrar"
        );
    }
    for path in ["/api/events", "/api/passes", "/api/users"] {
        assert_eq!(s.get(path, &f.auditor).status, 403, "{path} as an auditor");
    }
    assert_eq!(s.get("/api/audit", &f.auditor).status, 200);
    assert_eq!(s.get("/api/passes", &f.registrar).status, 200);
    assert_eq!(s.get("/api/events/ev-south-1", &f.reviewer).status, 200);
    assert_eq!(s.get("/healthz", "").status, 200);
}

#[test]
fn a_scoped_reviewer_sees_their_zone_only() {
    let f = fixture();
    let s = &f.server;
    let page = s.get("/api/events", &f.north).json();
    let ids: Vec<&str> = page["events"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["event"]["event_id"].as_str().unwrap())
        .collect();
    assert_eq!(ids, ["ev-north-2", "ev-north-1"]);
    for path in [
        "/api/events/ev-south-1",
        "/api/events/ev-south-1/evidence/frame",
        "/api/events/ev-face-1",
    ] {
        let r = s.get(path, &f.north);
        assert_eq!(r.status, 403, "{path}: {}", r.text());
        assert!(r.text().contains("outside the scope"), "{}", r.text());
    }
    let r = s.post_json(
        "/api/events/ev-south-1/verdicts",
        &f.north,
        &json!({"verdict": "confirm", "version": 0}),
    );
    assert_eq!(r.status, 403);
    let counts = s.get("/api/events/open-by-camera", &f.north).json();
    assert_eq!(counts, json!([{"camera": "gate-n", "open": 2}]));
}

#[test]
fn revoked_and_expired_tokens_are_refused() {
    let f = fixture();
    let s = &f.server;
    let short = token(&s.data, "ann", &["--expires", "2s"]);
    assert_eq!(s.get("/api/events", &short).status, 200);
    let doomed = token(&s.data, "ann", &[]);
    assert_eq!(s.get("/api/events", &doomed).status, 200);
    let id = doomed.split('_').nth(1).unwrap();
    let out = passwatch()
        .args(["tokens", "revoke", id, "--data"])
        .arg(&s.data)
        .output()
        .unwrap();
    assert!(out.status.success());
    let r = s.get("/api/events", &doomed);
    assert_eq!(r.status, 401);
    assert!(r.text().contains("revoked"), "{}", r.text());
    std::thread::sleep(Duration::from_millis(2200));
    let r = s.get("/api/events", &short);
    assert_eq!(r.status, 401);
    assert!(r.text().contains("expired"), "{}", r.text());
    // A disabled user's token stops working too.
    let r = s.post_json("/api/users/bob/disable", &f.admin, &json!({}));
    assert_eq!(r.status, 200, "{}", r.text());
    let bob = token_for_disabled(&s.data);
    assert!(bob.is_none(), "no token is made for a disabled user");
    // The refusals are in the audit log, with the token's id.
    let audit = s.get("/api/audit?action=auth.refused", &f.auditor).json();
    let targets: Vec<&str> = audit
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|e| e["target"].as_str())
        .collect();
    assert!(targets.contains(&format!("token:{id}").as_str()), "{audit}");
}

fn token_for_disabled(data: &Path) -> Option<String> {
    let out = passwatch()
        .args(["tokens", "create", "--user", "bob", "--data"])
        .arg(data)
        .output()
        .unwrap();
    out.status
        .success()
        .then(|| String::from_utf8_lossy(&out.stdout).into_owned())
}

#[test]
fn evidence_names_never_leave_the_data_folder_and_tampering_is_refused() {
    let f = fixture();
    let s = &f.server;
    let r = s.get("/api/events/ev-north-1/evidence/crop", &f.reviewer);
    assert_eq!(r.status, 200, "{}", r.text());
    assert_eq!(r.header("content-type"), Some("image/jpeg"));
    assert_eq!(&r.body[..2], &[0xFF, 0xD8], "a JPEG");
    for path in [
        "/api/events/..%2F..%2F..%2Fetc%2Fpasswd/evidence/crop",
        "/api/events/ev-north-1/evidence/..%2F..%2Faccess.db",
        "/api/events/ev-north-1/evidence/%2Fetc%2Fpasswd",
        "/api/events/ev-north-1%00/evidence/crop",
    ] {
        let r = s.get(path, &f.reviewer);
        assert!(
            matches!(r.status, 400 | 404),
            "{path}: {} {}",
            r.status,
            r.text()
        );
        assert!(
            r.body.len() < 2000 && !r.text().contains("SQLite"),
            "{path}"
        );
    }
    // An event whose stored evidence name climbs out (the journal edited by hand).
    let journal = rusqlite::Connection::open(s.data.join("journal.db")).unwrap();
    let json: String = journal
        .query_row(
            "SELECT json FROM events WHERE event_id = 'ev-south-1'",
            [],
            |r| r.get(0),
        )
        .unwrap();
    let mut event: Value = serde_json::from_str(&json).unwrap();
    event["evidence"]["frame"]["file"] = json!("evidence/../access.db");
    event["evidence"]["crop"]["file"] = json!("../../../../etc/passwd");
    journal
        .execute(
            "UPDATE events SET json = ?1 WHERE event_id = 'ev-south-1'",
            [event.to_string()],
        )
        .unwrap();
    for which in ["frame", "crop"] {
        let r = s.get(
            &format!("/api/events/ev-south-1/evidence/{which}"),
            &f.reviewer,
        );
        assert_eq!(r.status, 410, "{which}: {}", r.text());
        assert!(r.text().contains("refused"), "{}", r.text());
        assert!(!r.text().contains("root:"), "never the file's content");
    }
    // A tampered evidence file: refused, naming the event and both hashes.
    let frame = s.data.join("evidence/ev-north-2/frame.jpg");
    let mut bytes = std::fs::read(&frame).unwrap();
    let n = bytes.len();
    bytes[n / 2] ^= 0x55;
    std::fs::write(&frame, &bytes).unwrap();
    let r = s.get("/api/events/ev-north-2/evidence/frame", &f.reviewer);
    assert_eq!(r.status, 409, "{}", r.text());
    let body = r.json();
    assert_eq!(body["error"], "tampered");
    let message = body["message"].as_str().unwrap();
    let recorded = s.get("/api/events/ev-north-2", &f.reviewer).json()["event"]["evidence"]
        ["frame"]["sha256"]
        .as_str()
        .unwrap()
        .to_owned();
    use sha2::Digest;
    let found = hex::encode(sha2::Sha256::digest(&bytes));
    assert!(message.contains("ev-north-2"), "{message}");
    assert!(
        message.contains(&recorded) && message.contains(&found),
        "{message}"
    );
}

#[test]
fn filter_values_carrying_sql_are_inert_and_bad_values_are_named() {
    let f = fixture();
    let s = &f.server;
    for q in [
        "camera=gate-n%27%20OR%20%271%27%3D%271",
        "plate=%25",
        "plate=A%25&plate_match=prefix",
        "text=%27%3B%20DROP%20TABLE%20events%3B%20--",
        "zone=north%22%29%20OR%201%3D1%20--",
        "reason=x%27%20UNION%20SELECT%20json%20FROM%20events%20--",
    ] {
        let r = s.get(&format!("/api/events?{q}"), &f.reviewer);
        assert_eq!(r.status, 200, "{q}: {}", r.text());
        assert_eq!(r.json()["events"], json!([]), "{q}");
    }
    // The table is still there, with every event.
    let all = s.get("/api/events?limit=10", &f.reviewer).json();
    assert_eq!(all["events"].as_array().unwrap().len(), 4);
    for (q, field) in [
        ("since=yesterday", "since"),
        ("limit=0", "limit"),
        ("kind=bogus", "kind"),
        ("order=random", "order"),
        ("cursor=zz", "cursor"),
        ("limit=abc", "query"),
    ] {
        let r = s.get(&format!("/api/events?{q}"), &f.reviewer);
        assert_eq!(r.status, 400, "{q}");
        assert!(
            r.json()["message"].as_str().unwrap().contains(field),
            "{q}: {}",
            r.text()
        );
    }
    // Plate search: exact, prefix and confusable-aware.
    let plates = |q: &str| -> Vec<String> {
        s.get(&format!("/api/events?{q}"), &f.reviewer).json()["events"]
            .as_array()
            .unwrap()
            .iter()
            .map(|e| e["event"]["subject"]["plate"].as_str().unwrap().to_owned())
            .collect()
    };
    assert_eq!(plates("plate=5DJ0529"), ["5DJ0529"]);
    assert_eq!(plates("plate=SDJO529&plate_match=confusable"), ["5DJ0529"]);
    assert_eq!(plates("plate=XYZ&plate_match=prefix"), ["XYZ9876"]);
    assert!(plates("plate=SDJO529").is_empty());
}

#[test]
fn oversized_bodies_get_413() {
    let f = fixture();
    let s = &f.server;
    let big = vec![b'a'; 17 * 1024 * 1024];
    let r = s.request(
        "POST",
        "/api/passes/import",
        &[
            ("Authorization", &format!("Bearer {}", f.registrar)),
            ("Content-Type", "text/csv"),
        ],
        &big,
    );
    assert_eq!(r.status, 413, "{}", r.text());
    let note = "x".repeat(100 * 1024);
    let r = s.post_json(
        "/api/events/ev-north-1/verdicts",
        &f.reviewer,
        &json!({"verdict": "escalate", "note": note, "version": 0}),
    );
    assert_eq!(r.status, 413, "{}", r.text());
}

fn login(s: &Server, user: &str, password: &str) -> Response {
    s.request(
        "POST",
        "/api/login",
        &[("Content-Type", "application/json")],
        json!({"user": user, "password": password})
            .to_string()
            .as_bytes(),
    )
}

#[test]
fn browser_sessions_need_their_csrf_token_and_brute_force_is_limited() {
    let f = fixture();
    let s = &f.server;
    let r = login(s, "ann", PASSWORD);
    assert_eq!(r.status, 200, "{}", r.text());
    let set_cookie = r.header("set-cookie").unwrap().to_owned();
    for attr in ["HttpOnly", "SameSite=Strict", "Path=/"] {
        assert!(set_cookie.contains(attr), "{set_cookie}");
    }
    let cookie = set_cookie.split(';').next().unwrap().to_owned();
    let csrf = r.json()["csrf_token"].as_str().unwrap().to_owned();
    let r = s.request("GET", "/api/events", &[("Cookie", &cookie)], b"");
    assert_eq!(r.status, 200);
    let verdict = json!({"verdict": "escalate", "version": 0}).to_string();
    let r = s.request(
        "POST",
        "/api/events/ev-north-1/verdicts",
        &[("Cookie", &cookie), ("Content-Type", "application/json")],
        verdict.as_bytes(),
    );
    assert_eq!(r.status, 403, "{}", r.text());
    assert!(r.text().contains("x-csrf-token"), "{}", r.text());
    let r = s.request(
        "POST",
        "/api/events/ev-north-1/verdicts",
        &[
            ("Cookie", &cookie),
            ("Content-Type", "application/json"),
            ("X-CSRF-Token", "0000"),
        ],
        verdict.as_bytes(),
    );
    assert_eq!(r.status, 403);
    let r = s.request(
        "POST",
        "/api/events/ev-north-1/verdicts",
        &[
            ("Cookie", &cookie),
            ("Content-Type", "application/json"),
            ("X-CSRF-Token", &csrf),
        ],
        verdict.as_bytes(),
    );
    assert_eq!(r.status, 200, "{}", r.text());
    assert_eq!(r.json()["event"]["review"], "escalated");
    // Logout ends the session.
    let r = s.request(
        "POST",
        "/api/logout",
        &[("Cookie", &cookie), ("X-CSRF-Token", &csrf)],
        b"",
    );
    assert_eq!(r.status, 204);
    assert_eq!(
        s.request("GET", "/api/events", &[("Cookie", &cookie)], b"")
            .status,
        401
    );

    // Brute force on one account: five failures, then 429 even for the right password.
    for i in 0..5 {
        let r = login(s, "bob", &format!("guess number {i}"));
        assert_eq!(r.status, 401, "attempt {i}");
    }
    let r = login(s, "bob", PASSWORD);
    assert_eq!(r.status, 429, "{}", r.text());
    assert!(r.header("retry-after").is_some());
    let failed = s.get("/api/audit?action=login.failed", &f.auditor).json();
    assert_eq!(failed.as_array().unwrap().len(), 5);
}

#[test]
fn verdicts_are_versioned_four_eyed_for_faces_and_counted() {
    let f = fixture();
    let s = &f.server;
    let bob = token(&s.data, "bob", &[]);
    let e = s.get("/api/events/ev-north-1", &f.reviewer).json();
    assert_eq!(e["review_version"], 0);
    assert_eq!(e["event"]["subject"]["reads"][0]["text"], "ABC1234");
    let r = s.post_json(
        "/api/events/ev-north-1/verdicts",
        &f.reviewer,
        &json!({"verdict": "dismiss", "reason": "misread", "version": 0}),
    );
    assert_eq!(r.status, 200, "{}", r.text());
    assert_eq!(r.json()["event"]["review"], "dismissed");
    let r = s.post_json(
        "/api/events/ev-north-1/verdicts",
        &bob,
        &json!({"verdict": "confirm", "version": 0}),
    );
    assert_eq!(r.status, 409, "a verdict on a stale version");
    let r = s.post_json(
        "/api/events/ev-north-2/verdicts",
        &f.reviewer,
        &json!({"verdict": "dismiss", "reason": "other", "version": 0}),
    );
    assert_eq!(r.status, 422, "`other` needs a note");
    let r = s.post_json(
        "/api/events/ev-north-2/verdicts",
        &f.reviewer,
        &json!({"verdict": "dismiss", "reason": "because", "version": 0}),
    );
    assert_eq!(r.status, 422);
    // Four eyes: a face event needs two different reviewers.
    let r = s.post_json(
        "/api/events/ev-face-1/verdicts",
        &f.reviewer,
        &json!({"verdict": "confirm", "version": 0}),
    );
    assert_eq!(r.json()["event"]["review"], "awaiting_second");
    assert_eq!(r.json()["confirmations_needed"], 1);
    let r = s.post_json(
        "/api/events/ev-face-1/verdicts",
        &f.reviewer,
        &json!({"verdict": "confirm", "version": 1}),
    );
    assert_eq!(r.status, 409, "{}", r.text());
    let r = s.post_json(
        "/api/events/ev-face-1/verdicts",
        &bob,
        &json!({"verdict": "confirm", "version": 1}),
    );
    assert_eq!(r.status, 200);
    let detail = r.json();
    assert_eq!(detail["event"]["review"], "confirmed");
    let actors: Vec<&str> = detail["verdicts"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v["actor"].as_str().unwrap())
        .collect();
    assert_eq!(actors, ["ann", "bob"]);
    // The queue holds what is left; dismissals are counted per camera.
    let queue = s
        .get("/api/events?order=oldest_pending", &f.reviewer)
        .json();
    let ids: Vec<&str> = queue["events"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["event"]["event_id"].as_str().unwrap())
        .collect();
    assert_eq!(ids, ["ev-north-2", "ev-south-1"]);
    let metrics = s.get("/metrics", &f.viewer).text();
    assert!(
        metrics.contains("passwatch_dismissals_total{camera=\"gate-n\",reason=\"misread\"} 1"),
        "{metrics}"
    );
    // Every read and verdict is in the audit log with its actor.
    let audit = s.get("/api/audit?action=verdict", &f.auditor).json();
    // Six verdicts reached the journal (accepted or refused there); the one with an unknown
    // reason was refused before it.
    assert_eq!(audit.as_array().unwrap().len(), 6, "{audit}");
    let reads = s
        .get("/api/audit?action=event.read&actor=ann", &f.auditor)
        .json();
    assert!(!reads.as_array().unwrap().is_empty());
}

#[test]
fn registrars_import_revoke_and_reinstate_with_every_change_audited() {
    let f = fixture();
    let s = &f.server;
    let header = "code,kind,plate,region,valid_from,valid_until,zones,purpose,status,holder_ref";
    let good = format!(
        "{header}\nAAAAAAAAAAAAAAA1,vehicle,ABC1234,us,2026-01-01T00:00:00Z,2026-12-31T23:59:59Z,*,work,active,h1\n"
    );
    let csv = |text: &str| {
        s.request(
            "POST",
            "/api/passes/import",
            &[
                ("Authorization", &format!("Bearer {}", f.registrar)),
                ("Content-Type", "text/csv"),
            ],
            text.as_bytes(),
        )
    };
    let r = csv(&good);
    assert_eq!(r.status, 200, "{}", r.text());
    let version = r.json()["version"].as_u64().unwrap();
    let bad = format!(
        "{header}\nAAAAAAAAAAAAAAA2,vehicle,XYZ1,us,2026-01-01T00:00:00Z,2026-12-31T23:59:59Z,*,work,active,h2\nshort,vehicle,,us,nope,2026-12-31T23:59:59Z,*,work,active,h3\n"
    );
    let r = csv(&bad);
    assert_eq!(r.status, 422, "{}", r.text());
    let details = &r.json()["details"];
    assert!(
        details["problems"]
            .as_array()
            .unwrap()
            .iter()
            .any(|p| p["row"] == 3),
        "{details}"
    );
    assert_eq!(
        s.get("/api/passes?code=AAAAAAAAAAAAAAA2", &f.registrar)
            .json(),
        json!([])
    );
    let r = s.post_json(
        "/api/passes/AAAAAAAAAAAAAAA1/revoke",
        &f.registrar,
        &json!({}),
    );
    assert_eq!(r.json()["version"], version + 1);
    let found = s
        .get("/api/passes?plate=A8C1234&fuzzy=true", &f.registrar)
        .json();
    assert_eq!(found[0]["status"], "revoked", "{found}");
    let r = s.post_json(
        "/api/passes/AAAAAAAAAAAAAAA1/reinstate",
        &f.registrar,
        &json!({}),
    );
    assert_eq!(r.json()["version"], version + 2);
    assert_eq!(
        s.post_json(
            "/api/passes/NOPENOPENOPENOPE/revoke",
            &f.registrar,
            &json!({})
        )
        .status,
        404
    );
    let r = s.request(
        "POST",
        "/api/passes/import",
        &[
            ("Authorization", &format!("Bearer {}", f.registrar)),
            ("Content-Type", "application/xml"),
        ],
        b"<passes/>",
    );
    assert_eq!(r.status, 415);
    let changes = s.get("/api/audit?action=pass.", &f.auditor).json();
    let actions: Vec<&str> = changes
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["action"].as_str().unwrap())
        .collect();
    assert_eq!(actions, ["pass.revoke", "pass.reinstate", "pass.revoke"]);
}

#[test]
fn a_tampered_audit_entry_is_found_by_audit_verify() {
    let f = fixture();
    let s = &f.server;
    for _ in 0..3 {
        assert_eq!(s.get("/api/events", &f.reviewer).status, 200);
    }
    let verify = || {
        passwatch()
            .args(["audit", "verify", "--data"])
            .arg(&s.data)
            .output()
            .unwrap()
    };
    let out = verify();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let v = s.get("/api/audit/verify", &f.auditor).json();
    assert_eq!(v["ok"], true, "{v}");
    let db = rusqlite::Connection::open(s.data.join("audit.db")).unwrap();
    let seq: i64 = db
        .query_row(
            "SELECT seq FROM audit WHERE action = 'events.list' ORDER BY seq LIMIT 1",
            [],
            |r| r.get(0),
        )
        .unwrap();
    db.execute(
        "UPDATE audit SET actor = 'someone-else' WHERE seq = ?1",
        [seq],
    )
    .unwrap();
    let out = verify();
    assert_eq!(out.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains(&format!("broken at entry {seq}")),
        "{stderr}"
    );
    let v = s.get("/api/audit/verify", &f.auditor).json();
    assert_eq!(v["broken_seq"], seq);
}

#[test]
fn no_response_holds_an_embedding_and_listen_rules_hold() {
    let f = fixture();
    let s = &f.server;
    let mut bodies = String::new();
    for path in [
        "/api/events",
        "/api/events/ev-face-1",
        "/api/watchlist",
        "/api/audit",
        "/api/users",
        "/api/tokens",
    ] {
        bodies.push_str(&s.get(path, &f.admin).text());
    }
    for needle in ["embedding", "vector", "password", "pwt_"] {
        assert!(!bodies.contains(needle), "{needle} in an API response");
    }
    // Nor the server's log (at debug level), nor a case export.
    let r = s.post_json("/api/export", &f.admin, &json!({"events": ["ev-face-1"]}));
    assert_eq!(r.status, 200);
    let export = String::from_utf8_lossy(&r.body).into_owned();
    let log = std::fs::read_to_string(s.data.with_extension("serve.log")).unwrap();
    for needle in ["embedding", "vector", PASSWORD, &f.admin, &f.reviewer] {
        assert!(!export.contains(needle), "{needle} in an export");
        assert!(!log.contains(needle), "{needle} in the server's log");
    }
    // A non-loopback address without TLS is refused unless the operator insists.
    let out = passwatch()
        .args(["serve", "--listen", "0.0.0.0:0", "--data"])
        .arg(&s.data)
        .output()
        .unwrap();
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("--insecure-http"));
}

#[test]
fn serves_https_with_the_given_certificate() {
    let Ok(openssl) = which("openssl") else {
        panic!("openssl is needed to make the test certificate (Debian package openssl)");
    };
    let dir = tempfile::tempdir().unwrap();
    let (cert, key) = (dir.path().join("cert.pem"), dir.path().join("key.pem"));
    let made = Command::new(openssl)
        .args([
            "req",
            "-x509",
            "-newkey",
            "ec",
            "-pkeyopt",
            "ec_paramgen_curve:prime256v1",
        ])
        .args(["-nodes", "-days", "1", "-subj", "/CN=localhost", "-keyout"])
        .arg(&key)
        .arg("-out")
        .arg(&cert)
        .output()
        .unwrap();
    assert!(
        made.status.success(),
        "{}",
        String::from_utf8_lossy(&made.stderr)
    );
    let data = dir.path().join("data");
    data_folder(&data);
    let mut child = passwatch()
        .args(["serve", "--listen", "127.0.0.1:0", "--data"])
        .arg(&data)
        .arg("--tls-cert")
        .arg(&cert)
        .arg("--tls-key")
        .arg(&key)
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let stdout = child.stdout.take().unwrap();
    // Killed and waited for on every path out of the test.
    let _server = Server {
        child,
        address: String::new(),
        data: data.clone(),
    };
    let mut line = String::new();
    BufReader::new(stdout).read_line(&mut line).unwrap();
    let address = line
        .trim()
        .strip_prefix("listening on https://")
        .unwrap()
        .to_owned();
    let deadline = Instant::now() + Duration::from_secs(10);
    let out = loop {
        let out = Command::new("curl")
            .args(["-sk", "-o", "/dev/null", "-w", "%{http_code}"])
            .arg(format!("https://{address}/api/events"))
            .output()
            .unwrap();
        if out.status.success() || Instant::now() > deadline {
            break out;
        }
        std::thread::sleep(Duration::from_millis(100));
    };
    assert_eq!(
        String::from_utf8_lossy(&out.stdout),
        "401",
        "HTTPS answers, and still needs credentials"
    );
}

fn which(program: &str) -> Result<PathBuf, ()> {
    std::env::var_os("PATH")
        .into_iter()
        .flat_map(|p| std::env::split_paths(&p).collect::<Vec<_>>())
        .map(|d| d.join(program))
        .find(|p| p.is_file())
        .ok_or(())
}

#[test]
fn a_case_exported_through_the_api_verifies_and_stays_in_scope() {
    let f = fixture();
    let s = &f.server;
    let r = s.post_json(
        "/api/export",
        &f.reviewer,
        &json!({"filter": {"zone": "north"}}),
    );
    assert_eq!(r.status, 200, "{}", r.text());
    assert_eq!(r.header("content-type"), Some("application/x-tar"));
    let sha = r.header("x-case-manifest-sha256").unwrap().to_owned();
    let dir = tempfile::tempdir().unwrap();
    let archive = dir.path().join("case.tar");
    std::fs::write(&archive, &r.body).unwrap();
    let out = passwatch()
        .args(["export", "verify"])
        .arg(&archive)
        .arg("--data")
        .arg(&s.data)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    let exports = s.get("/api/audit?action=export", &f.auditor).json();
    assert!(exports.to_string().contains(&sha), "{exports}");
    assert!(exports.to_string().contains("ev-north-2"));
    // Out of scope, or a mistyped filter, exports nothing.
    let r = s.post_json("/api/export", &f.north, &json!({"events": ["ev-south-1"]}));
    assert_eq!(r.status, 403, "{}", r.text());
    let r = s.post_json(
        "/api/export",
        &f.reviewer,
        &json!({"filter": {"camra": "gate-n"}}),
    );
    assert_eq!(r.status, 422, "{}", r.text());
}

#[test]
fn the_site_retention_purges_through_the_api_and_is_audited_by_counts() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    data_folder(&data);
    add_user(&data, "root", "admin", &[]);
    add_user(&data, "aud", "auditor", &[]);
    let (admin, auditor) = (token(&data, "root", &[]), token(&data, "aud", &[]));
    let site = dir.path().join("site.toml");
    std::fs::write(
        &site,
        "name = \"t\"\nutc_offset = \"+00:00\"\n[retention]\nevents_days = 30\n\n\
         [[cameras]]\nid = \"gate-n\"\nzone = \"north\"\nanalyses = [\"plates\"]\n\n\
         [[zones]]\nid = \"north\"\n",
    )
    .unwrap();
    let s = Server::start_with(&data, &["--site", site.to_str().unwrap()]);
    // The events are of April 2026; the hourly purge at start may already have run.
    let r = s.post_json("/api/purge", &admin, &json!({}));
    assert_eq!(r.status, 200, "{}", r.text());
    let events = s.get("/api/events", &admin).json();
    assert_eq!(events["events"], json!([]), "every event is past 30 days");
    assert!(!data.join("evidence/ev-north-1").exists());
    let purges = s.get("/api/audit?action=purge", &auditor).json();
    let text = purges.to_string();
    assert!(text.contains("events_removed"), "{text}");
    for secret in ["ev-north-1", "ABC1234", "5DJ0529"] {
        assert!(
            !text.contains(secret),
            "{secret} in the purge's audit entry"
        );
    }
    // The folder has no writer, so events.jsonl was compacted too.
    let jsonl = std::fs::read_to_string(data.join("events.jsonl")).unwrap();
    assert!(!jsonl.contains("ev-north-1"), "{jsonl}");
    assert_eq!(s.post_json("/api/purge", &auditor, &json!({})).status, 403);
}

fn fixtures() -> PathBuf {
    match std::env::var_os("PASSWATCH_FIXTURES").filter(|v| !v.is_empty()) {
        Some(p) => PathBuf::from(p),
        None => Path::new(env!("CARGO_MANIFEST_DIR")).join("../../shared/fixtures"),
    }
}

/// A `multipart/form-data` body: text fields, then files as `photo`.
fn multipart(fields: &[(&str, &str)], photos: &[(&str, Vec<u8>)]) -> (String, Vec<u8>) {
    let boundary = "pw-boundary-7MA4YWxkTrZu0gW";
    let mut body = Vec::new();
    for (k, v) in fields {
        body.extend(
            format!("--{boundary}\r\nContent-Disposition: form-data; name=\"{k}\"\r\n\r\n{v}\r\n")
                .as_bytes(),
        );
    }
    for (name, bytes) in photos {
        body.extend(
            format!(
                "--{boundary}\r\nContent-Disposition: form-data; name=\"photo\"; \
                 filename=\"{name}\"\r\nContent-Type: application/octet-stream\r\n\r\n"
            )
            .as_bytes(),
        );
        body.extend(bytes);
        body.extend(b"\r\n");
    }
    body.extend(format!("--{boundary}--\r\n").as_bytes());
    (format!("multipart/form-data; boundary={boundary}"), body)
}

#[test]
fn registrars_enrol_from_uploaded_photos_with_the_cli_refusals() {
    let f = fixture();
    let s = &f.server;
    let people = fixtures().join("faces/people");
    let good = std::fs::read(people.join("obama.jpg")).unwrap();
    let two = std::fs::read(people.join("two_people.jpg")).unwrap();
    let order = [
        ("order_from", "2026-04-01T00:00:00Z"),
        ("order_until", "2026-05-01T00:00:00Z"),
        ("home_zone", "north"),
    ];
    let post = |token: &str, photos: &[(&str, Vec<u8>)]| {
        let (content_type, body) = multipart(&order, photos);
        s.request(
            "POST",
            "/api/watchlist/S-42/enrol",
            &[
                ("Authorization", &format!("Bearer {token}")),
                ("Content-Type", &content_type),
            ],
            &body,
        )
    };
    assert_eq!(
        post(&f.reviewer, &[("obama.jpg", good.clone())]).status,
        403
    );
    let r = post(
        &f.registrar,
        &[
            ("obama.jpg", good.clone()),
            ("two.jpg", two),
            ("notes.jpg", b"this is not an image".to_vec()),
        ],
    );
    assert_eq!(r.status, 422, "{}", r.text());
    let refused = r.json()["details"]["refused"].clone();
    let reasons: Vec<String> = refused
        .as_array()
        .unwrap()
        .iter()
        .map(|x| format!("{} {}", x["photo"], x["reason"]))
        .collect();
    assert_eq!(reasons.len(), 2, "{refused}");
    assert!(
        reasons[0].contains("two.jpg") && reasons[0].contains("several_faces"),
        "{reasons:?}"
    );
    assert!(
        reasons[1].contains("notes.jpg") && reasons[1].contains("not_an_image"),
        "{reasons:?}"
    );
    assert_eq!(
        s.get("/api/watchlist", &f.registrar).json(),
        json!([]),
        "nothing stored"
    );
    let r = post(&f.registrar, &[("obama.jpg", good)]);
    assert_eq!(r.status, 200, "{}", r.text());
    assert_eq!(r.json()["references"], 1);
    let listed = s.get("/api/watchlist", &f.registrar).json();
    assert_eq!(listed[0]["subject_id"], "S-42");
    assert!(!listed.to_string().contains("embedding"));
    let r = s.request(
        "DELETE",
        "/api/watchlist/S-42",
        &[("Authorization", &format!("Bearer {}", f.registrar))],
        b"",
    );
    assert_eq!(r.status, 200, "{}", r.text());
    assert_eq!(s.get("/api/watchlist", &f.registrar).json(), json!([]));
    let audit = s.get("/api/audit?action=subject.", &f.auditor).json();
    let actions: Vec<&str> = audit
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["action"].as_str().unwrap())
        .collect();
    assert_eq!(
        actions,
        ["subject.enrol", "subject.enrol", "subject.remove"]
    );
}
