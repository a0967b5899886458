//! `SourceSpec::parse` (`pipeline/src/live/source.rs`) on arbitrary UTF-8: a camera's `source`
//! from the site file. Checks: no panic in parsing or in what is derived from a parsed source
//! (`display`, `is_network`, `probe_address`); an RTSP source always has a probe address and its
//! display hides the userinfo's password (`user:***@` or `***@`). `check()` is left out: it
//! stats files and has GStreamer parse launch descriptions, which is not this parser.
#![no_main]

use libfuzzer_sys::fuzz_target;
use passwatch_pipeline::live::source::SourceSpec;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let Ok(spec) = SourceSpec::parse(text) else {
        return;
    };
    let shown = spec.display();
    let probe = spec.probe_address();
    match &spec {
        SourceSpec::Rtsp { url } => {
            assert!(spec.is_network());
            assert!(
                probe.is_some(),
                "RTSP source {url:?} without a probe address"
            );
            let userinfo = |u: &str| {
                let rest = &u[u.find("://")? + 3..];
                let authority = &rest[..rest.find(['/', '?', '#']).unwrap_or(rest.len())];
                authority.rfind('@').map(|at| authority[..at].to_owned())
            };
            if let Some(original) = userinfo(url) {
                let hidden = userinfo(&shown).expect("the redacted URL keeps its userinfo");
                if original.contains(':') {
                    let user = original.split(':').next().unwrap_or("");
                    assert_eq!(hidden, format!("{user}:***"), "{url:?} shown as {shown:?}");
                } else {
                    assert_eq!(hidden, "***", "{url:?} shown as {shown:?}");
                }
            }
        }
        SourceSpec::File { path, .. } => {
            assert!(!spec.is_network());
            assert!(probe.is_none());
            assert!(!path.as_os_str().is_empty(), "empty file path accepted");
        }
        SourceSpec::Launch { description } => {
            assert!(!spec.is_network());
            assert!(probe.is_none());
            assert_eq!(description.as_str(), text.trim());
            assert!(!description.is_empty());
        }
    }
});
