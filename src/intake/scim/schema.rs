//! The schemas Leaver serves (RFC 7643 §4.1 User, §4.3 enterprise extension) as
//! data: the /Schemas endpoint is rendered from them, and the same definitions decide
//! how a request's attributes are named, typed, returned and compared.

use serde_json::{json, Value};

pub const USER_SCHEMA: &str = "urn:ietf:params:scim:schemas:core:2.0:User";
pub const ENTERPRISE_SCHEMA: &str = "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User";
pub const LIST_RESPONSE: &str = "urn:ietf:params:scim:api:messages:2.0:ListResponse";
pub const PATCH_OP: &str = "urn:ietf:params:scim:api:messages:2.0:PatchOp";
pub const SEARCH_REQUEST: &str = "urn:ietf:params:scim:api:messages:2.0:SearchRequest";
pub const ERROR: &str = "urn:ietf:params:scim:api:messages:2.0:Error";
pub const SPC_SCHEMA: &str = "urn:ietf:params:scim:schemas:core:2.0:ServiceProviderConfig";
pub const RESOURCE_TYPE_SCHEMA: &str = "urn:ietf:params:scim:schemas:core:2.0:ResourceType";
pub const SCHEMA_SCHEMA: &str = "urn:ietf:params:scim:schemas:core:2.0:Schema";

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    String,
    Boolean,
    Reference,
    Binary,
    DateTime,
    Complex,
}

impl Kind {
    fn name(self) -> &'static str {
        match self {
            Kind::String => "string",
            Kind::Boolean => "boolean",
            Kind::Reference => "reference",
            Kind::Binary => "binary",
            Kind::DateTime => "dateTime",
            Kind::Complex => "complex",
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mutability {
    ReadOnly,
    ReadWrite,
    WriteOnly,
}

impl Mutability {
    fn name(self) -> &'static str {
        match self {
            Mutability::ReadOnly => "readOnly",
            Mutability::ReadWrite => "readWrite",
            Mutability::WriteOnly => "writeOnly",
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Returned {
    Default,
    Never,
}

/// One attribute definition (RFC 7643 §7).
#[derive(Debug, PartialEq)]
pub struct Attr {
    pub name: &'static str,
    pub kind: Kind,
    pub multi: bool,
    pub required: bool,
    pub case_exact: bool,
    pub mutability: Mutability,
    pub returned: Returned,
    /// userName: unique on the server.
    pub unique: bool,
    pub canonical: &'static [&'static str],
    pub reference_types: &'static [&'static str],
    pub sub: &'static [Attr],
    pub description: &'static str,
}

impl Attr {
    /// A sub-attribute by name, without regard to case.
    pub fn sub_attr(&self, name: &str) -> Option<&'static Attr> {
        find(self.sub, name)
    }
}

const fn string(name: &'static str, description: &'static str) -> Attr {
    Attr {
        name,
        kind: Kind::String,
        multi: false,
        required: false,
        case_exact: false,
        mutability: Mutability::ReadWrite,
        returned: Returned::Default,
        unique: false,
        canonical: &[],
        reference_types: &[],
        sub: &[],
        description,
    }
}

const fn typed(mut attr: Attr, kind: Kind) -> Attr {
    attr.kind = kind;
    attr
}

const fn case_exact(mut attr: Attr) -> Attr {
    attr.case_exact = true;
    attr
}

const fn canonical(mut attr: Attr, values: &'static [&'static str]) -> Attr {
    attr.canonical = values;
    attr
}

const fn references(mut attr: Attr, types: &'static [&'static str]) -> Attr {
    attr.kind = Kind::Reference;
    attr.case_exact = true;
    attr.reference_types = types;
    attr
}

const fn read_only(mut attr: Attr) -> Attr {
    attr.mutability = Mutability::ReadOnly;
    attr
}

const fn complex(name: &'static str, description: &'static str, sub: &'static [Attr]) -> Attr {
    let mut attr = string(name, description);
    attr.kind = Kind::Complex;
    attr.sub = sub;
    attr
}

const fn multi(mut attr: Attr) -> Attr {
    attr.multi = true;
    attr
}

const fn boolean(name: &'static str, description: &'static str) -> Attr {
    typed(string(name, description), Kind::Boolean)
}

const PRIMARY: Attr = boolean(
    "primary",
    "A Boolean value indicating the 'primary' or preferred attribute value for this attribute.",
);
const DISPLAY: Attr = string(
    "display",
    "A human-readable name, primarily used for display purposes.",
);

