//! Latency samples and their percentiles.

use serde::Serialize;

/// Latency of one stage over many frames, in milliseconds.
#[derive(Clone, Copy, Debug, Default, PartialEq, Serialize)]
pub struct Latency {
    /// Samples taken.
    pub n: usize,
    /// Mean.
    pub mean_ms: f64,
    /// Median.
    pub p50_ms: f64,
    /// 99th percentile.
    pub p99_ms: f64,
    /// Largest sample.
    pub max_ms: f64,
}

/// The `p`-th percentile (0..=100) of sorted samples, by linear interpolation between the two
/// nearest ranks (numpy's default), so that a small sample still gives a value between its
/// neighbours rather than jumping to the maximum. `None` for no samples or a `p` outside 0..=100.
pub fn percentile(sorted: &[f64], p: f64) -> Option<f64> {
    if sorted.is_empty() || !(0.0..=100.0).contains(&p) {
        return None;
    }
    let rank = p / 100.0 * (sorted.len() - 1) as f64;
    let lo = rank.floor() as usize;
    let hi = rank.ceil() as usize;
    let w = rank - lo as f64;
    Some(sorted[lo] + (sorted[hi] - sorted[lo]) * w)
}

/// Samples of one stage, in milliseconds.
#[derive(Clone, Debug, Default)]
pub struct Samples(Vec<f64>);

impl Samples {
    /// No samples.
    pub fn new() -> Self {
        Samples(Vec::new())
    }

    /// Adds one sample (NaN and negative values, which no clock gives, are dropped).
    pub fn push_ms(&mut self, ms: f64) {
        if ms.is_finite() && ms >= 0.0 {
            self.0.push(ms);
        }
    }

    /// Adds one sample in seconds.
    pub fn push_s(&mut self, s: f64) {
        self.push_ms(s * 1e3);
    }

    /// Adds all samples of another set.
    pub fn extend(&mut self, other: &Samples) {
        self.0.extend_from_slice(&other.0);
    }

    /// Number of samples.
    pub fn len(&self) -> usize {
        self.0.len()
    }

    /// Whether there are none.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// Sum of the samples, in milliseconds.
    pub fn sum_ms(&self) -> f64 {
        self.0.iter().sum()
    }

    /// Mean, p50, p99 and maximum (all zero for no samples).
    pub fn latency(&self) -> Latency {
        if self.0.is_empty() {
            return Latency::default();
        }
        let mut s = self.0.clone();
        s.sort_by(f64::total_cmp);
        Latency {
            n: s.len(),
            mean_ms: s.iter().sum::<f64>() / s.len() as f64,
            p50_ms: percentile(&s, 50.0).unwrap_or(0.0),
            p99_ms: percentile(&s, 99.0).unwrap_or(0.0),
            max_ms: s[s.len() - 1],
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn percentiles_interpolate_between_ranks() {
        let s = [1.0, 2.0, 3.0, 4.0, 5.0];
        assert_eq!(percentile(&s, 0.0), Some(1.0));
        assert_eq!(percentile(&s, 50.0), Some(3.0));
        assert_eq!(percentile(&s, 100.0), Some(5.0));
        assert_eq!(percentile(&s, 25.0), Some(2.0));
        // 99th of 5 samples: rank 3.96, between 4 and 5.
        assert!((percentile(&s, 99.0).unwrap() - 4.96).abs() < 1e-9);
        let even = [10.0, 20.0];
        assert_eq!(percentile(&even, 50.0), Some(15.0));
    }

    #[test]
    fn percentile_edge_cases() {
        assert_eq!(percentile(&[], 50.0), None);
        assert_eq!(percentile(&[7.0], 99.0), Some(7.0));
        assert_eq!(percentile(&[1.0, 2.0], -1.0), None);
        assert_eq!(percentile(&[1.0, 2.0], 100.5), None);
        assert_eq!(percentile(&[1.0, 2.0], f64::NAN), None);
    }

    #[test]
    fn latency_of_samples() {
        let mut s = Samples::new();
        assert_eq!(s.latency(), Latency::default());
        for v in [5.0, 1.0, 3.0, f64::NAN, -1.0, 2.0, 4.0] {
            s.push_ms(v);
        }
        s.push_s(0.006);
        let l = s.latency();
        assert_eq!(l.n, 6);
        assert!((l.mean_ms - 3.5).abs() < 1e-9);
        assert!((l.p50_ms - 3.5).abs() < 1e-9);
        assert!((l.max_ms - 6.0).abs() < 1e-9);
        assert!(l.p99_ms > 5.9 && l.p99_ms <= 6.0);
    }
}
