//! Where an org may call: its deny list first (premium-rate prefixes by default; a denied
//! prefix wins over everything), then the international rule (a destination outside the
//! caller ID's region is refused unless the org allows international calls or the
//! destination matches an allowed prefix).

use super::country::region;
use super::settings::OutboundSettings;
use super::OutboundRefusal;

/// The destination policy in force for one org.
#[derive(Debug, Clone, Copy)]
pub struct DestinationPolicy<'a> {
    deny: &'a [String],
    allow_international: bool,
    global_allow: &'a [String],
    org_allow: &'a [String],
}

impl<'a> DestinationPolicy<'a> {
    /// The org's policy: its own entries where it has them, the global ones elsewhere.
    pub fn for_org(settings: &'a OutboundSettings, org_id: &str) -> DestinationPolicy<'a> {
        let org = settings.orgs.get(org_id);
        DestinationPolicy {
            deny: org
                .and_then(|o| o.deny_prefixes.as_deref())
                .unwrap_or(&settings.deny_prefixes),
            allow_international: org
                .and_then(|o| o.allow_international)
                .unwrap_or(settings.allow_international),
            global_allow: &settings.allow_prefixes,
            org_allow: org.map_or(&[][..], |o| &o.allow_prefixes[..]),
        }
    }

    /// May a call from `caller` (E.164) go to `dialed` (E.164)?
    pub fn check(&self, caller: &str, dialed: &str) -> Result<(), OutboundRefusal> {
        if self.deny.iter().any(|p| dialed.starts_with(p.as_str())) {
            return Err(OutboundRefusal::DeniedDestination);
        }
        if region(dialed) == region(caller) || self.allow_international {
            return Ok(());
        }
        let allowed = self
            .global_allow
            .iter()
            .chain(self.org_allow)
            .any(|p| dialed.starts_with(p.as_str()));
        if allowed {
            Ok(())
        } else {
            Err(OutboundRefusal::InternationalDenied)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::routing::outbound::OrgOutbound;

    const US: &str = "+14155550100";

    #[test]
    fn premium_prefixes_are_denied_by_default_and_ordinary_domestic_calls_allowed() {
        let s = OutboundSettings::default();
        let p = DestinationPolicy::for_org(&s, "org");
        assert_eq!(p.check(US, "+19005551234"), Err(OutboundRefusal::DeniedDestination));
        assert_eq!(p.check(US, "+19765551234"), Err(OutboundRefusal::DeniedDestination));
        assert_eq!(p.check(US, "+12125551234"), Ok(()));
        assert_eq!(p.check(US, "+14165551234"), Ok(()), "Canada shares the region");
    }

    #[test]
    fn international_destinations_are_denied_unless_the_org_allows_them() {
        let mut s = OutboundSettings::default();
        let p = DestinationPolicy::for_org(&s, "org");
        assert_eq!(p.check(US, "+442071838750"), Err(OutboundRefusal::InternationalDenied));
        assert_eq!(
            p.check(US, "+18765551234"),
            Err(OutboundRefusal::InternationalDenied),
            "Jamaica is international though it is +1"
        );
        assert_eq!(
            p.check("+442071838750", "+442079460000"),
            Ok(()),
            "domestic for a UK caller ID"
        );
        s.orgs.insert(
            "uk-ok".into(),
            OrgOutbound {
                allow_prefixes: vec!["+44".into()],
                ..OrgOutbound::default()
            },
        );
        s.orgs.insert(
            "world".into(),
            OrgOutbound {
                allow_international: Some(true),
                ..OrgOutbound::default()
            },
        );
        let uk_ok = DestinationPolicy::for_org(&s, "uk-ok");
        assert_eq!(uk_ok.check(US, "+442071838750"), Ok(()));
        assert_eq!(
            uk_ok.check(US, "+33142685300"),
            Err(OutboundRefusal::InternationalDenied)
        );
        let world = DestinationPolicy::for_org(&s, "world");
        assert_eq!(world.check(US, "+33142685300"), Ok(()));
        assert_eq!(
            world.check(US, "+19005551234"),
            Err(OutboundRefusal::DeniedDestination),
            "the deny list wins over allowing international calls"
        );
    }

    #[test]
    fn an_org_deny_list_replaces_the_global_one() {
        let mut s = OutboundSettings::default();
        s.orgs.insert(
            "strict".into(),
            OrgOutbound {
                deny_prefixes: Some(vec!["+1212".into()]),
                ..OrgOutbound::default()
            },
        );
        let p = DestinationPolicy::for_org(&s, "strict");
        assert_eq!(p.check(US, "+12125551234"), Err(OutboundRefusal::DeniedDestination));
        assert_eq!(p.check(US, "+19005551234"), Ok(()), "its own list, not the default");
    }
}
