//! `/core/trunks`: BYOC trunks are the org's to create, change and delete; managed trunks
//! are provisioned by the platform and read-only (PUT and DELETE answer 400, saying why).

use axum::extract::State;
use axum::http::StatusCode;
use axum::Json;
use serde::Deserialize;

use super::auth::Caller;
use super::error::{Body, Params, Segment};
use super::page::{Page, PageQuery};
use super::{commit, now, ApiError, AppState};
use crate::directory::model::{InboundConfig, OutboundConfig, Trunk};
use crate::directory::Object;
use crate::store::Kind;

/// The body of POST and PUT.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TrunkBody {
    pub name: Option<String>,
    #[serde(default)]
    pub inbound_config: Option<InboundConfig>,
    pub outbound_config: Option<OutboundBody>,
}

/// `outbound_config` as written by a client; `auth_password` may be omitted on PUT to keep it.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct OutboundBody {
    pub address: Option<String>,
    pub auth_username: Option<String>,
    pub auth_password: Option<crate::directory::model::Secret>,
    #[serde(default)]
    pub transport: crate::directory::model::SipTransport,
    #[serde(default)]
    pub media_encryption: crate::directory::model::MediaEncryption,
}

#[derive(Debug, Deserialize)]
pub struct TrunkQuery {
    pub name: Option<String>,
    #[serde(flatten)]
    pub page: PageQuery,
}

impl super::error::QueryFields for TrunkQuery {
    const FIELDS: &'static [&'static str] = &[
        "name",
        "limit",
        "cursor",
        "created_after",
        "created_before",
        "updated_after",
        "updated_before",
    ];
}

pub async fn list(
    caller: Caller,
    State(state): State<AppState>,
    Params(q): Params<TrunkQuery>,
) -> Result<Json<Page<Trunk>>, ApiError> {
    caller.can_read("trunks")?;
    let snapshot = state.directory.snapshot();
    let items: Vec<Trunk> = snapshot
        .trunks
        .values()
        .filter(|t| t.org_id == caller.org_id)
        .filter(|t| q.name.as_deref().is_none_or(|n| t.name.contains(n)))
        .filter(|t| q.page.in_range(&t.created_at, &t.updated_at))
        .cloned()
        .collect();
    Ok(Json(q.page.paginate(items, |t| (t.created_at.clone(), t.id.clone()))?))
}

pub async fn get(
    caller: Caller,
    State(state): State<AppState>,
    Segment(id): Segment<String>,
) -> Result<Json<Trunk>, ApiError> {
    caller.can_read("trunks")?;
    Ok(Json(own_trunk(&state, &caller, &id)?))
}

pub async fn create(
    caller: Caller,
    State(state): State<AppState>,
    Body(body): Body<TrunkBody>,
) -> Result<(StatusCode, Json<Trunk>), ApiError> {
    caller.can_manage("trunks")?;
    let stamp = now();
    let trunk = Trunk {
        id: format!("trk_{}", uuid::Uuid::new_v4().simple()),
        org_id: caller.org_id.clone(),
        name: required_name(&body)?,
        managed_account_id: None,
        inbound_config: checked_inbound(body.inbound_config.unwrap_or_default(), None)?,
        outbound_config: Some(checked_outbound(body.outbound_config, None)?),
        created_at: stamp.clone(),
        updated_at: stamp,
    };
    commit(&state, vec![Object::Trunk(trunk.clone())], vec![]).await?;
    Ok((StatusCode::CREATED, Json(trunk)))
}

pub async fn update(
    caller: Caller,
    State(state): State<AppState>,
    Segment(id): Segment<String>,
    Body(body): Body<TrunkBody>,
) -> Result<Json<Trunk>, ApiError> {
    caller.can_manage("trunks")?;
    let mut trunk = own_trunk(&state, &caller, &id)?;
    if trunk.is_managed() {
        return Err(ApiError::invalid(
            "id",
            "managed trunks are provisioned by the platform and cannot be changed through the API",
        ));
    }
    trunk.name = required_name(&body)?;
    trunk.inbound_config = checked_inbound(body.inbound_config.unwrap_or_default(), Some(&trunk.inbound_config))?;
    trunk.outbound_config = Some(checked_outbound(body.outbound_config, trunk.outbound_config.as_ref())?);
    trunk.updated_at = now();
    commit(&state, vec![Object::Trunk(trunk.clone())], vec![]).await?;
    Ok(Json(trunk))
}

