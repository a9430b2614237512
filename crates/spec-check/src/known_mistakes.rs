//! The one list of places where Pipedrive's OpenAPI documents are wrong, as Pipedrive's own
//! behaviour, its docs and its migration guide (MIG) show. Both the client's request checks
//! and the simulator's answer checks apply exactly these, so a deviation is never allowed in
//! one harness and refused in the other.

/// One mistake of the documents, with why we believe Pipedrive and not the document.
pub enum KnownMistake {
    /// A request body's required properties are wrong: `required` replaces the document's list.
    RequiredBody {
        method: &'static str,
        route: &'static str,
        required: &'static [&'static str],
        reason: &'static str,
    },
    /// A property the schema declares non-nullable that Pipedrive answers as `null`.
    /// `at` is the JSON path with `*` for any array index or key.
    Nullable {
        at: &'static str,
        reason: &'static str,
    },
    /// An error status the operations do not document; the body is checked against `schema`.
    UndocumentedStatus {
        status: u16,
        schema: ErrorSchema,
        reason: &'static str,
    },
}

/// The body of an undocumented error status, as one of the schemas the documents do have.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ErrorSchema {
    /// `{success, error, error_info, data, additional_data}`: the 404 schema the v2 document
    /// gives its convert endpoints (`GetConvertResponse`), plus `code` (observed).
    GenericError,
    /// `{success, error, errorCode}`: the v1 document's `unathorizedResponse`.
    Unauthorized,
    /// Cloudflare's HTML page (RL: "an HTML error page"), or, as JSON, `{success, error,
    /// errorCode}` (the `Unauthorized` shape) when an OAuth scope is missing.
    HtmlOrUnauthorized,
    /// `{status, success, errors}`: the v1 `WebhooksBadRequestResponse`.
    WebhookError,
}

pub const KNOWN_MISTAKES: &[KnownMistake] = &[
    KnownMistake::RequiredBody {
        method: "POST",
        route: "/api/v2/organizations",
        required: &["name"],
        reason: "addOrganization requires `title`; an organization's required property is `name` (v1, specs/README.md, MIG, every example), so the simulator requires `name` and rejects `title` as an unknown key",
    },
    KnownMistake::RequiredBody {
        method: "POST",
        route: "/api/v2/persons",
        required: &["name"],
        reason: "the document requires nothing, but a person needs `name` (MIG; first_name + last_name are not in the request schema nor the SDK, so the simulator refuses them)",
    },
    KnownMistake::Nullable {
        at: "additional_data.next_cursor",
        reason: "the description says `next_cursor` is null at the end of the data; only some schemas mark it nullable",
    },
    KnownMistake::Nullable {
        at: "data.address",
        reason: "an organization without an address answers `address: null` (research §2.3 open question; the webhook examples show null)",
    },
    KnownMistake::Nullable {
        at: "data.*.address",
        reason: "as data.address, in lists",
    },
    KnownMistake::Nullable {
        at: "data.address.*",
        reason: "MIG: address subfields not provided default to null, so a PATCH of only `value` nulls the others",
    },
    KnownMistake::Nullable {
        at: "data.*.address.*",
        reason: "as data.address.*, in lists",
    },
    KnownMistake::Nullable {
        at: "data.org_id",
        reason: "a person without an organization has `org_id: null` (MIG: org_id is a plain id or null)",
    },
    KnownMistake::Nullable {
        at: "data.*.org_id",
        reason: "as data.org_id, in lists",
    },
    KnownMistake::Nullable {
        at: "data.picture_id",
        reason: "a person without a picture has `picture_id: null`",
    },
    KnownMistake::Nullable {
        at: "data.*.picture_id",
        reason: "as data.picture_id, in lists",
    },
    KnownMistake::Nullable {
        at: "data.items.*.item.address",
        reason: "an organization without an address is found with `address: null`",
    },
    KnownMistake::Nullable {
        at: "data.items.*.item.organization",
        reason: "a person without an organization is found with `organization: null` (the document's own example has a null inside it)",
    },
    KnownMistake::UndocumentedStatus {
        status: 400,
        schema: ErrorSchema::GenericError,
        reason: "v2 operations document only 200, yet Pipedrive answers validation failures with 400 ERR_SCHEMA_VALIDATION_FAILED (client-nodejs #651, client-php #227, MIG)",
    },
    KnownMistake::UndocumentedStatus {
        status: 404,
        schema: ErrorSchema::GenericError,
        reason: "v2 operations document only 200; an unknown id gets 404 with the generic error body (the document's own 404 schema for convert endpoints)",
    },
    KnownMistake::UndocumentedStatus {
        status: 401,
        schema: ErrorSchema::Unauthorized,
        reason: "every operation needs auth but only some document 401; the body is the document's `unathorizedResponse` (OAuth: the status codes page)",
    },
    KnownMistake::UndocumentedStatus {
        status: 429,
        schema: ErrorSchema::Unauthorized,
        reason: "neither document declares 429; the observed body is {success:false, error, errorCode:429} (research §1.5)",
    },
    KnownMistake::UndocumentedStatus {
        status: 403,
        schema: ErrorSchema::HtmlOrUnauthorized,
        reason: "after sustained 429s Cloudflare answers an HTML 403 page (RL); an OAuth token without the operation's scope gets {success:false, error:\"Scope and URL mismatch\", errorCode:403} (pipedrive/client-php#14)",
    },
    KnownMistake::UndocumentedStatus {
        status: 405,
        schema: ErrorSchema::GenericError,
        reason: "a method a path does not have",
    },
];

