//! Fresh random ids: correlation ids per call and idempotency keys per create.

/// A random RFC 4122 version-4 UUID in its usual text form, from `wasi:random`.
pub fn uuid_v4() -> String {
    let bytes = random_bytes();
    format_uuid_v4(bytes)
}

fn random_bytes() -> [u8; 16] {
    let mut out = [0u8; 16];
    let got = wasi::random::random::get_random_bytes(16);
    out.copy_from_slice(&got[..16]);
    out
}

/// Sets the version and variant bits and formats as 8-4-4-4-12 lower-case hex digits.
pub fn format_uuid_v4(bytes: [u8; 16]) -> String {
    let id = uuid::Builder::from_random_bytes(bytes).into_uuid();
    // Encoded into a buffer: `to_string` would go through `fmt` on every call's hot path.
    let mut buffer = uuid::Uuid::encode_buffer();
    id.hyphenated().encode_lower(&mut buffer).to_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formatted_ids_are_version_4_uuids() {
        let id = format_uuid_v4([0xff; 16]);
        assert_eq!(id, "ffffffff-ffff-4fff-bfff-ffffffffffff");
        assert!(crate::validate::is_uuid(&id));
    }
}