const NAME_SUB: &[Attr] = &[
    string("formatted", "The full name, including all middle names, titles, and suffixes as appropriate, formatted for display."),
    string("familyName", "The family name of the User, or last name in most Western languages."),
    string("givenName", "The given name of the User, or first name in most Western languages."),
    string("middleName", "The middle name(s) of the User."),
    string("honorificPrefix", "The honorific prefix(es) of the User, or title in most Western languages."),
    string("honorificSuffix", "The honorific suffix(es) of the User, or suffix in most Western languages."),
];

const EMAIL_SUB: &[Attr] = &[
    string("value", "Email addresses for the user."),
    DISPLAY,
    canonical(
        string(
            "type",
            "A label indicating the attribute's function, e.g., 'work' or 'home'.",
        ),
        &["work", "home", "other"],
    ),
    PRIMARY,
];

const PHONE_SUB: &[Attr] = &[
    string("value", "Phone number of the User."),
    DISPLAY,
    canonical(
        string(
            "type",
            "A label indicating the attribute's function, e.g., 'work', 'home', 'mobile'.",
        ),
        &["work", "home", "mobile", "fax", "pager", "other"],
    ),
    PRIMARY,
];

const IM_SUB: &[Attr] = &[
    string("value", "Instant messaging address for the User."),
    DISPLAY,
    canonical(
        string(
            "type",
            "A label indicating the attribute's function, e.g., 'aim', 'gtalk', 'xmpp'.",
        ),
        &["aim", "gtalk", "icq", "xmpp", "msn", "skype", "qq", "yahoo"],
    ),
    PRIMARY,
];

const PHOTO_SUB: &[Attr] = &[
    references(
        string("value", "URL of a photo of the User."),
        &["external"],
    ),
    DISPLAY,
    canonical(
        string(
            "type",
            "A label indicating the attribute's function, i.e., 'photo' or 'thumbnail'.",
        ),
        &["photo", "thumbnail"],
    ),
    PRIMARY,
];

const ADDRESS_SUB: &[Attr] = &[
    string("formatted", "The full mailing address, formatted for display or use with a mailing label."),
    string("streetAddress", "The full street address component, which may include house number, street name, P.O. box, and multi-line extended street address information."),
    string("locality", "The city or locality component."),
    string("region", "The state or region component."),
    string("postalCode", "The zip code or postal code component."),
    string("country", "The country name component."),
    canonical(
        string("type", "A label indicating the attribute's function, e.g., 'work' or 'home'."),
        &["work", "home", "other"],
    ),
    PRIMARY,
];

const GROUP_SUB: &[Attr] = &[
    read_only(case_exact(string(
        "value",
        "The identifier of the User's group.",
    ))),
    read_only(references(
        string(
            "$ref",
            "The URI of the corresponding 'Group' resource to which the user belongs.",
        ),
        &["Group"],
    )),
    read_only(DISPLAY),
    read_only(canonical(
        string(
            "type",
            "A label indicating the attribute's function, e.g., 'direct' or 'indirect'.",
        ),
        &["direct", "indirect"],
    )),
];

const VALUE_DISPLAY_TYPE_PRIMARY: &[Attr] = &[
    string("value", "The value of the attribute."),
    DISPLAY,
    string("type", "A label indicating the attribute's function."),
    PRIMARY,
];

const CERT_SUB: &[Attr] = &[
    case_exact(typed(
        string("value", "The value of an X.509 certificate."),
        Kind::Binary,
    )),
    DISPLAY,
    string("type", "A label indicating the attribute's function."),
    PRIMARY,
];

