//! OData V2 JSON as SAP Gateway writes it: `{"d":{"results":[...],"__count":"91","__next":"..."}}`,
//! `/Date(ms)/` values, and the error body `{"error":{"code","message":{"value"}}}`.

use chrono::{DateTime, TimeZone, Utc};
use serde_json::{Map, Value};

use crate::error::EccError;

/// One page of a collection.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct CollectionPage {
    pub results: Vec<Map<String, Value>>,
    /// `__count` (a string in V2 JSON) when `$inlinecount=allpages` was asked.
    pub count: Option<u64>,
    /// `__next`: the server's link to the next page, opaque.
    pub next: Option<String>,
}

/// Parses a collection response. Accepts the V2 shape `{"d":{"results":[...]}}` and the V1
/// shape `{"d":[...]}`.
pub fn parse_collection(source_name: &str, body: &str) -> Result<CollectionPage, EccError> {
    let malformed = |detail: String| EccError::Malformed {
        source_name: source_name.to_string(),
        detail,
    };
    let document: Value =
        serde_json::from_str(body).map_err(|error| malformed(format!("not JSON: {error}")))?;
    let data = document
        .get("d")
        .ok_or_else(|| malformed("no \"d\" object".into()))?;
    let (results, container) = match data {
        Value::Array(results) => (results.clone(), None),
        Value::Object(object) => match object.get("results") {
            Some(Value::Array(results)) => (results.clone(), Some(object)),
            _ => return Err(malformed("no \"results\" array".into())),
        },
        _ => return Err(malformed("\"d\" is neither an object nor an array".into())),
    };
    let results = results
        .into_iter()
        .map(|entry| match entry {
            Value::Object(entity) => Ok(entity),
            other => Err(malformed(format!("an entry is not an object: {other}"))),
        })
        .collect::<Result<Vec<_>, _>>()?;
    let count = container
        .and_then(|object| object.get("__count"))
        .and_then(|count| match count {
            Value::String(text) => text.parse().ok(),
            Value::Number(number) => number.as_u64(),
            _ => None,
        });
    let next = container
        .and_then(|object| object.get("__next"))
        .and_then(Value::as_str)
        .map(str::to_string);
    Ok(CollectionPage {
        results,
        count,
        next,
    })
}

/// Gateway's error body, as (code, message). `None` when the body is not one.
pub fn parse_error(body: &str) -> Option<(String, String)> {
    let document: Value = serde_json::from_str(body).ok()?;
    let error = document.get("error")?;
    let code = error
        .get("code")
        .and_then(Value::as_str)
        .unwrap_or("")
        .to_string();
    let message = match error.get("message") {
        Some(Value::Object(message)) => message
            .get("value")
            .and_then(Value::as_str)
            .unwrap_or("")
            .to_string(),
        Some(Value::String(message)) => message.clone(),
        _ => String::new(),
    };
    let details: Vec<String> = error
        .pointer("/innererror/errordetails")
        .and_then(Value::as_array)
        .map(|details| {
            details
                .iter()
                .filter_map(|detail| detail.get("message").and_then(Value::as_str))
                .filter(|text| *text != message)
                .map(str::to_string)
                .collect()
        })
        .unwrap_or_default();
    let message = if details.is_empty() {
        message
    } else {
        format!("{message} ({})", details.join("; "))
    };
    Some((code, message))
}

/// `/Date(836438400000)/` or `/Date(836438400000+0120)/` (milliseconds since the epoch, UTC;
/// an offset only tells the zone it was written in).
pub fn parse_date(text: &str) -> Option<DateTime<Utc>> {
    let inner = text.trim().strip_prefix("/Date(")?.strip_suffix(")/")?;
    let digits_end = inner
        .char_indices()
        .skip(1)
        .find(|(_, c)| *c == '+' || *c == '-')
        .map(|(index, _)| index)
        .unwrap_or(inner.len());
    let milliseconds: i64 = inner[..digits_end].parse().ok()?;
    Utc.timestamp_millis_opt(milliseconds).single()
}

/// An Edm.Time as V2 JSON writes it (`PT14H30M05S`, an XML duration within one day).
pub fn parse_time(text: &str) -> Option<chrono::NaiveTime> {
    let mut rest = text.trim().strip_prefix("PT")?;
    let (mut hours, mut minutes, mut seconds) = (0u32, 0u32, 0u32);
    while !rest.is_empty() {
        let digits = rest
            .find(|c: char| !c.is_ascii_digit() && c != '.')
            .filter(|end| *end > 0)?;
        let number: f64 = rest[..digits].parse().ok()?;
        match rest[digits..].chars().next()? {
            'H' => hours = number as u32,
            'M' => minutes = number as u32,
            'S' => seconds = number as u32,
            _ => return None,
        }
        rest = &rest[digits + 1..];
    }
    chrono::NaiveTime::from_hms_opt(hours, minutes, seconds)
}

