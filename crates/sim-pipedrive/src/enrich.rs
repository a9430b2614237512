//! Address enrichment: Pipedrive geocodes the addresses it is given. The webhooks v2 migration
//! guide's examples show parts nobody typed (a value "Tallinn, Estonia" coming back with
//! `admin_area_level_1: "Harju County"`, another gaining `sublocality`), and Google's geocoder,
//! which Pipedrive's address field uses, answers long names ("Hauptstraße" for "Hauptstr.").
//! Whether API writes are geocoded like UI edits is not documented; the simulator assumes they
//! are (`--address-enrichment`, on by default), the harder case for a connector that compares
//! what Pipedrive shows with what it would send. `value` always stays as sent.

use crate::model::Address;

/// The address as Pipedrive keeps it after geocoding `address`: missing regions filled,
/// the street's abbreviation spelled out, the postal code in capitals with single blanks.
pub fn geocoded(mut address: Address) -> Address {
    if let Some(route) = address.route.as_mut() {
        *route = spelled_out(route);
    }
    if let Some(postal_code) = address.postal_code.as_mut() {
        *postal_code = postal_code
            .split_whitespace()
            .collect::<Vec<_>>()
            .join(" ")
            .to_uppercase();
    }
    let city = address
        .locality
        .clone()
        .filter(|city| !city.trim().is_empty());
    if let Some(city) = city {
        if address.admin_area_level_1.is_none() {
            address.admin_area_level_1 = Some(region_of(
                address.country.as_deref().unwrap_or(""),
                address.postal_code.as_deref().unwrap_or(""),
                &city,
            ));
        }
        if address.admin_area_level_2.is_none() {
            address.admin_area_level_2 = Some(city.trim().to_string());
        }
    }
    address
}

/// "Hauptstr." → "Hauptstraße", "Berliner Str." → "Berliner Straße", "Main St." → "Main Street".
fn spelled_out(route: &str) -> String {
    let trimmed = route.trim();
    for (short, long) in [
        ("str.", "straße"),
        ("Str.", "Straße"),
        (" St.", " Street"),
        (" Rd.", " Road"),
        (" Ave.", " Avenue"),
    ] {
        if let Some(stem) = trimmed.strip_suffix(short) {
            return format!("{stem}{long}");
        }
    }
    trimmed.to_string()
}

/// The first-level region a geocoder would name. German states by the postal code's first
/// digit (the zones roughly follow them); elsewhere the county of the city, as in the
/// migration guide's "Harju County" for Tallinn.
fn region_of(country: &str, postal_code: &str, city: &str) -> String {
    if country.eq_ignore_ascii_case("Germany") {
        let state = match postal_code.chars().next() {
            Some('0') => "Sachsen",
            Some('1') => "Berlin",
            Some('2') => "Hamburg",
            Some('3') => "Niedersachsen",
            Some('4') => "Nordrhein-Westfalen",
            Some('5') => "Rheinland-Pfalz",
            Some('6') => "Hessen",
            Some('7') => "Baden-Württemberg",
            Some('8') => "Bayern",
            Some('9') => "Thüringen",
            _ => "Deutschland",
        };
        return state.to_string();
    }
    format!("{} County", city.trim())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn regions_are_filled_the_street_spelled_out_and_the_line_kept() {
        let address = geocoded(Address {
            value: Some("Hauptstr. 12, 70173 Stuttgart, Germany".into()),
            route: Some("Hauptstr.".into()),
            street_number: Some("12".into()),
            postal_code: Some("70173".into()),
            locality: Some("Stuttgart".into()),
            country: Some("Germany".into()),
            ..Default::default()
        });
        assert_eq!(
            address.value.as_deref(),
            Some("Hauptstr. 12, 70173 Stuttgart, Germany")
        );
        assert_eq!(address.route.as_deref(), Some("Hauptstraße"));
        assert_eq!(
            address.admin_area_level_1.as_deref(),
            Some("Baden-Württemberg")
        );
        assert_eq!(address.admin_area_level_2.as_deref(), Some("Stuttgart"));
        let uk = geocoded(Address {
            value: Some("1 Main St., sw1a  1aa London".into()),
            route: Some("Main St.".into()),
            postal_code: Some("sw1a  1aa".into()),
            locality: Some("London".into()),
            admin_area_level_1: Some("England".into()),
            ..Default::default()
        });
        assert_eq!(uk.route.as_deref(), Some("Main Street"));
        assert_eq!(uk.postal_code.as_deref(), Some("SW1A 1AA"));
        assert_eq!(uk.admin_area_level_1.as_deref(), Some("England"), "kept");
    }

    #[test]
    fn an_address_of_only_a_line_gets_nothing_invented() {
        let line = Address {
            value: Some("somewhere".into()),
            ..Default::default()
        };
        assert_eq!(geocoded(line.clone()), line);
    }
}
