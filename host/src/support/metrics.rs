//! Request metrics per endpoint and status class, kept in a Prometheus registry and
//! rendered as Prometheus text (for `/metrics`) or JSON (for `lunatask://metrics`).

use prometheus::core::Collector;
use prometheus::{Encoder, HistogramOpts, HistogramVec, IntCounter, IntCounterVec, Opts, Registry};
use serde_json::{Map, Value, json};

/// Latency buckets in seconds: sub-millisecond (a local API) to the longest timeouts.
const LATENCY_BUCKETS: &[f64] = &[
    0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0,
];

/// Guest memory buckets in bytes: 1 MiB (the component's own start) to 1 GiB (above the
/// largest `LUNATASK_MEMORY_LIMIT_MIB` worth setting).
const MEMORY_BUCKETS_MIB: &[f64] = &[1.0, 2.0, 4.0, 8.0, 16.0, 32.0, 64.0, 128.0, 256.0, 1024.0];

#[derive(Clone)]
pub struct Metrics {
    registry: Registry,
    requests: IntCounterVec,
    retries: IntCounterVec,
    latency: HistogramVec,
    denied: IntCounter,
    rate_limit_waits: IntCounter,
    users_seen: IntCounter,
    tool_calls: IntCounterVec,
    guest_memory: HistogramVec,
}

impl Metrics {
    pub fn new() -> Self {
        let registry =
            Registry::new_custom(Some("lunatask_mcp".into()), None).expect("a valid metric prefix");
        let labels = &["endpoint", "status_class"];
        let requests = IntCounterVec::new(
            Opts::new(
                "api_requests_total",
                "Requests sent to the LunaTask API, retries included",
            ),
            labels,
        )
        .expect("valid metric");
        let retries = IntCounterVec::new(
            Opts::new(
                "api_retries_total",
                "Requests that were retries of an earlier attempt",
            ),
            &["endpoint"],
        )
        .expect("valid metric");
        let latency = HistogramVec::new(
            HistogramOpts::new(
                "api_request_duration_seconds",
                "Time from sending a request to its response headers",
            )
            .buckets(LATENCY_BUCKETS.to_vec()),
            labels,
        )
        .expect("valid metric");
        let counter = |name: &str, help: &str| IntCounter::new(name, help).expect("valid metric");
        let denied = counter(
            "egress_denied_total",
            "Requests refused because they were not for the LunaTask API",
        );
        let rate_limit_waits = counter(
            "rate_limit_waits_total",
            "Requests that waited for the local rate limiter",
        );
        let users_seen = counter(
            "users_seen_total",
            "Distinct users (tokens) a multi-user server has made requests for; no identities",
        );
        let tool_calls = IntCounterVec::new(
            Opts::new("tool_calls_total", "Tool calls by tool and outcome"),
            &["tool", "outcome"],
        )
        .expect("valid metric");
        let guest_memory = HistogramVec::new(
            HistogramOpts::new(
                "guest_memory_peak_bytes",
                "The largest linear memory a call's sandbox instance reached, by tool \
                 (\"resource\" for resource reads)",
            )
            .buckets(
                MEMORY_BUCKETS_MIB
                    .iter()
                    .map(|m| m * 1024.0 * 1024.0)
                    .collect(),
            ),
            &["call"],
        )
        .expect("valid metric");
        for metric in [
            Box::new(requests.clone()) as Box<dyn prometheus::core::Collector>,
            Box::new(retries.clone()),
            Box::new(latency.clone()),
            Box::new(denied.clone()),
            Box::new(rate_limit_waits.clone()),
            Box::new(users_seen.clone()),
            Box::new(tool_calls.clone()),
            Box::new(guest_memory.clone()),
            Box::new(crate::support::logging::dropped_lines()),
        ] {
            registry.register(metric).expect("metric names are unique");
        }
        Self {
            registry,
            requests,
            retries,
            latency,
            denied,
            rate_limit_waits,
            users_seen,
            tool_calls,
            guest_memory,
        }
    }

    /// One answered or failed request. `status` is `None` for a transport failure.
    pub fn request(&self, endpoint: &str, status: Option<u16>, seconds: f64, retry: bool) {
        let class = match status {
            Some(s) => format!("{}xx", s / 100),
            None => "error".to_string(),
        };
        self.requests.with_label_values(&[endpoint, &class]).inc();
        self.latency
            .with_label_values(&[endpoint, &class])
            .observe(seconds);
        if retry {
            self.retries.with_label_values(&[endpoint]).inc();
        }
    }

    pub fn denied(&self) {
        self.denied.inc();
    }

    pub fn rate_limit_wait(&self) {
        self.rate_limit_waits.inc();
    }

    /// A user's bucket was made (a user seen, or seen again after theirs was forgotten).
    pub fn user_seen(&self) {
        self.users_seen.inc();
    }

    pub fn tool_call(&self, tool: &str, ok: bool) {
        let outcome = if ok { "ok" } else { "error" };
        self.tool_calls.with_label_values(&[tool, outcome]).inc();
    }

    /// How much memory one call's instance reached; `call` is a tool name (tools come from
    /// the component's own list, so the label's values are bounded) or "resource".
    pub fn guest_memory_peak(&self, call: &str, bytes: usize) {
        self.guest_memory
            .with_label_values(&[call])
            .observe(bytes as f64);
    }

    /// Prometheus text exposition format.
    pub fn prometheus_text(&self) -> String {
        let mut out = Vec::new();
        let encoder = prometheus::TextEncoder::new();
        // Encoding gathered families into a Vec cannot fail.
        let _ = encoder.encode(&self.registry.gather(), &mut out);
        String::from_utf8(out).unwrap_or_default()
    }