/// RFC 7643 §8.7.1: the User schema.
pub const USER_ATTRS: &[Attr] = &[
    Attr {
        required: true,
        unique: true,
        ..string("userName", "Unique identifier for the User, typically used by the user to directly authenticate to the service provider. Each User MUST include a non-empty userName value. This identifier MUST be unique across the service provider's entire set of Users. REQUIRED.")
    },
    complex("name", "The components of the user's real name.", NAME_SUB),
    string("displayName", "The name of the User, suitable for display to end-users."),
    string("nickName", "The casual way to address the user in real life."),
    references(string("profileUrl", "A fully qualified URL pointing to a page representing the User's online profile."), &["external"]),
    string("title", "The user's title, such as \"Vice President.\""),
    string("userType", "Used to identify the relationship between the organization and the user."),
    string("preferredLanguage", "Indicates the User's preferred written or spoken language."),
    string("locale", "Used to indicate the User's default location for purposes of localizing items such as currency, date time format, or numerical representations."),
    string("timezone", "The User's time zone in the 'Olson' time zone database format, e.g., 'America/Los_Angeles'."),
    boolean("active", "A Boolean value indicating the User's administrative status."),
    Attr {
        case_exact: true,
        mutability: Mutability::WriteOnly,
        returned: Returned::Never,
        ..string("password", "The User's cleartext password. Write-only: Leaver neither returns nor keeps it.")
    },
    multi(complex("emails", "Email addresses for the user.", EMAIL_SUB)),
    multi(complex("phoneNumbers", "Phone numbers for the User.", PHONE_SUB)),
    multi(complex("ims", "Instant messaging addresses for the User.", IM_SUB)),
    multi(complex("photos", "URLs of photos of the User.", PHOTO_SUB)),
    multi(complex("addresses", "A physical mailing address for this User.", ADDRESS_SUB)),
    read_only(multi(complex("groups", "A list of groups to which the user belongs. Leaver serves no Group resources, so it stays empty.", GROUP_SUB))),
    multi(complex("entitlements", "A list of entitlements for the User that represent a thing the User has.", VALUE_DISPLAY_TYPE_PRIMARY)),
    multi(complex("roles", "A list of roles for the User that collectively represent who the User is, e.g., 'Student', 'Faculty'.", VALUE_DISPLAY_TYPE_PRIMARY)),
    multi(complex("x509Certificates", "A list of certificates issued to the User.", CERT_SUB)),
];

const MANAGER_SUB: &[Attr] = &[
    case_exact(string(
        "value",
        "The id of the SCIM resource representing the User's manager.",
    )),
    references(
        string(
            "$ref",
            "The URI of the SCIM resource representing the User's manager.",
        ),
        &["User"],
    ),
    read_only(string(
        "displayName",
        "The displayName of the User's manager.",
    )),
];

/// RFC 7643 §4.3: the enterprise User extension.
pub const ENTERPRISE_ATTRS: &[Attr] = &[
    string("employeeNumber", "Numeric or alphanumeric identifier assigned to a person, typically based on order of hire or association with an organization."),
    string("costCenter", "Identifies the name of a cost center."),
    string("organization", "Identifies the name of an organization."),
    string("division", "Identifies the name of a division."),
    string("department", "Identifies the name of a department."),
    complex("manager", "The User's manager.", MANAGER_SUB),
];

/// The common attributes every resource has (RFC 7643 §3.1), not listed in /Schemas.
pub const ID: Attr = read_only(case_exact(string(
    "id",
    "Unique identifier assigned by Leaver.",
)));
pub const EXTERNAL_ID: Attr = case_exact(string(
    "externalId",
    "The identity provider's identifier of the User.",
));
const META_SUB: &[Attr] = &[
    read_only(case_exact(string("resourceType", "The resource type."))),
    read_only(typed(
        string("created", "When the resource was added."),
        Kind::DateTime,
    )),
    read_only(typed(
        string("lastModified", "When the resource was last changed."),
        Kind::DateTime,
    )),
    read_only(references(
        string("location", "The URI of the resource."),
        &["uri"],
    )),
    read_only(case_exact(string(
        "version",
        "The version (weak ETag) of the resource.",
    ))),
];
pub const META: Attr = read_only(complex("meta", "Resource metadata.", META_SUB));

/// An attribute by name, without regard to case.
pub fn find(attrs: &'static [Attr], name: &str) -> Option<&'static Attr> {
    attrs.iter().find(|a| a.name.eq_ignore_ascii_case(name))
}

/// A top-level attribute of the User resource: core, common (`id`, `externalId`,
/// `meta`), without regard to case.
pub fn user_attr(name: &str) -> Option<&'static Attr> {
    [&ID, &EXTERNAL_ID, &META]
        .into_iter()
        .find(|a| a.name.eq_ignore_ascii_case(name))
        .or_else(|| find(USER_ATTRS, name))
}

