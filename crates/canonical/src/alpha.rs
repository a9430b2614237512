//! SAP's ALPHA conversion exit (CONVERSION_EXIT_ALPHA_INPUT / _OUTPUT) for KUNNR and PARNR.
//!
//! Keys are kept in SAP's internal form everywhere (zero-padded when purely numeric); the
//! display form, without the leading zeros, is only for people and for Pipedrive fields.

/// Internal form of a key of `width` characters: purely numeric input is right-justified and
/// zero-filled, anything else is kept left-justified (trailing blanks are not kept, since every
/// consumer trims CHAR fields).
///
/// Returns `None` when the input does not fit the field.
pub fn alpha_input(external: &str, width: usize) -> Option<String> {
    let trimmed = external.trim();
    if trimmed.chars().count() > width {
        return None;
    }
    if !trimmed.is_empty() && trimmed.chars().all(|c| c.is_ascii_digit()) {
        return Some(format!("{trimmed:0>width$}"));
    }
    Some(trimmed.to_string())
}

/// Display form: leading zeros of a purely numeric key removed ("0000004711" → "4711").
/// An all-zero key keeps one zero; alphanumeric keys are returned trimmed.
pub fn alpha_output(internal: &str) -> String {
    let trimmed = internal.trim();
    if trimmed.is_empty() || !trimmed.chars().all(|c| c.is_ascii_digit()) {
        return trimmed.to_string();
    }
    let without_zeros = trimmed.trim_start_matches('0');
    if without_zeros.is_empty() {
        "0".to_string()
    } else {
        without_zeros.to_string()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn numeric_keys_are_zero_padded_and_shown_without_zeros() {
        assert_eq!(alpha_input("4711", 10).as_deref(), Some("0000004711"));
        assert_eq!(alpha_output("0000004711"), "4711");
        assert_eq!(alpha_output("0000000000"), "0");
    }

    #[test]
    fn alphanumeric_keys_stay_left_justified() {
        assert_eq!(alpha_input("C00001", 10).as_deref(), Some("C00001"));
        assert_eq!(alpha_output("C00001    "), "C00001");
        assert_eq!(alpha_output("00A1"), "00A1");
    }

    #[test]
    fn overlong_input_is_refused() {
        assert_eq!(alpha_input("12345678901", 10), None);
    }

    proptest! {
        #[test]
        fn numeric_round_trip(n in 0u64..9_999_999_999) {
            let internal = alpha_input(&n.to_string(), 10).unwrap();
            prop_assert_eq!(internal.len(), 10);
            prop_assert_eq!(alpha_output(&internal), n.to_string());
        }
    }
}
