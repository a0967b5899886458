//! `passwatch run` against real RTSP servers on 127.0.0.1, each its own process
//! (`rtsp-serve`), so that a test can do to a camera what a network does: kill it with SIGKILL,
//! freeze it with SIGSTOP, start it again on the same port; plus sources that never answer and
//! one that answers with garbage.
//!
//! A second integration test binary (the crate's others live in `tests/pipeline/`): these tests
//! measure time (a watchdog within its limit, a camera back within 5 s), and each runs a whole
//! `passwatch run` with its models on the CPU. Cargo runs test binaries one after the other, so
//! the model-heavy tests of `tests/pipeline/` never share the CPU with them, and inside this
//! binary the tests take turns ([`serial`]). About three to four minutes in all.
//!
//! Fixtures: clips cut from `plates_dev.mp4` (without re-encoding, at its key frames) into
//! `CARGO_TARGET_TMPDIR`, once.

mod harness;

use harness::*;
use serde_json::Value;
use std::time::{Duration, Instant};

/// Four cameras; one server killed, restarted, another frozen; three sources that never work.
#[test]
fn four_cameras_ride_out_kills_freezes_and_bad_sources() {
    let _turn = serial();
    let clip = clip_plates();
    let servers: Vec<Server> = (0..4).map(|_| Server::start(&clip, 0)).collect();
    let closed = closed_port();
    let silent = SilentServer::start();
    let garbage = GarbageServer::start();
    let work = tempdir();
    let mut cameras: Vec<(String, String)> = servers
        .iter()
        .enumerate()
        .map(|(i, s)| (format!("cam{}", i + 1), s.url.clone()))
        .collect();
    cameras.push(("closed".into(), format!("rtsp://127.0.0.1:{closed}/stream")));
    cameras.push((
        "silent".into(),
        format!("rtsp://127.0.0.1:{}/stream", silent.port),
    ));
    cameras.push((
        "garbage".into(),
        format!("rtsp://u:hunter2@127.0.0.1:{}/stream", garbage.port),
    ));
    let site = write_site(work.path(), &cameras, 1.0);
    let registry = registry_with(work.path(), &[("passes.csv", &test_passes())]);
    let run = Run::start(
        &site,
        &registry,
        &work.path().join("out"),
        &["--watchdog-for", "cam2=3", "--first-frame-timeout", "4"],
    );

    // All four real cameras analyse frames.
    run.wait_for(
        "every real camera analysing",
        Duration::from_secs(90),
        |cams| (1..=4).all(|i| analysed(cams, &format!("cam{i}")) >= 1),
    );

    // Kill server 1: the others go on.
    let before = run.cameras();
    servers[0].kill();
    let killed_at = Instant::now();
    let down = run.wait_for("cam1 to notice", Duration::from_secs(5), |cams| {
        state(cams, "cam1") != "streaming"
    });
    let err = last_error(&down, "cam1");
    assert!(
        err.contains("camera cam1: rtsp://127.0.0.1:") && !err.is_empty(),
        "{err}"
    );
    eprintln!(
        "cam1 left streaming {:.1} s after the kill: {err}",
        killed_at.elapsed().as_secs_f64()
    );
    std::thread::sleep(Duration::from_secs(8));
    let during = run.cameras();
    for cam in ["cam2", "cam3", "cam4"] {
        assert_eq!(state(&during, cam), "streaming", "{cam}: {during:#}");
        assert!(
            analysed(&during, cam) > analysed(&before, cam),
            "{cam} stopped analysing while cam1 was down: {} then {}",
            analysed(&before, cam),
            analysed(&during, cam)
        );
    }
    assert_ne!(state(&during, "cam1"), "streaming");

    // Server 1 comes back on its port: the camera is back within 5 s.
    let back = servers[0].restart();
    let restarted_at = Instant::now();
    run.wait_for("cam1 back", Duration::from_secs(5), |cams| {
        state(cams, "cam1") == "streaming"
    });
    eprintln!(
        "cam1 streaming again {:.1} s after its server returned",
        restarted_at.elapsed().as_secs_f64()
    );

    // Freeze server 2: its watchdog (3 s) cuts it, within the limit plus a second of slack for
    // frames already in flight and the poll of this test.
    servers[1].signal(libc::SIGSTOP);
    let frozen_at = Instant::now();
    let cut = run.wait_for("cam2's watchdog", Duration::from_secs(10), |cams| {
        state(cams, "cam2") != "streaming"
    });
    let detected = frozen_at.elapsed();
    let err = last_error(&cut, "cam2");
    eprintln!(
        "cam2 frozen; watchdog fired after {:.1} s: {err}",
        detected.as_secs_f64()
    );
    assert!(detected <= Duration::from_millis(4500), "{detected:?}");
    assert!(
        err.contains("no frame for") && err.contains("watchdog 3.0 s"),
        "{err}"
    );
    servers[1].signal(libc::SIGCONT);
    run.wait_for(
        "cam2 back after the freeze",
        Duration::from_secs(20),
        |cams| state(cams, "cam2") == "streaming",
    );

    // The sources that never worked are reported with their errors, and not hammered.
    let cams = run.cameras();
    let closed_err = last_error(&cams, "closed");
    assert!(
        closed_err.contains("camera closed: rtsp://127.0.0.1:")
            && closed_err.contains("Could not open resource"),
        "{closed_err}"
    );
    // Between two attempts a source that never worked is `failing`; during an attempt it is
    // `connecting` for as long as the attempt takes (longer on a loaded machine), so wait for the
    // state rather than catch it at one instant.
    run.wait_for(
        "the closed source reported failing",
        Duration::from_secs(20),
        |cams| state(cams, "closed") == "failing",
    );
    let silent_err = last_error(&cams, "silent");
    assert!(silent_err.contains("no frame within 4.0 s"), "{silent_err}");
    let garbage_err = last_error(&cams, "garbage");
    assert!(
        garbage_err.contains("camera garbage: rtsp://u:***@127.0.0.1:"),
        "{garbage_err}"
    );
    assert!(!garbage_err.contains("hunter2"));
    for cam in ["closed", "silent", "garbage"] {
        let c = camera(&cams, cam);
        assert!(c["next_retry_at"].is_string(), "{c:#}");
        assert_eq!(c["frames_in"], 0, "{c:#}");
        // Backoff doubles from 0.5 s: in the minute or so of this test, a dozen attempts at
        // most (a tight loop would make hundreds).
        assert!(c["reconnects"].as_u64().unwrap() <= 12, "{c:#}");
        assert_ne!(state(&cams, cam), "streaming");
    }
    eprintln!("closed: {closed_err}\nsilent: {silent_err}\ngarbage: {garbage_err}");

    let metrics = run.get("/metrics");
    for needle in [
        "passwatch_camera_state{camera=\"closed\",state=\"failing\"} 1",
        "passwatch_camera_frames_analysed_total{camera=\"cam3\"}",
        "passwatch_camera_reconnects_total{camera=\"cam1\"}",
        "passwatch_camera_frames_dropped_total{camera=\"cam4\",where=\"queue\"}",
        "passwatch_camera_last_frame_age_seconds{camera=\"cam2\"}",
        "passwatch_stage_latency_seconds_bucket{stage=\"inference\",le=\"+Inf\"}",
        "passwatch_registry_version 1",
    ] {
        assert!(
            metrics.contains(needle),
            "{needle} not in /metrics:\n{metrics}"
        );
    }
    assert_eq!(run.get("/healthz"), "ok\n");
    let status = run.stop();
    assert_eq!(status.code(), Some(0), "{}", run.stderr_tail());
    drop(back);
}

