//! The standard service's service document and `$metadata` (EDMX with sap: annotations).

use super::*;

pub(super) fn service_document(json: bool, base: &str) -> Rendered {
    if json {
        return (
            "application/json; charset=utf-8",
            serde_json::json!({"d": {"EntitySets": ["CustomerSet", "ContactPersonSet"]}})
                .to_string(),
        );
    }
    let xml = format!(
        "<?xml version=\"1.0\" encoding=\"utf-8\"?><app:service xml:base=\"{}\" xmlns:app=\"http://www.w3.org/2007/app\" \
xmlns:atom=\"http://www.w3.org/2005/Atom\"><app:workspace><atom:title type=\"text\">Data</atom:title>\
<app:collection href=\"CustomerSet\"><atom:title type=\"text\">CustomerSet</atom:title></app:collection>\
<app:collection href=\"ContactPersonSet\"><atom:title type=\"text\">ContactPersonSet</atom:title></app:collection>\
</app:workspace></app:service>",
        escape(base)
    );
    ("application/atomsvc+xml; charset=utf-8", xml)
}

fn property_xml(property: &Property, key: bool) -> String {
    let edm = match property.edm {
        EdmType::String => "Edm.String",
        EdmType::Boolean => "Edm.Boolean",
        EdmType::DateTime => "Edm.DateTime",
    };
    let mut attributes = format!(
        "Name=\"{}\" Type=\"{edm}\" Nullable=\"{}\"",
        property.name,
        if key { "false" } else { "true" }
    );
    if property.edm == EdmType::String && property.max_length > 0 {
        attributes.push_str(&format!(" MaxLength=\"{}\"", property.max_length));
    }
    if property.edm == EdmType::DateTime {
        attributes.push_str(" Precision=\"7\"");
    }
    if property.date_only {
        attributes.push_str(" sap:display-format=\"Date\"");
    }
    attributes.push_str(&format!(
        " sap:label=\"{}\" sap:creatable=\"false\" sap:updatable=\"false\"",
        escape(property.label)
    ));
    if property.name.ends_with("List") {
        attributes.push_str(" sap:filterable=\"false\" sap:sortable=\"false\"");
    }
    format!("<Property {attributes}/>")
}

pub(super) fn metadata() -> String {
    let entity_type = |set: EntitySet, extra: &str| {
        let properties: String = set
            .properties()
            .iter()
            .enumerate()
            .map(|(index, property)| property_xml(property, index == 0))
            .collect();
        format!(
            "<EntityType Name=\"{}\" sap:content-version=\"1\"><Key><PropertyRef Name=\"{}\"/></Key>{properties}{extra}</EntityType>",
            set.type_name(),
            set.key()
        )
    };
    format!(
        "<?xml version=\"1.0\" encoding=\"utf-8\"?>\
<edmx:Edmx Version=\"1.0\" xmlns:edmx=\"http://schemas.microsoft.com/ado/2007/06/edmx\" \
xmlns:m=\"http://schemas.microsoft.com/ado/2007/08/dataservices/metadata\" xmlns:sap=\"http://www.sap.com/Protocols/SAPData\">\
<edmx:DataServices m:DataServiceVersion=\"2.0\"><Schema Namespace=\"{NAMESPACE}\" xml:lang=\"en\" sap:schema-version=\"1\" \
xmlns=\"http://schemas.microsoft.com/ado/2008/09/edm\">{}{}\
<Association Name=\"CustomerToContacts\" sap:content-version=\"1\"><End Type=\"{NAMESPACE}.Customer\" Multiplicity=\"1\" Role=\"FromRole_CustomerToContacts\"/>\
<End Type=\"{NAMESPACE}.ContactPerson\" Multiplicity=\"*\" Role=\"ToRole_CustomerToContacts\"/><ReferentialConstraint>\
<Principal Role=\"FromRole_CustomerToContacts\"><PropertyRef Name=\"CustomerNumber\"/></Principal>\
<Dependent Role=\"ToRole_CustomerToContacts\"><PropertyRef Name=\"CustomerNumber\"/></Dependent></ReferentialConstraint></Association>\
<EntityContainer Name=\"{NAMESPACE}_Entities\" m:IsDefaultEntityContainer=\"true\" sap:supported-formats=\"atom json xlsx\">\
<EntitySet Name=\"CustomerSet\" EntityType=\"{NAMESPACE}.Customer\" sap:creatable=\"false\" sap:updatable=\"false\" sap:deletable=\"false\" sap:pageable=\"true\" sap:content-version=\"1\"/>\
<EntitySet Name=\"ContactPersonSet\" EntityType=\"{NAMESPACE}.ContactPerson\" sap:creatable=\"false\" sap:updatable=\"false\" sap:deletable=\"false\" sap:pageable=\"true\" sap:content-version=\"1\"/>\
<AssociationSet Name=\"CustomerToContactsSet\" Association=\"{NAMESPACE}.CustomerToContacts\" sap:creatable=\"false\" sap:updatable=\"false\" sap:deletable=\"false\" sap:content-version=\"1\">\
<End EntitySet=\"CustomerSet\" Role=\"FromRole_CustomerToContacts\"/><End EntitySet=\"ContactPersonSet\" Role=\"ToRole_CustomerToContacts\"/></AssociationSet>\
</EntityContainer></Schema></edmx:DataServices></edmx:Edmx>",
        entity_type(
            EntitySet::Customers,
            &format!("<NavigationProperty Name=\"ToContacts\" Relationship=\"{NAMESPACE}.CustomerToContacts\" FromRole=\"FromRole_CustomerToContacts\" ToRole=\"ToRole_CustomerToContacts\"/>")
        ),
        entity_type(EntitySet::Contacts, "")
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn metadata_is_well_formed_xml() {
        assert!(crate::soap::parse_document(&metadata()).is_ok());
    }
}