pub async fn delete(
    caller: Caller,
    State(state): State<AppState>,
    Segment(id): Segment<String>,
) -> Result<StatusCode, ApiError> {
    caller.can_manage("trunks")?;
    let trunk = own_trunk(&state, &caller, &id)?;
    if trunk.is_managed() {
        return Err(ApiError::invalid(
            "id",
            "managed trunks are provisioned by the platform and cannot be deleted through the API",
        ));
    }
    // A trunk that carries numbers is refused by the directory, inside the commit.
    commit(&state, vec![], vec![(Kind::Trunk, id)]).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// The caller's trunk, or 404 (also for another org's: ids do not leak).
fn own_trunk(state: &AppState, caller: &Caller, id: &str) -> Result<Trunk, ApiError> {
    state
        .directory
        .snapshot()
        .trunks
        .get(id)
        .filter(|t| t.org_id == caller.org_id)
        .cloned()
        .ok_or(ApiError::NotFound("trunk"))
}

fn required_name(body: &TrunkBody) -> Result<String, ApiError> {
    match body.name.as_deref().map(str::trim) {
        Some(name) if !name.is_empty() && name.len() <= 200 => Ok(name.to_owned()),
        _ => Err(ApiError::invalid("name", "name is required (1 to 200 characters)")),
    }
}

/// Valid sources; digest credentials complete (a PUT without a password keeps the old
/// one); a positive rate; client-certificate fingerprints that are SHA-256s (stored as
/// lower-case hex without colons).
fn checked_inbound(mut config: InboundConfig, existing: Option<&InboundConfig>) -> Result<InboundConfig, ApiError> {
    if let Some(user) = &config.auth_username {
        if user.trim().is_empty() || user.len() > 128 {
            return Err(ApiError::invalid(
                "inbound_config.auth_username",
                "auth_username must be 1 to 128 characters",
            ));
        }
        if config.auth_password.0.is_empty() {
            match existing.filter(|e| e.auth_username.is_some()) {
                Some(old) => config.auth_password = old.auth_password.clone(),
                None => {
                    return Err(ApiError::invalid(
                        "inbound_config.auth_password",
                        "inbound_config.auth_password is required with auth_username",
                    ))
                }
            }
        }
    } else {
        config.auth_password = crate::directory::model::Secret::default();
    }
    if config
        .max_calls_per_second
        .is_some_and(|r| !(r > 0.0 && r <= 100_000.0))
    {
        return Err(ApiError::invalid(
            "inbound_config.max_calls_per_second",
            "max_calls_per_second must be above 0 and at most 100000",
        ));
    }
    for source in &config.allowed_sources {
        if !is_ip_or_cidr(source) {
            return Err(ApiError::invalid(
                "inbound_config.allowed_sources",
                format!("{source:?} is not an IP address or CIDR"),
            ));
        }
    }
    config.tls_client_fingerprints = config
        .tls_client_fingerprints
        .iter()
        .map(|fp| crate::security::normalise_fingerprint(fp))
        .collect::<Result<_, _>>()
        .map_err(|error| ApiError::invalid("inbound_config.tls_client_fingerprints", error.to_string()))?;
    Ok(config)
}

fn is_ip_or_cidr(s: &str) -> bool {
    let (ip, bits) = match s.split_once('/') {
        Some((ip, bits)) => (ip, Some(bits)),
        None => (s, None),
    };
    let Ok(ip) = ip.parse::<std::net::IpAddr>() else {
        return false;
    };
    let max = if ip.is_ipv4() { 32 } else { 128 };
    bits.is_none_or(|b| b.parse::<u8>().is_ok_and(|b| b <= max))
}

fn checked_outbound(body: Option<OutboundBody>, existing: Option<&OutboundConfig>) -> Result<OutboundConfig, ApiError> {
    let body = body.ok_or_else(|| ApiError::invalid("outbound_config", "outbound_config is required"))?;
    let required = |value: Option<String>, field: &'static str| match value.map(|v| v.trim().to_owned()) {
        Some(v) if !v.is_empty() => Ok(v),
        _ => Err(ApiError::invalid(field, format!("{field} is required"))),
    };
    let password = match (body.auth_password, existing) {
        (Some(p), _) if !p.0.is_empty() => p.0,
        (None, Some(old)) => old.auth_password.0.clone(),
        _ => {
            return Err(ApiError::invalid(
                "outbound_config.auth_password",
                "outbound_config.auth_password is required",
            ))
        }
    };
    Ok(OutboundConfig {
        address: host_and_port(&required(body.address, "outbound_config.address")?)?,
        auth_username: required(body.auth_username, "outbound_config.auth_username")?,
        auth_password: crate::directory::model::Secret(password),
        transport: body.transport,
        media_encryption: body.media_encryption,
    })
}