/// The same clip, replayed and served live: every plate both raise is decided the same way.
#[test]
fn a_live_stream_raises_the_replays_events() {
    let _turn = serial();
    let clip = clip_plates();
    let work = tempdir();
    let passes = work.path().join("passes.csv");
    std::fs::write(&passes, test_passes()).unwrap();
    let server = Server::start(&clip, 0);
    // 3 analysed frames/s: each plate of the clip is in view for 1.2 s, so at 2 frames/s a plate
    // gets two or three analysed frames and whether it makes a sighting (two reads) is a coin
    // toss for the replay as much as for the live run; at 3 the replay raises five events here.
    let site = write_site(work.path(), &[("cam1".into(), server.url.clone())], 3.0);

    // The replay, decided at about the same wall time as the live run.
    let now = chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Secs, true);
    let replay_out = work.path().join("replay");
    let replayed = passwatch(&[
        "replay",
        clip.to_str().unwrap(),
        "--site",
        site.to_str().unwrap(),
        "--camera",
        "cam1",
        "--passes",
        passes.to_str().unwrap(),
        "--out",
        replay_out.to_str().unwrap(),
        "--recorded-at",
        &now,
        "--threads",
        "2",
        "--quiet",
    ]);
    assert!(replayed.status.success(), "{}", text(&replayed).1);
    let replay_events = events_of(&replay_out.join("events.jsonl"));
    let by_plate_replay = decisions(&replay_events);
    eprintln!("replay: {by_plate_replay:?}");
    assert!(by_plate_replay.len() >= 3, "{by_plate_replay:?}");

    let registry = registry_with(work.path(), &[("passes.csv", &test_passes())]);
    let live_out = work.path().join("live");
    let run = Run::start(&site, &registry, &live_out, &[]);
    // The clip is 21.6 s and the server loops it: up to two passes, until every plate the
    // replay raised has been raised live (a loaded machine analyses fewer frames).
    run.wait_for("the stream", Duration::from_secs(90), |cams| {
        camera(cams, "cam1")["streaming_since"].is_string()
    });
    let until = Instant::now() + Duration::from_secs(46);
    while Instant::now() < until {
        let seen: Vec<String> = run.events().into_iter().map(|e| e.subject).collect();
        if by_plate_replay.keys().all(|p| seen.contains(p)) {
            break;
        }
        std::thread::sleep(Duration::from_millis(500));
    }
    let status = run.stop();
    assert_eq!(status.code(), Some(0), "{}", run.stderr_tail());
    let live_events = events_of(&live_out.join("events.jsonl"));
    let mut by_plate_live: std::collections::BTreeMap<String, std::collections::BTreeSet<String>> =
        Default::default();
    for (plate, reason) in live_events.iter().map(|e| {
        (
            e["subject"]["plate"]
                .as_str()
                .unwrap_or_default()
                .to_string(),
            e["decision"]["reason"]
                .as_str()
                .unwrap_or_default()
                .to_string(),
        )
    }) {
        by_plate_live.entry(plate).or_default().insert(reason);
    }
    eprintln!("live: {by_plate_live:?}");
    let common: Vec<&String> = by_plate_replay
        .keys()
        .filter(|p| by_plate_live.contains_key(*p))
        .collect();
    assert!(
        common.len() >= 2,
        "too few plates raised by both: replay {by_plate_replay:?}, live {by_plate_live:?}"
    );
    for plate in &common {
        let live: Vec<&String> = by_plate_live[*plate].iter().collect();
        assert_eq!(
            live,
            vec![&by_plate_replay[*plate]],
            "{plate}: replay and live decided differently"
        );
    }
    for e in &live_events {
        assert_eq!(e["source"], server.url.as_str());
        assert_eq!(e["decision"]["registry_version"], 1);
        assert_eq!(e["schema"], "passwatch.event.v1");
        let evidence = &e["evidence"]["frame"]["file"];
        assert!(live_out.join(evidence.as_str().unwrap()).is_file(), "{e:#}");
    }
}

