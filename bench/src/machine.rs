//! The machine a benchmark ran on: what a figure needs next to it to mean anything.

use serde::Serialize;
use std::path::Path;
use std::process::Command;

/// The machine and software a run measured.
#[derive(Clone, Debug, Default, PartialEq, Serialize)]
pub struct Machine {
    /// Host name.
    pub host: String,
    /// CPU model (`/proc/cpuinfo`).
    pub cpu: String,
    /// Cores this process may use.
    pub cores: usize,
    /// Physical memory, GiB.
    pub memory_gib: f64,
    /// GPUs `nvidia-smi` lists (name, memory, driver); empty without one.
    pub gpus: Vec<String>,
    /// Load average (1, 5, 15 min) when the run started: other work on the machine skews every
    /// figure, so it is recorded with them.
    pub load_before: [f64; 3],
    /// Load average when the run ended.
    pub load_after: [f64; 3],
    /// The execution provider asked for.
    pub provider: String,
    /// The provider the sessions really run on (after any fallback).
    pub provider_used: String,
    /// Whether falling back to the CPU was forbidden.
    pub require_provider: bool,
    /// The H.264 decoder GStreamer's decodebin picks (the highest-ranked one), and whether it
    /// is a hardware decoder.
    pub h264_decoder: String,
    /// passwatch's version.
    pub passwatch: String,
    /// The ONNX Runtime library loaded, and its version (from its file name).
    pub onnxruntime: String,
    /// GStreamer's version.
    pub gstreamer: String,
    /// Operating system (`/etc/os-release` PRETTY_NAME) and kernel.
    pub os: String,
}

impl Machine {
    /// Reads everything but the providers and the end-of-run load.
    pub fn probe() -> Machine {
        let cpuinfo = std::fs::read_to_string("/proc/cpuinfo").unwrap_or_default();
        let meminfo = std::fs::read_to_string("/proc/meminfo").unwrap_or_default();
        let os_release = std::fs::read_to_string("/etc/os-release").unwrap_or_default();
        let kernel = std::fs::read_to_string("/proc/sys/kernel/osrelease").unwrap_or_default();
        let os = os_release
            .lines()
            .find_map(|l| l.strip_prefix("PRETTY_NAME="))
            .map(|v| v.trim_matches('"').to_string())
            .unwrap_or_else(|| std::env::consts::OS.to_string());
        Machine {
            host: std::fs::read_to_string("/proc/sys/kernel/hostname")
                .map(|h| h.trim().to_string())
                .unwrap_or_default(),
            cpu: cpu_model(&cpuinfo),
            cores: std::thread::available_parallelism().map_or(1, |n| n.get()),
            memory_gib: mem_total_gib(&meminfo),
            gpus: nvidia_gpus(),
            load_before: load_average(),
            load_after: [0.0; 3],
            provider: String::new(),
            provider_used: String::new(),
            require_provider: false,
            h264_decoder: h264_decoder(),
            passwatch: env!("CARGO_PKG_VERSION").to_string(),
            onnxruntime: onnxruntime_library(),
            gstreamer: gstreamer_version(),
            os: format!("{os}, Linux {}", kernel.trim()),
        }
    }

    /// A short name for folders of results: date, CPU family and core count (and the GPU).
    pub fn slug(&self) -> String {
        let cpu: String = self
            .cpu
            .to_ascii_lowercase()
            .split(|c: char| !c.is_ascii_alphanumeric())
            .filter(|w| !w.is_empty() && !matches!(*w, "r" | "tm" | "cpu" | "processor"))
            .take(3)
            .collect::<Vec<_>>()
            .join("-");
        let mut s = format!(
            "{}-{}c",
            if cpu.is_empty() { "cpu" } else { &cpu },
            self.cores
        );
        if let Some(g) = self.gpus.first() {
            let g: String = g
                .split(',')
                .next()
                .unwrap_or("")
                .to_ascii_lowercase()
                .split(|c: char| !c.is_ascii_alphanumeric())
                .filter(|w| !w.is_empty() && *w != "nvidia")
                .collect::<Vec<_>>()
                .join("-");
            s.push('-');
            s.push_str(&g);
        }
        s
    }
}

/// `model name` of the first processor.
fn cpu_model(cpuinfo: &str) -> String {
    cpuinfo
        .lines()
        .find_map(|l| {
            let (k, v) = l.split_once(':')?;
            (k.trim() == "model name").then(|| v.trim().to_string())
        })
        .unwrap_or_else(|| std::env::consts::ARCH.to_string())
}

/// `MemTotal` in GiB.
fn mem_total_gib(meminfo: &str) -> f64 {
    meminfo
        .lines()
        .find_map(|l| {
            let rest = l.strip_prefix("MemTotal:")?;
            let kib: f64 = rest.trim().trim_end_matches("kB").trim().parse().ok()?;
            Some((kib / 1024.0 / 1024.0 * 10.0).round() / 10.0)
        })
        .unwrap_or(0.0)
}

/// CPU seconds this process has used so far, all threads (`/proc/self/stat` utime + stime, in
/// the kernel's fixed 100 Hz user ticks); 0 where it cannot be read. Unlike wall time, it barely
/// moves when other processes load the machine, so it separates what passwatch costs from what
/// a shared machine adds.
pub fn process_cpu_seconds() -> f64 {
    let Ok(stat) = std::fs::read_to_string("/proc/self/stat") else {
        return 0.0;
    };
    cpu_seconds_of_stat(&stat)
}

