//! Addresses in Odoo's web client, for a person to open a record there.

/// Where CRM lead `id` opens in the web client of the Odoo at `base` running `version` (as its
/// version check answers it: `17.0`, `saas~17.2`, `18.0+e`). Odoo 17.2 moved the web client to
/// `/odoo/<app>/<id>`; before (and while the version is not known yet) the `/web#` address,
/// which later versions still redirect.
pub fn lead_url(base: &str, version: Option<&str>, id: u64) -> String {
    let base = base.trim_end_matches('/');
    match version.and_then(major_minor) {
        Some(release) if release >= (17, 2) => format!("{base}/odoo/crm/{id}"),
        _ => format!("{base}/web#id={id}&model=crm.lead&view_type=form"),
    }
}

fn major_minor(version: &str) -> Option<(u32, u32)> {
    let digits = version.trim_start_matches("saas~");
    let mut parts = digits.split(|c: char| !c.is_ascii_digit());
    let major = parts.next()?.parse().ok()?;
    let minor = parts.next().and_then(|m| m.parse().ok()).unwrap_or(0);
    Some((major, minor))
}

#[cfg(test)]
mod tests {
    use super::lead_url;

    #[test]
    fn the_address_follows_the_web_client_of_the_version() {
        let at = |version| lead_url("https://crm.example.com/", version, 42);
        assert_eq!(at(Some("18.0+e")), "https://crm.example.com/odoo/crm/42");
        assert_eq!(at(Some("saas~17.2")), "https://crm.example.com/odoo/crm/42");
        assert_eq!(at(Some("19.0")), "https://crm.example.com/odoo/crm/42");
        let legacy = "https://crm.example.com/web#id=42&model=crm.lead&view_type=form";
        assert_eq!(at(Some("17.0")), legacy);
        assert_eq!(at(Some("16.0")), legacy);
        assert_eq!(
            at(None),
            legacy,
            "an unknown version gets the address every version opens"
        );
        assert_eq!(at(Some("unknown")), legacy);
    }
}
