//! Property tests of the guest's pure logic, run natively: the backoff schedule stays in
//! bounds, path segments never escape, and validation accepts exactly the documented sets.

use std::time::Duration;

use lunatask_mcp_guest::api::segment;
use lunatask_mcp_guest::retry::Policy;
use lunatask_mcp_guest::validate::{
    Date, Eisenhower, Motivation, Priority, RelationshipStrength, TaskStatus, parse_args,
};
use proptest::prelude::*;
use serde::Deserialize;

#[path = "../../tests/src/api_values.rs"]
mod api_values;
use api_values::{MOTIVATIONS, RELATIONSHIP_STRENGTHS, TASK_STATUSES};

/// Strings near a documented set: its members, their look-alikes (other case, `_` for `-`,
/// a letter more) and arbitrary lowercase words.
fn near(documented: &'static [&'static str]) -> impl Strategy<Value = String> {
    let member = proptest::sample::select(documented);
    prop_oneof![
        member.clone().prop_map(str::to_string),
        member.clone().prop_map(|s| s.replace('-', "_")),
        member.clone().prop_map(|s| s.to_uppercase()),
        member.prop_map(|s| format!("{s}s")),
        "[a-z-]{0,20}",
    ]
}

/// A value parses as `T` exactly when it is one of `documented`.
fn accepted_exactly<T: serde::de::DeserializeOwned>(
    value: &str,
    documented: &[&str],
) -> Result<(), TestCaseError> {
    let parsed: Result<T, _> = serde_json::from_value(serde_json::json!(value));
    prop_assert_eq!(parsed.is_ok(), documented.contains(&value), "{}", value);
    Ok(())
}

proptest! {
    #[test]
    fn backoff_stays_within_its_bounds(
        base_ms in 1u64..5_000,
        extra_ms in 0u64..60_000,
        retry in 1u32..200,
        random in 0.0f64..1.0,
    ) {
        let policy = Policy {
            max_retries: 3,
            base_delay: Duration::from_millis(base_ms),
            max_delay: Duration::from_millis(base_ms + extra_ms),
        };
        let ceiling = policy.backoff_ceiling(retry);
        let expected = (base_ms as u128)
            .saturating_mul(1u128 << (retry - 1).min(100))
            .min((base_ms + extra_ms) as u128);
        prop_assert_eq!(ceiling.as_millis(), expected);
        let delay = policy.backoff(retry, random);
        prop_assert!(delay >= ceiling / 2, "{delay:?} < half of {ceiling:?}");
        prop_assert!(delay <= ceiling, "{delay:?} > {ceiling:?}");
        prop_assert!(delay <= policy.max_delay);
        // Retry-After is honoured but capped too.
        let after = policy.delay(retry, Some(Duration::from_secs(3600)), random);
        prop_assert_eq!(after, policy.max_delay);
    }

    #[test]
    fn path_segments_round_trip_and_never_contain_separators(raw in any::<String>()) {
        let encoded = segment(&raw);
        prop_assert!(!encoded.contains('/') && !encoded.contains('.') && !encoded.contains('?'));
        prop_assert!(encoded.bytes().all(|b| b.is_ascii_alphanumeric() || b"-_~%".contains(&b)));
        let decoded = percent_encoding::percent_decode_str(&encoded).decode_utf8().unwrap();
        prop_assert_eq!(decoded, raw);
    }

    #[test]
    fn status_accepts_exactly_the_documented_values(value in near(&TASK_STATUSES)) {
        accepted_exactly::<TaskStatus>(&value, &TASK_STATUSES)?;
    }

    #[test]
    fn motivation_accepts_exactly_the_documented_values(value in near(&MOTIVATIONS)) {
        accepted_exactly::<Motivation>(&value, &MOTIVATIONS)?;
    }

    #[test]
    fn relationship_strength_accepts_exactly_the_documented_values(
        value in near(&RELATIONSHIP_STRENGTHS)
    ) {
        accepted_exactly::<RelationshipStrength>(&value, &RELATIONSHIP_STRENGTHS)?;
    }

    #[test]
    fn integer_ranges_accept_exactly_their_range(n in -1_000i64..1_000) {
        let priority: Result<Priority, _> = serde_json::from_value(serde_json::json!(n));
        prop_assert_eq!(priority.is_ok(), (-2..=2).contains(&n));
        let quadrant: Result<Eisenhower, _> = serde_json::from_value(serde_json::json!(n));
        prop_assert_eq!(quadrant.is_ok(), (0..=4).contains(&n));
    }

    #[test]
    fn dates_are_accepted_exactly_when_they_exist(y in 1900i32..2100, m in 0u32..14, d in 0u32..33) {
        let text = format!("{y:04}-{m:02}-{d:02}");
        let parsed: Result<Date, _> = serde_json::from_value(serde_json::json!(text));
        let exists = chrono::NaiveDate::from_ymd_opt(y, m, d).is_some();
        prop_assert_eq!(parsed.is_ok(), exists, "{}", text);
    }

    #[test]
    fn arbitrary_argument_text_never_panics(text in any::<String>()) {
        #[derive(Debug, Deserialize)]
        #[serde(deny_unknown_fields)]
        #[allow(dead_code, reason = "parsed for its errors only")]
        struct Args { status: Option<TaskStatus>, on: Option<Date> }
        let _ = parse_args::<Args>(&text);
    }
}