fn cpu_seconds_of_stat(stat: &str) -> f64 {
    // Fields after the command name (which may hold spaces and brackets): state is the first,
    // utime the 12th, stime the 13th.
    let Some((_, rest)) = stat.rsplit_once(')') else {
        return 0.0;
    };
    let fields: Vec<&str> = rest.split_whitespace().collect();
    let ticks = |i: usize| {
        fields
            .get(i)
            .and_then(|v| v.parse::<f64>().ok())
            .unwrap_or(0.0)
    };
    (ticks(11) + ticks(12)) / 100.0
}

/// The 1, 5 and 15 minute load averages.
pub fn load_average() -> [f64; 3] {
    let text = std::fs::read_to_string("/proc/loadavg").unwrap_or_default();
    let mut out = [0.0; 3];
    for (o, v) in out.iter_mut().zip(text.split_whitespace()) {
        *o = v.parse().unwrap_or(0.0);
    }
    out
}

/// One line per GPU from `nvidia-smi`, empty when it is missing or lists none.
fn nvidia_gpus() -> Vec<String> {
    let out = Command::new("nvidia-smi")
        .args([
            "--query-gpu=name,memory.total,driver_version",
            "--format=csv,noheader",
        ])
        .output();
    match out {
        Ok(o) if o.status.success() => String::from_utf8_lossy(&o.stdout)
            .lines()
            .map(str::trim)
            .filter(|l| !l.is_empty())
            .map(str::to_string)
            .collect(),
        _ => Vec::new(),
    }
}

/// The ONNX Runtime library that is (or will be) loaded, with the version its file name says.
fn onnxruntime_library() -> String {
    match passwatch_models::ModelCache::from_env().runtime_library() {
        Ok(p) => {
            let name = p.file_name().map(|n| n.to_string_lossy().to_string());
            let version = name
                .as_deref()
                .and_then(|n| n.split_once(".so."))
                .map(|(_, v)| v.to_string())
                .unwrap_or_else(|| "unknown version".into());
            format!("{version} ({})", p.display())
        }
        Err(e) => format!("not found: {e}"),
    }
}

fn gstreamer_version() -> String {
    match passwatch_pipeline::ingest::init() {
        Ok(()) => gstreamer::version_string().to_string(),
        Err(e) => format!("unavailable: {e}"),
    }
}

/// The decoder decodebin would choose for H.264: the highest-ranked decoder factory that
/// accepts `video/x-h264`. Hardware decoders (NVDEC, VA-API, V4L2) are marked as such.
pub fn h264_decoder() -> String {
    use gstreamer as gst;
    use gstreamer::prelude::*;
    if passwatch_pipeline::ingest::init().is_err() {
        return "unknown (GStreamer unavailable)".into();
    }
    let caps = gst::Caps::builder("video/x-h264").build();
    let mut factories = gst::ElementFactory::factories_with_type(
        gst::ElementFactoryType::DECODER | gst::ElementFactoryType::MEDIA_VIDEO,
        gst::Rank::MARGINAL,
    )
    .into_iter()
    .filter(|f| f.can_sink_any_caps(&caps))
    .collect::<Vec<_>>();
    factories.sort_by_key(|f| std::cmp::Reverse(f.rank()));
    match factories.first() {
        Some(f) => {
            let name = f.name().to_string();
            let hw = f
                .metadata(gst::ELEMENT_METADATA_KLASS)
                .is_some_and(|k| k.contains("Hardware"));
            format!("{name} ({})", if hw { "hardware" } else { "software" })
        }
        None => "none found".into(),
    }
}

/// Whether a path looks like a file GStreamer can be pointed at (for error messages).
pub fn describe_input(path: &Path) -> String {
    match std::fs::metadata(path) {
        Ok(m) => format!("{} ({:.1} MB)", path.display(), m.len() as f64 / 1e6),
        Err(e) => format!("{} ({e})", path.display()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_cpu_and_memory() {
        let cpu = "processor\t: 0\nvendor_id\t: AuthenticAMD\nmodel name\t: AMD EPYC 9R14\n";
        assert_eq!(cpu_model(cpu), "AMD EPYC 9R14");
        assert_eq!(
            mem_total_gib("MemTotal:       24597348 kB\nMemFree: 1 kB\n"),
            23.5
        );
        assert_eq!(mem_total_gib("garbage"), 0.0);
    }

    #[test]
    fn cpu_time_from_proc_stat() {
        let stat = "1234 (my (odd) name) S 1 1234 1234 0 -1 4194560 100 0 0 0 250 50 0 0 20 0 9";
        assert!((cpu_seconds_of_stat(stat) - 3.0).abs() < 1e-9);
        assert_eq!(cpu_seconds_of_stat("garbage"), 0.0);
        assert!(process_cpu_seconds() >= 0.0);
    }

    #[test]
    fn slug_is_a_plain_folder_name() {
        let m = Machine {
            cpu: "AMD EPYC 9R14 96-Core Processor".into(),
            cores: 2,
            ..Machine::default()
        };
        assert_eq!(m.slug(), "amd-epyc-9r14-2c");
        let g = Machine {
            cpu: "Intel(R) Xeon(R) Platinum 8480+".into(),
            cores: 16,
            gpus: vec!["NVIDIA H200, 143771 MiB, 570.00".into()],
            ..Machine::default()
        };
        assert_eq!(g.slug(), "intel-xeon-platinum-16c-h200");
    }
}