/// The value at a property path: `City`, `Address/City` into a complex type, or
/// `ToSalesArea/PaymentTerms` through an expanded navigation. A navigation that was not expanded
/// (`__deferred`) or has no target (`null`) has no value.
pub fn lookup<'a>(entity: &'a Map<String, Value>, path: &str) -> Option<&'a Value> {
    let mut steps = path.split('/');
    let mut value = entity.get(steps.next()?)?;
    for step in steps {
        value = value.as_object()?.get(step)?;
    }
    Some(value)
}

/// A property as text: strings as they are, numbers and booleans written out, null as "".
pub fn text(entity: &Map<String, Value>, property: &str) -> String {
    match lookup(entity, property) {
        Some(Value::String(text)) => text.clone(),
        Some(Value::Number(number)) => number.to_string(),
        Some(Value::Bool(flag)) => flag.to_string(),
        _ => String::new(),
    }
}

/// A flag property: Edm.Boolean true, or SAP's "X".
pub fn flag(entity: &Map<String, Value>, property: &str) -> bool {
    match lookup(entity, property) {
        Some(Value::Bool(flag)) => *flag,
        Some(Value::String(text)) => {
            let text = text.trim();
            text.eq_ignore_ascii_case("x") || text.eq_ignore_ascii_case("true")
        }
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn collections_counts_and_next_links() {
        let body = r#"{"d":{"results":[{"__metadata":{"uri":"x"},"CustomerNumber":"0000100001"}],"__count":"91","__next":"https://h/sap/opu/odata/sap/S/CustomerSet?$skiptoken=2"}}"#;
        let page = parse_collection("CustomerSet", body).unwrap();
        assert_eq!(page.results.len(), 1);
        assert_eq!(page.count, Some(91));
        assert!(page.next.unwrap().ends_with("$skiptoken=2"));
        assert_eq!(text(&page.results[0], "CustomerNumber"), "0000100001");
        assert!(parse_collection("S", r#"{"d":{"x":1}}"#).is_err());
        assert!(parse_collection("S", "<feed/>").is_err());
    }

    #[test]
    fn paths_go_into_complex_types_and_expanded_navigations() {
        let entity: Map<String, Value> = serde_json::from_str(
            r#"{"Address":{"__metadata":{"type":"Z.Address"},"City":"Köln"},
                "ToSalesArea":{"PaymentTerms":"ZB30"},"ToShipTo":null,
                "ToContacts":{"__deferred":{"uri":"x"}},"Flag":"X"}"#,
        )
        .unwrap();
        assert_eq!(text(&entity, "Address/City"), "Köln");
        assert_eq!(text(&entity, "ToSalesArea/PaymentTerms"), "ZB30");
        assert_eq!(text(&entity, "ToShipTo/City"), "");
        assert_eq!(text(&entity, "ToContacts/Name"), "");
        assert_eq!(text(&entity, "Address/Street"), "");
        assert_eq!(text(&entity, "Address"), "");
        assert!(flag(&entity, "Flag"));
    }

    #[test]
    fn dates_and_errors() {
        assert_eq!(
            parse_date("/Date(836438400000)/").unwrap().to_rfc3339(),
            "1996-07-04T00:00:00+00:00"
        );
        assert_eq!(
            parse_date("/Date(836438400000+0120)/").unwrap().timestamp(),
            836438400
        );
        assert_eq!(parse_date("/Date(-1000)/").unwrap().timestamp(), -1);
        assert_eq!(parse_date("2024-01-01"), None);
        assert_eq!(
            parse_time("PT14H05M09S"),
            chrono::NaiveTime::from_hms_opt(14, 5, 9)
        );
        assert_eq!(parse_time("PT0S"), chrono::NaiveTime::from_hms_opt(0, 0, 0));
        assert_eq!(parse_time("PT25H"), None);
        assert_eq!(parse_time("14:05:09"), None);
        assert_eq!(parse_time("PTH"), None);
        let body = r#"{"error":{"code":"/IWBEP/CM_MGW_RT/022","message":{"lang":"en","value":"Invalid filter"},"innererror":{"errordetails":[{"message":"Property Foo not found"}]}}}"#;
        let (code, message) = parse_error(body).unwrap();
        assert_eq!(code, "/IWBEP/CM_MGW_RT/022");
        assert_eq!(message, "Invalid filter (Property Foo not found)");
        assert_eq!(parse_error("nope"), None);
    }
}
