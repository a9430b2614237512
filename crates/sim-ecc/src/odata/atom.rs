//! The Atom XML of the standard service (`$format` other than json): feeds and entries, as
//! Gateway writes them.

use super::*;

#[allow(clippy::too_many_arguments)]
pub(super) fn feed_body(
    xml: &mut String,
    context: &Context<'_>,
    path: &str,
    page: &[Entity<'_>],
    properties: &[&Property],
    expand: bool,
    base: &str,
    count: Option<usize>,
) {
    xml.push_str(&format!(
        "<id>{}</id><title type=\"text\">{}</title>",
        escape(&format!("{base}{path}")),
        escape(path)
    ));
    xml.push_str(&format!(
        "<updated>{}</updated><author><name/></author>",
        chrono::Utc::now().format("%Y-%m-%dT%H:%M:%SZ")
    ));
    xml.push_str(&format!(
        "<link href=\"{}\" rel=\"self\" title=\"{}\"/>",
        escape(path),
        escape(path)
    ));
    if let Some(count) = count {
        xml.push_str(&format!("<m:count>{count}</m:count>"));
    }
    for entity in page {
        entry_xml(xml, context, entity, properties, expand, base);
    }
}

pub(super) fn entry_xml(
    xml: &mut String,
    context: &Context<'_>,
    entity: &Entity<'_>,
    properties: &[&Property],
    expand: bool,
    base: &str,
) {
    let uri = entity_uri(base, entity);
    let relative = format!("{}('{}')", entity.set().name(), entity.key());
    xml.push_str(&format!(
        "<entry><id>{}</id><title type=\"text\">{}</title><updated>{}</updated><category term=\"{NAMESPACE}.{}\" \
scheme=\"http://schemas.microsoft.com/ado/2007/08/dataservices/scheme\"/><link href=\"{}\" rel=\"self\" title=\"{}\"/>",
        escape(&uri),
        escape(&relative),
        chrono::Utc::now().format("%Y-%m-%dT%H:%M:%SZ"),
        entity.set().type_name(),
        escape(&relative),
        entity.set().type_name()
    ));
    if let Entity::Customer(customer) = entity {
        xml.push_str(&format!(
            "<link href=\"{}/ToContacts\" rel=\"http://schemas.microsoft.com/ado/2007/08/dataservices/related/ToContacts\" \
type=\"application/atom+xml;type=feed\" title=\"ToContacts\">",
            escape(&relative)
        ));
        if expand {
            let mut contacts: Vec<&Contact> = customer.contacts.iter().collect();
            contacts.sort_by_key(|contact| contact.parnr);
            let entities: Vec<Entity<'_>> = contacts
                .into_iter()
                .map(|contact| Entity::Contact(customer, contact))
                .collect();
            let all: Vec<&Property> = CONTACT_PROPERTIES.iter().collect();
            xml.push_str("<m:inline><feed>");
            feed_body(
                xml,
                context,
                &format!("{relative}/ToContacts"),
                &entities,
                &all,
                false,
                base,
                None,
            );
            xml.push_str("</feed></m:inline>");
        }
        xml.push_str("</link>");
    }
    xml.push_str("<content type=\"application/xml\"><m:properties>");
    for property in properties {
        let value = entity.value(context, property.name);
        let (type_attribute, text) = match (property.edm, &value) {
            (EdmType::DateTime, Value::DateTime(ms)) => (
                " m:type=\"Edm.DateTime\"",
                chrono::DateTime::from_timestamp_millis(*ms)
                    .map(|t| t.format("%Y-%m-%dT%H:%M:%S").to_string())
                    .unwrap_or_default(),
            ),
            (EdmType::Boolean, _) => (" m:type=\"Edm.Boolean\"", value.as_text()),
            _ => ("", value.as_text()),
        };
        xml.push_str(&format!(
            "<d:{name}{type_attribute}>{}</d:{name}>",
            escape(&text),
            name = property.name
        ));
    }
    xml.push_str("</m:properties></content></entry>");
}
