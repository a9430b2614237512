//! `${VAR}` substitution from the environment. `$${` writes a literal `${`.

/// Replaces every `${NAME}` in `value` by the variable's value, looked up with `lookup`.
/// Returns the name of the first variable that is not set.
pub(crate) fn substitute(
    value: &str,
    lookup: &dyn Fn(&str) -> Option<String>,
) -> Result<String, SubstitutionError> {
    let mut output = String::with_capacity(value.len());
    let mut rest = value;
    while let Some(position) = rest.find('$') {
        output.push_str(&rest[..position]);
        let after = &rest[position..];
        if let Some(escaped) = after.strip_prefix("$${") {
            output.push_str("${");
            rest = escaped;
            continue;
        }
        let Some(reference) = after.strip_prefix("${") else {
            output.push('$');
            rest = &after[1..];
            continue;
        };
        let Some(end) = reference.find('}') else {
            return Err(SubstitutionError::Unclosed);
        };
        let name = &reference[..end];
        if name.is_empty() || !name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_') {
            return Err(SubstitutionError::BadName(name.to_string()));
        }
        match lookup(name) {
            Some(found) => output.push_str(&found),
            None => return Err(SubstitutionError::Missing(name.to_string())),
        }
        rest = &reference[end + 1..];
    }
    output.push_str(rest);
    Ok(output)
}

#[derive(Debug, PartialEq, Eq)]
pub(crate) enum SubstitutionError {
    Missing(String),
    BadName(String),
    Unclosed,
}

#[cfg(test)]
mod tests {
    use super::*;

    fn lookup(name: &str) -> Option<String> {
        (name == "TOKEN").then(|| "abc".to_string())
    }

    #[test]
    fn replaces_and_escapes() {
        assert_eq!(substitute("x${TOKEN}y", &lookup).unwrap(), "xabcy");
        assert_eq!(substitute("$${TOKEN}", &lookup).unwrap(), "${TOKEN}");
        assert_eq!(substitute("cost $5", &lookup).unwrap(), "cost $5");
    }

    #[test]
    fn names_the_missing_variable() {
        assert_eq!(
            substitute("${NOPE}", &lookup),
            Err(SubstitutionError::Missing("NOPE".into()))
        );
        assert_eq!(
            substitute("${OPEN", &lookup),
            Err(SubstitutionError::Unclosed)
        );
    }
}
