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

/// Sets the version and variant bits and formats as 8-4-4-4-12 hex digits.
pub fn format_uuid_v4(mut b: [u8; 16]) -> String {
    b[6] = (b[6] & 0x0f) | 0x40;
    b[8] = (b[8] & 0x3f) | 0x80;
    let hex: String = b.iter().map(|x| format!("{x:02x}")).collect();
    format!(
        "{}-{}-{}-{}-{}",
        &hex[0..8],
        &hex[8..12],
        &hex[12..16],
        &hex[16..20],
        &hex[20..32]
    )
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