/// An import while `run` runs changes the next sighting's decision, and the event says which
/// registry version decided it.
#[test]
fn a_registry_import_during_a_run_decides_the_next_sighting() {
    let _turn = serial();
    let clip = clip_one_plate();
    let work = tempdir();
    let source = format!("file://{}?loop=1", clip.display());
    // As fast as the machine allows: each loop shows the plate for 1.2 s only, and a sighting
    // needs two reads.
    let site = write_site(work.path(), &[("gate".into(), source)], 5.0);
    let registry = registry_with(work.path(), &[("passes.csv", &test_passes())]);
    let out = work.path().join("out");
    let run = Run::start(&site, &registry, &out, &[]);
    // M5XSX has no pass: unknown_plate, decided against version 1.
    let first = run.wait_for_event(Duration::from_secs(90), |e| {
        e.subject == "M5XSX" && e.reason == "unknown_plate"
    });
    assert_eq!(first.registry_version, 1);
    // A pass for M5XSX that expired: the next sighting is `expired`, under version 2.
    let expired = format!(
        "{HEADER}\nPW0000000000M5X1,vehicle,M5XSX,eu,2021-01-01T00:00:00Z,2021-12-31T23:59:59Z,centre,work,active,holder-m5x\n"
    );
    let v2 = work.path().join("m5xsx.csv");
    std::fs::write(&v2, expired).unwrap();
    let imported = Instant::now();
    let out_import = passwatch(&[
        "registry",
        "import-passes",
        v2.to_str().unwrap(),
        "--registry",
        registry.to_str().unwrap(),
        "--actor",
        "test",
    ]);
    assert!(out_import.status.success(), "{}", text(&out_import).1);
    let next = run.wait_for_event(Duration::from_secs(30), |e| {
        e.subject == "M5XSX" && e.registry_version == 2
    });
    eprintln!(
        "decided against version 2 {:.1} s after the import: {next:?}",
        imported.elapsed().as_secs_f64()
    );
    assert_eq!(next.reason, "expired");
    let status = run.stop();
    assert_eq!(status.code(), Some(0), "{}", run.stderr_tail());
    let events = events_of(&out.join("events.jsonl"));
    let e = events
        .iter()
        .find(|e| e["event_id"] == next.event_id.as_str())
        .unwrap();
    assert_eq!(e["decision"]["registry_version"], 2);
    assert_eq!(e["decision"]["reason"], "expired");
    assert_eq!(e["decision"]["matched_pass"]["code"], "PW0000000000M5X1");
    // Sightings before the import stay as they were decided.
    assert!(events
        .iter()
        .any(|e| e["decision"]["registry_version"] == 1
            && e["decision"]["reason"] == "unknown_plate"));
    let metrics_version = run.last_metrics().contains("passwatch_registry_version 2");
    assert!(metrics_version);
}