fn attr_json(attr: &Attr) -> Value {
    let mut out = json!({
        "name": attr.name,
        "type": attr.kind.name(),
        "multiValued": attr.multi,
        "description": attr.description,
        "required": attr.required,
        "mutability": attr.mutability.name(),
        "returned": match attr.returned { Returned::Default => "default", Returned::Never => "never" },
    });
    if attr.kind != Kind::Complex && attr.kind != Kind::Boolean {
        out["caseExact"] = json!(attr.case_exact);
        out["uniqueness"] = json!(if attr.unique { "server" } else { "none" });
    }
    if !attr.canonical.is_empty() {
        out["canonicalValues"] = json!(attr.canonical);
    }
    if !attr.reference_types.is_empty() {
        out["referenceTypes"] = json!(attr.reference_types);
    }
    if !attr.sub.is_empty() {
        out["subAttributes"] = Value::Array(attr.sub.iter().map(attr_json).collect());
    }
    out
}

/// The /Schemas representation of one schema.
fn schema_json(id: &str, name: &str, description: &str, attrs: &[Attr], base: &str) -> Value {
    json!({
        "schemas": [SCHEMA_SCHEMA],
        "id": id,
        "name": name,
        "description": description,
        "attributes": attrs.iter().map(attr_json).collect::<Vec<_>>(),
        "meta": {"resourceType": "Schema", "location": format!("{base}/Schemas/{id}")},
    })
}

/// Every schema served, for /Schemas.
pub fn schemas(base: &str) -> Vec<Value> {
    vec![
        schema_json(USER_SCHEMA, "User", "User Account", USER_ATTRS, base),
        schema_json(
            ENTERPRISE_SCHEMA,
            "EnterpriseUser",
            "Enterprise User",
            ENTERPRISE_ATTRS,
            base,
        ),
    ]
}

/// The User resource type, for /ResourceTypes.
pub fn user_resource_type(base: &str) -> Value {
    json!({
        "schemas": [RESOURCE_TYPE_SCHEMA],
        "id": "User",
        "name": "User",
        "endpoint": "/Users",
        "description": "User Account",
        "schema": USER_SCHEMA,
        "schemaExtensions": [{"schema": ENTERPRISE_SCHEMA, "required": false}],
        "meta": {"resourceType": "ResourceType", "location": format!("{base}/ResourceTypes/User")},
    })
}

/// Largest page a list or search returns.
pub const MAX_RESULTS: i64 = 200;

/// What the server supports, stated honestly (RFC 7643 §5).
pub fn service_provider_config(base: &str, max_body_bytes: usize) -> Value {
    json!({
        "schemas": [SPC_SCHEMA],
        "documentationUri": "https://datatracker.ietf.org/doc/html/rfc7644",
        "patch": {"supported": true},
        "bulk": {"supported": false, "maxOperations": 0, "maxPayloadSize": max_body_bytes},
        "filter": {"supported": true, "maxResults": MAX_RESULTS},
        "changePassword": {"supported": false},
        "sort": {"supported": false},
        "etag": {"supported": true},
        "authenticationSchemes": [{
            "type": "oauthbearertoken",
            "name": "OAuth Bearer Token",
            "description": "Authentication with the bearer token configured as scim.token, sent as `Authorization: Bearer <token>`.",
            "specUri": "https://www.rfc-editor.org/info/rfc6750",
            "primary": true,
        }],
        "meta": {
            "resourceType": "ServiceProviderConfig",
            "location": format!("{base}/ServiceProviderConfig"),
        },
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lookups_ignore_case() {
        assert_eq!(user_attr("USERNAME").unwrap().name, "userName");
        assert_eq!(user_attr("externalid").unwrap().name, "externalId");
        assert_eq!(
            user_attr("emails").unwrap().sub_attr("VALUE").unwrap().name,
            "value"
        );
        assert!(user_attr("nope").is_none());
        assert_eq!(
            find(ENTERPRISE_ATTRS, "Department").unwrap().name,
            "department"
        );
    }

    #[test]
    fn schemas_are_rfc_shaped() {
        let all = schemas("http://h/scim/v2");
        let user = &all[0];
        assert_eq!(user["id"], USER_SCHEMA);
        let user_name = &user["attributes"][0];
        assert_eq!(user_name["name"], "userName");
        assert_eq!(user_name["uniqueness"], "server");
        assert_eq!(user_name["caseExact"], false);
        assert_eq!(user_name["required"], true);
        let password = user["attributes"]
            .as_array()
            .unwrap()
            .iter()
            .find(|a| a["name"] == "password")
            .unwrap();
        assert_eq!(password["returned"], "never");
        assert_eq!(password["mutability"], "writeOnly");
        let manager = &all[1]["attributes"][5];
        assert_eq!(
            manager["subAttributes"][1]["referenceTypes"],
            json!(["User"])
        );
    }
}
