//! [`RequestLatencies`]: the four latency histograms of streamed requests (DESIGN.md, "What is
//! measured": TTFT, TPOT, ITL and e2e), recorded together and merged together.

use std::ops::AddAssign;
use std::time::Duration;

use serde::{Deserialize, Serialize};

use super::LatencyHistogram;

/// One histogram per latency metric of streamed requests.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct RequestLatencies {
    /// Request sent to the first chunk with content.
    pub time_to_first_token: LatencyHistogram,
    /// (e2e - TTFT) / (output tokens - 1), one value per request.
    pub time_per_output_token: LatencyHistogram,
    /// Every gap between consecutive content chunks of every request.
    pub inter_token_latency: LatencyHistogram,
    /// Request sent to the last content chunk.
    pub end_to_end: LatencyHistogram,
}

impl RequestLatencies {
    /// Empty histograms.
    pub fn new() -> Self {
        RequestLatencies::default()
    }

    /// Records one successful request. A request without content has no TTFT, and one with a
    /// single token no TPOT: `None` records nothing, so no metric invents a value.
    pub fn record_request(
        &mut self,
        ttft: Option<Duration>,
        tpot: Option<Duration>,
        inter_token_gaps: impl IntoIterator<Item = Duration>,
        e2e: Duration,
    ) {
        if let Some(ttft) = ttft {
            self.time_to_first_token.record(ttft);
        }
        if let Some(tpot) = tpot {
            self.time_per_output_token.record(tpot);
        }
        for gap in inter_token_gaps {
            self.inter_token_latency.record(gap);
        }
        self.end_to_end.record(e2e);
    }

    /// Adds every value of `other`, metric by metric.
    pub fn merge(&mut self, other: &RequestLatencies) {
        self.time_to_first_token.merge(&other.time_to_first_token);
        self.time_per_output_token
            .merge(&other.time_per_output_token);
        self.inter_token_latency.merge(&other.inter_token_latency);
        self.end_to_end.merge(&other.end_to_end);
    }
}

impl AddAssign<&RequestLatencies> for RequestLatencies {
    fn add_assign(&mut self, other: &RequestLatencies) {
        self.merge(other);
    }
}

impl AddAssign for RequestLatencies {
    fn add_assign(&mut self, other: RequestLatencies) {
        self.merge(&other);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ms(n: u64) -> Duration {
        Duration::from_millis(n)
    }

    #[test]
    fn records_each_metric_in_its_own_histogram() {
        let mut l = RequestLatencies::new();
        l.record_request(Some(ms(100)), Some(ms(20)), [ms(19), ms(21)], ms(140));
        l.record_request(None, None, [], ms(5));
        assert_eq!(l.time_to_first_token.count(), 1);
        assert_eq!(l.time_per_output_token.count(), 1);
        assert_eq!(l.inter_token_latency.count(), 2);
        assert_eq!(l.end_to_end.count(), 2);
        assert_eq!(l.inter_token_latency.min(), Some(ms(19)));
        assert_eq!(l.end_to_end.max(), Some(ms(140)));
    }

    #[test]
    fn merge_is_metric_by_metric_and_round_trips() {
        let mut a = RequestLatencies::new();
        a.record_request(Some(ms(100)), Some(ms(20)), [ms(19), ms(21)], ms(140));
        let mut b = RequestLatencies::new();
        b.record_request(Some(ms(300)), None, [ms(50)], ms(400));
        let mut both = RequestLatencies::new();
        both.record_request(Some(ms(100)), Some(ms(20)), [ms(19), ms(21)], ms(140));
        both.record_request(Some(ms(300)), None, [ms(50)], ms(400));

        let json = serde_json::to_string(&a).unwrap();
        assert!(json.contains("\"TimeToFirstToken\":{"));
        let mut merged: RequestLatencies = serde_json::from_str(&json).unwrap();
        merged += &b;
        assert_eq!(merged, both);
    }
}