/// SIGTERM while every camera is busy: every event decided is in events.jsonl and in the
/// journal, once; the process exits 0 within its bound. A second signal exits at once.
#[test]
fn sigterm_keeps_every_decided_event_once_and_a_second_signal_exits_at_once() {
    let _turn = serial();
    let clip = clip_plates();
    let work = tempdir();
    // Two cameras on one worker, at half speed so that each plate is seen long enough to be
    // read twice while the worker is saturated.
    let servers: Vec<Server> = (0..2)
        .map(|_| Server::start_with(&clip, 0, &["--speed", "0.5"]))
        .collect();
    let cameras: Vec<(String, String)> = servers
        .iter()
        .enumerate()
        .map(|(i, s)| (format!("cam{}", i + 1), s.url.clone()))
        .collect();
    let site = write_site(work.path(), &cameras, 5.0);
    let registry = registry_with(work.path(), &[("passes.csv", &test_passes())]);
    let out = work.path().join("out");
    let run = Run::start(&site, &registry, &out, &["--shutdown-timeout", "20"]);
    run.wait_for_events(3, Duration::from_secs(120));
    let stopped = Instant::now();
    run.signal(libc::SIGTERM);
    let status = run.wait(Duration::from_secs(25));
    let took = stopped.elapsed();
    assert_eq!(status.code(), Some(0), "{}", run.stderr_tail());
    eprintln!("stopped in {:.1} s", took.as_secs_f64());
    let printed = run.events();
    let in_file = events_of(&out.join("events.jsonl"));
    let journal = passwatch_events::Journal::open(out.join("journal.db"))
        .unwrap()
        .events()
        .unwrap();
    let mut file_ids: Vec<&str> = in_file
        .iter()
        .map(|e| e["event_id"].as_str().unwrap())
        .collect();
    let n = file_ids.len();
    file_ids.sort();
    file_ids.dedup();
    assert_eq!(file_ids.len(), n, "an event twice in events.jsonl");
    assert_eq!(journal.len(), n, "journal and events.jsonl differ");
    assert_eq!(printed.len(), n, "events decided vs written: {printed:?}");
    for p in &printed {
        assert!(
            file_ids.binary_search(&p.event_id.as_str()).is_ok(),
            "{p:?}"
        );
        assert!(journal.iter().any(|e| e.event_id == p.event_id), "{p:?}");
    }
    assert!(run.stderr_tail().contains("stopping"));

    // A second signal does not wait for the orderly stop.
    let out2 = work.path().join("out2");
    let run = Run::start(&site, &registry, &out2, &[]);
    run.wait_for("streaming", Duration::from_secs(90), |cams| {
        state(cams, "cam1") == "streaming"
    });
    // Two kinds, so that the two cannot merge into one delivery.
    run.signal(libc::SIGINT);
    run.signal(libc::SIGTERM);
    let t = Instant::now();
    let status = run.wait(Duration::from_secs(10));
    assert_eq!(status.code(), Some(130), "{}", run.stderr_tail());
    assert!(t.elapsed() < Duration::from_secs(5));
}