/// A carrier address: a host name or an IP address, with an optional port
/// (`sip.carrier.example`, `203.0.113.7:5060`, `[2001:db8::1]:5061`, `2001:db8::1`).
fn host_and_port(address: &str) -> Result<String, ApiError> {
    const FIELD: &str = "outbound_config.address";
    let refuse = |why: &str| {
        let shown: String = address.chars().take(40).collect();
        let more = if address.chars().count() > 40 { "..." } else { "" };
        Err(ApiError::invalid(FIELD, format!("{shown:?}{more} {why}")))
    };
    if address.len() > 261 {
        return refuse("is too long for a host and port (at most 261 characters)");
    }
    if address.parse::<std::net::IpAddr>().is_ok() {
        return Ok(address.to_owned());
    }
    let (host, port) = match address.strip_prefix('[') {
        Some(rest) => {
            let Some((v6, tail)) = rest.split_once(']') else {
                return refuse("is not an IPv6 address in brackets");
            };
            if v6.parse::<std::net::Ipv6Addr>().is_err() {
                return refuse("is not an IPv6 address in brackets");
            }
            match tail.strip_prefix(':') {
                Some(port) => (None, Some(port)),
                None if tail.is_empty() => (None, None),
                None => return refuse("has text after the IPv6 address that is not :port"),
            }
        }
        None => match address.rsplit_once(':') {
            Some((host, port)) => (Some(host), Some(port)),
            None => (Some(address), None),
        },
    };
    if port.is_some_and(|p| !p.parse::<u16>().is_ok_and(|p| p > 0)) {
        return refuse("has a port that is not a number from 1 to 65535");
    }
    match host {
        Some(host) if !(host.parse::<std::net::Ipv4Addr>().is_ok() || is_host_name(host)) => {
            refuse("is not a host name or IP address with an optional :port")
        }
        _ => Ok(address.to_owned()),
    }
}

/// RFC 1123 host names: dot-separated labels of letters, digits and hyphens, 1 to 63
/// characters each, not starting or ending with a hyphen; 253 characters at most.
fn is_host_name(host: &str) -> bool {
    let host = host.strip_suffix('.').unwrap_or(host);
    !host.is_empty()
        && host.len() <= 253
        && host.split('.').all(|label| {
            (1..=63).contains(&label.len())
                && label.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-')
                && !label.starts_with('-')
                && !label.ends_with('-')
        })
        // `999.1.1.1` is a mistyped address, not a name: top-level labels are never numeric.
        && !host.rsplit('.').next().is_some_and(|tld| tld.bytes().all(|b| b.is_ascii_digit()))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn field(error: ApiError) -> String {
        match error {
            ApiError::Invalid { field, .. } => field.into_owned(),
            other => panic!("expected a field error, got {other:?}"),
        }
    }

    #[test]
    fn client_certificate_fingerprints_are_stored_as_lower_case_hex_without_colons() {
        let hex = "ab".repeat(32);
        let typed = vec!["AB".repeat(32), vec!["aB"; 32].join(":")];
        let config = InboundConfig {
            tls_client_fingerprints: typed,
            ..InboundConfig::default()
        };
        let checked = checked_inbound(config, None).unwrap();
        assert_eq!(checked.tls_client_fingerprints, [hex.clone(), hex]);
    }

    #[test]
    fn a_carrier_address_is_a_host_or_ip_with_an_optional_port() {
        for good in [
            "sip.carrier.example",
            "sip.carrier.example:5080",
            "a",
            "203.0.113.7",
            "203.0.113.7:5060",
            "[2001:db8::1]:5061",
            "[2001:db8::1]",
            "2001:db8::1",
        ] {
            assert_eq!(host_and_port(good).unwrap(), good);
        }
        let huge = "a".repeat(1_900_000);
        for bad in [
            "sip:carrier.example",
            "carrier.example;transport=tcp",
            "carrier.example:0",
            "carrier.example:99999",
            "carrier.example:",
            "-bad.example",
            "two words",
            "[2001:db8::1]5060",
            "[not-v6]:5060",
            "999.1.1.1",
            huge.as_str(),
        ] {
            assert_eq!(
                field(host_and_port(bad).unwrap_err()),
                "outbound_config.address",
                "{bad:.40}"
            );
        }
    }

    #[test]
    fn a_malformed_fingerprint_is_refused_naming_the_field() {
        for bad in ["ab".repeat(31), "zz".repeat(32), String::new()] {
            let config = InboundConfig {
                tls_client_fingerprints: vec![bad.clone()],
                ..InboundConfig::default()
            };
            let error = checked_inbound(config, None).unwrap_err();
            assert_eq!(field(error), "inbound_config.tls_client_fingerprints", "{bad:?}");
        }
    }
}