    /// A JSON document: per endpoint, requests by status class, retries, latency and
    /// success rate; plus totals.
    pub fn json(&self) -> Value {
        let mut endpoints: Map<String, Value> = Map::new();
        for family in self.registry.gather() {
            let name = family
                .name()
                .trim_start_matches("lunatask_mcp_")
                .to_string();
            for metric in family.get_metric() {
                let labels: Map<String, Value> = metric
                    .get_label()
                    .iter()
                    .map(|l| (l.name().to_string(), Value::from(l.value())))
                    .collect();
                let Some(endpoint) = labels.get("endpoint").and_then(Value::as_str) else {
                    continue;
                };
                let entry = endpoints.entry(endpoint.to_string()).or_insert_with(
                    || json!({ "requests": {}, "retries": 0, "latency_seconds": {} }),
                );
                let class = labels
                    .get("status_class")
                    .and_then(Value::as_str)
                    .unwrap_or("")
                    .to_string();
                match name.as_str() {
                    "api_requests_total" => {
                        entry["requests"][&class] = json!(metric.get_counter().get_value() as u64);
                    }
                    "api_retries_total" => {
                        entry["retries"] = json!(metric.get_counter().get_value() as u64);
                    }
                    "api_request_duration_seconds" => {
                        let h = metric.get_histogram();
                        let buckets: Vec<Value> = h
                            .get_bucket()
                            .iter()
                            .map(
                                |b| json!({ "le": b.upper_bound(), "count": b.cumulative_count() }),
                            )
                            .collect();
                        entry["latency_seconds"][&class] = json!({
                            "count": h.get_sample_count(),
                            "sum": h.get_sample_sum(),
                            "buckets": buckets,
                        });
                    }
                    _ => {}
                }
            }
        }
        for entry in endpoints.values_mut() {
            let requests = entry["requests"].as_object().cloned().unwrap_or_default();
            let total: u64 = requests.values().filter_map(Value::as_u64).sum();
            let ok = requests.get("2xx").and_then(Value::as_u64).unwrap_or(0);
            entry["success_rate"] = if total == 0 {
                Value::Null
            } else {
                json!(ok as f64 / total as f64)
            };
        }
        json!({
            "endpoints": endpoints,
            "guest_memory_peak_bytes": self.guest_memory_json(),
            "egress_denied": self.denied.get(),
            "rate_limit_waits": self.rate_limit_waits.get(),
            "users_seen": self.users_seen.get(),
        })
    }

    /// Per call kind: how many calls, and the mean and bucketed peak of their guest memory.
    fn guest_memory_json(&self) -> Value {
        let mut calls = Map::new();
        for metric in self
            .guest_memory
            .collect()
            .iter()
            .flat_map(|f| f.get_metric())
        {
            let Some(call) = metric.get_label().iter().find(|l| l.name() == "call") else {
                continue;
            };
            let h = metric.get_histogram();
            let count = h.get_sample_count();
            let buckets: Vec<Value> = h
                .get_bucket()
                .iter()
                .map(|b| json!({ "le": b.upper_bound(), "count": b.cumulative_count() }))
                .collect();
            calls.insert(
                call.value().to_string(),
                json!({
                    "count": count,
                    "mean": if count == 0 { 0.0 } else { h.get_sample_sum() / count as f64 },
                    "buckets": buckets,
                }),
            );
        }
        Value::Object(calls)
    }
}

impl Default for Metrics {
    fn default() -> Self {
        Self::new()
    }
}

/// The metric label for a request path: ids become `{id}` so labels stay few.
pub fn endpoint_label(method: &str, path: &str, base_path: &str) -> String {
    let path = path.split('?').next().unwrap_or("");
    let path = path.strip_prefix(base_path).unwrap_or(path);
    let segments: Vec<&str> = path
        .split('/')
        .filter(|s| !s.is_empty())
        .map(|s| {
            if s.bytes().any(|b| b.is_ascii_digit()) || s.contains('%') || s.len() > 24 {
                "{id}"
            } else {
                s
            }
        })
        .collect();
    format!("{method} /{}", segments.join("/"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_are_folded_out_of_endpoint_labels() {
        assert_eq!(
            endpoint_label(
                "GET",
                "/v1/tasks/0b5d5a9e-7c1b-4f0e-9d1a-2f4b6c8d0e12",
                "/v1"
            ),
            "GET /tasks/{id}"
        );
        assert_eq!(
            endpoint_label("GET", "/v1/tasks?source=a", "/v1"),
            "GET /tasks"
        );
        assert_eq!(
            endpoint_label(
                "POST",
                "/v1/habits/0b5d5a9e-7c1b-4f0e-9d1a-2f4b6c8d0e12/track",
                "/v1"
            ),
            "POST /habits/{id}/track"
        );
    }

    #[test]
    fn json_reports_counts_and_success_rate() {
        let m = Metrics::new();
        m.request("GET /ping", Some(200), 0.001, false);
        m.request("GET /ping", Some(503), 0.001, false);
        m.request("GET /ping", Some(200), 0.001, true);
        let j = m.json();
        let ping = &j["endpoints"]["GET /ping"];
        assert_eq!(ping["requests"]["2xx"], 2);
        assert_eq!(ping["requests"]["5xx"], 1);
        assert_eq!(ping["retries"], 1);
        assert!((ping["success_rate"].as_f64().unwrap() - 2.0 / 3.0).abs() < 1e-9);
        assert!(
            m.prometheus_text()
                .contains("lunatask_mcp_api_requests_total")
        );
    }
}