fn decisions(events: &[Value]) -> std::collections::BTreeMap<String, String> {
    events
        .iter()
        .map(|e| {
            (
                e["subject"]["plate"]
                    .as_str()
                    .unwrap_or_default()
                    .to_string(),
                e["decision"]["reason"]
                    .as_str()
                    .unwrap_or_default()
                    .to_string(),
            )
        })
        .collect()
}

/// An event that cannot be written (its evidence folder cannot be made: `evidence` is a file)
/// is not lost: the camera raises the alarm, holds the event, analyses no further frame and
/// decides nothing new until the output works again; then the held event is written, with its
/// evidence, and the camera goes on.
#[test]
fn an_event_that_cannot_be_written_is_held_and_the_camera_halts_until_it_can() {
    let _turn = serial();
    let clip = clip_one_plate();
    let work = tempdir();
    let source = format!("file://{}?loop=1", clip.display());
    let site = write_site(work.path(), &[("gate".into(), source)], 5.0);
    let registry = registry_with(work.path(), &[("passes.csv", &test_passes())]);
    let out = work.path().join("out");
    std::fs::create_dir_all(&out).unwrap();
    // Root ignores permissions, so the failure is made by a file where a folder must go.
    let evidence = out.join("evidence");
    std::fs::write(&evidence, "not a folder").unwrap();
    let run = Run::start(&site, &registry, &out, &[]);

    // M5XSX has no pass: its first sighting is decided, and cannot be written.
    let cams = run.wait_for("an event held", Duration::from_secs(90), |c| {
        camera(c, "gate")["events_held"].as_u64() >= Some(1)
    });
    let held_at = camera(&cams, "gate").clone();
    assert!(run.events().is_empty(), "{:?}", run.events());
    assert!(run
        .get("/metrics")
        .lines()
        .any(|l| l.starts_with("passwatch_event_write_errors_total ") && !l.ends_with(" 0")));
    // Halted: frames keep coming, none is analysed, nothing new is decided.
    let halted = run.wait_for("frames halted", Duration::from_secs(30), |c| {
        camera(c, "gate")["frames_halted"].as_u64() >= Some(5)
    });
    let gate = camera(&halted, "gate");
    assert_eq!(
        gate["frames_analysed"], held_at["frames_analysed"],
        "{gate:#}"
    );
    assert_eq!(gate["sightings"], held_at["sightings"], "{gate:#}");
    assert!(!out.join("events.jsonl").exists() || events_of(&out.join("events.jsonl")).is_empty());

    // The output works again: the held event is written first, then the camera goes on.
    std::fs::remove_file(&evidence).unwrap();
    std::fs::create_dir(&evidence).unwrap();
    let first = run.wait_for_event(Duration::from_secs(30), |e| e.subject == "M5XSX");
    assert_eq!(first.reason, "unknown_plate");
    run.wait_for("analysing again", Duration::from_secs(30), |c| {
        let g = camera(c, "gate");
        g["events_held"] == 0 && g["frames_analysed"].as_u64() > held_at["frames_analysed"].as_u64()
    });
    let status = run.stop();
    assert_eq!(status.code(), Some(0), "{}", run.stderr_tail());
    let events = events_of(&out.join("events.jsonl"));
    let e = events
        .iter()
        .find(|e| e["event_id"] == first.event_id.as_str())
        .expect("the held event is in events.jsonl");
    for part in ["crop", "frame"] {
        let file = out.join(e["evidence"][part]["file"].as_str().unwrap());
        let bytes = std::fs::read(&file).unwrap();
        assert_eq!(
            e["evidence"][part]["sha256"].as_str().unwrap(),
            sha256_hex(&bytes),
            "{}",
            file.display()
        );
    }
    // Once, in the file and in the journal.
    let once = events
        .iter()
        .filter(|x| x["event_id"] == e["event_id"])
        .count();
    assert_eq!(once, 1);
}