/// The required body properties Pipedrive really wants for `method` on `template`, when the
/// document is known to be wrong about them.
pub(crate) fn required_body(method: &str, template: &str) -> Option<&'static [&'static str]> {
    KNOWN_MISTAKES.iter().find_map(|mistake| match mistake {
        KnownMistake::RequiredBody {
            method: m,
            route,
            required,
            ..
        } if *m == method && *route == template => Some(*required),
        _ => None,
    })
}

/// Whether Pipedrive answers `null` at `at` (a dotted JSON path, `*` for indexes) although the
/// schema says otherwise.
pub(crate) fn null_allowed(at: &str) -> bool {
    KNOWN_MISTAKES.iter().any(|mistake| {
        matches!(mistake, KnownMistake::Nullable { at: pattern, .. } if path_matches(pattern, at))
    })
}

/// The schema for an error status no operation documents.
pub(crate) fn undocumented_status(status: u16) -> Option<ErrorSchema> {
    KNOWN_MISTAKES.iter().find_map(|mistake| match mistake {
        KnownMistake::UndocumentedStatus {
            status: listed,
            schema,
            ..
        } if *listed == status => Some(*schema),
        _ => None,
    })
}

fn path_matches(pattern: &str, at: &str) -> bool {
    let pattern: Vec<&str> = pattern.split('.').collect();
    let at: Vec<&str> = at.split('.').collect();
    pattern.len() == at.len()
        && pattern
            .iter()
            .zip(at.iter())
            .all(|(pattern, actual)| *pattern == "*" || pattern == actual)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_known_mistake_says_why() {
        for mistake in KNOWN_MISTAKES {
            let reason = match mistake {
                KnownMistake::RequiredBody { reason, .. }
                | KnownMistake::Nullable { reason, .. }
                | KnownMistake::UndocumentedStatus { reason, .. } => reason,
            };
            assert!(!reason.trim().is_empty());
        }
    }

    #[test]
    fn a_star_stands_for_one_segment() {
        assert!(null_allowed("data.3.address"));
        assert!(!null_allowed("data.address.street.extra"));
        assert_eq!(
            required_body("POST", "/api/v2/organizations"),
            Some(&["name"][..])
        );
        assert_eq!(undocumented_status(418), None);
    }
}
