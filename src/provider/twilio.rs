//! Twilio's REST API as a managed-number provider: `AvailablePhoneNumbers/{country}/Local`
//! for search (area code, region, postal code, voice/SMS/MMS capability filters) and
//! `IncomingPhoneNumbers` for purchase and (found by number, then deleted) release, with
//! HTTP Basic auth (account SID, auth token). A bought number is attached to the account's
//! Elastic SIP Trunk (`Trunks/{sid}/PhoneNumbers` on the trunking API) so its calls reach
//! switchboard; a purchase whose attach fails is released again, so nothing is paid for
//! unused. Blocking (reqwest's blocking client): callers run it on the blocking pool.

use serde::Deserialize;

use super::{AvailableNumber, NumberProvider, ProviderError, SearchQuery};
use crate::directory::model::Secret;

/// The Twilio provider.
#[derive(Debug)]
pub struct Twilio {
    base_url: String,
    account_sid: String,
    auth_token: Secret,
    managed_account_id: String,
    /// (trunking API root, SIP trunk sid) bought numbers are attached to.
    trunk: Option<(String, String)>,
    http: reqwest::blocking::Client,
}

#[derive(Deserialize)]
struct AvailableList {
    available_phone_numbers: Vec<TwilioNumber>,
}

#[derive(Deserialize)]
struct TwilioNumber {
    phone_number: String,
    #[serde(default)]
    region: Option<String>,
    #[serde(default)]
    postal_code: Option<String>,
    #[serde(default)]
    iso_country: Option<String>,
    #[serde(default)]
    capabilities: Capabilities,
}

#[derive(Default, Deserialize)]
struct Capabilities {
    #[serde(default)]
    voice: bool,
    #[serde(default, rename = "SMS")]
    sms: bool,
    #[serde(default, rename = "MMS")]
    mms: bool,
}

#[derive(Deserialize)]
struct Purchased {
    sid: String,
}

#[derive(Deserialize)]
struct IncomingList {
    incoming_phone_numbers: Vec<Purchased>,
}

/// Twilio's error body.
#[derive(Deserialize)]
struct TwilioError {
    code: Option<u32>,
    message: String,
}

impl Twilio {
    pub fn new(base_url: &str, account_sid: &str, auth_token: Secret, managed_account_id: &str) -> Twilio {
        let http = reqwest::blocking::Client::builder()
            .timeout(std::time::Duration::from_secs(15))
            .build()
            .expect("a TLS-capable HTTP client");
        Twilio {
            base_url: base_url.trim_end_matches('/').to_owned(),
            account_sid: account_sid.to_owned(),
            auth_token,
            managed_account_id: managed_account_id.to_owned(),
            trunk: None,
            http,
        }
    }

    /// Attach every bought number to the Elastic SIP Trunk `trunk_sid` (`TK...`), through
    /// the trunking API at `trunking_base_url`.
    pub fn with_sip_trunk(mut self, trunking_base_url: &str, trunk_sid: &str) -> Twilio {
        self.trunk = Some((trunking_base_url.trim_end_matches('/').to_owned(), trunk_sid.to_owned()));
        self
    }

    /// `POST /v1/Trunks/{trunk}/PhoneNumbers` with the bought number's sid.
    fn attach(&self, number_sid: &str) -> Result<(), ProviderError> {
        let Some((base, trunk)) = &self.trunk else {
            return Ok(());
        };
        let response = self
            .http
            .post(format!("{base}/v1/Trunks/{trunk}/PhoneNumbers"))
            .basic_auth(&self.account_sid, Some(&self.auth_token.0))
            .form(&[("PhoneNumberSid", number_sid)])
            .send()
            .map_err(|e| ProviderError::Upstream(e.without_url().to_string()))?;
        if !response.status().is_success() {
            return Err(Twilio::fail(response));
        }
        Ok(())
    }

    fn url(&self, tail: &str) -> String {
        format!("{}/2010-04-01/Accounts/{}/{tail}", self.base_url, self.account_sid)
    }

    fn fail(response: reqwest::blocking::Response) -> ProviderError {
        let status = response.status();
        match response.json::<TwilioError>() {
            Ok(e) => ProviderError::Upstream(format!("Twilio {status}: {} (code {})", e.message, e.code.unwrap_or(0))),
            Err(_) => ProviderError::Upstream(format!("Twilio answered {status}")),
        }
    }
}

impl NumberProvider for Twilio {
    fn search(&self, q: &SearchQuery) -> Result<Vec<AvailableNumber>, ProviderError> {
        let kind = match q.number_type.as_str() {
            "local" => "Local",
            "toll_free" | "tollfree" => "TollFree",
            "mobile" => "Mobile",
            other => {
                return Err(ProviderError::InvalidQuery {
                    field: "type",
                    message: format!("{other:?} is not local, toll_free or mobile"),
                })
            }
        };
        let mut params: Vec<(&str, String)> = Vec::new();
        for (name, value) in [
            ("AreaCode", &q.area_code),
            ("InRegion", &q.region),
            ("InPostalCode", &q.postal_code),
            ("VoiceEnabled", &q.voice),
            ("SmsEnabled", &q.sms),
            ("MmsEnabled", &q.mms),
            ("PageSize", &q.limit),
        ] {
            if let Some(v) = value {
                params.push((name, v.clone()));
            }
        }
        let url = self.url(&format!("AvailablePhoneNumbers/{}/{kind}.json", q.country_code));
        let response = self
            .http
            .get(url)
            .basic_auth(&self.account_sid, Some(&self.auth_token.0))
            .query(&params)
            .send()
            .map_err(|e| ProviderError::Upstream(e.without_url().to_string()))?;
        if !response.status().is_success() {
            return Err(Twilio::fail(response));
        }
        let list: AvailableList = response
            .json()
            .map_err(|e| ProviderError::Upstream(format!("unexpected answer: {e}")))?;
        Ok(list
            .available_phone_numbers
            .into_iter()
            .map(|n| AvailableNumber {
                phone_number: n.phone_number,
                country_code: n.iso_country.unwrap_or_else(|| q.country_code.clone()),
                number_type: q.number_type.clone(),
                region: n.region.unwrap_or_default(),
                postal_code: n.postal_code.unwrap_or_default(),
                voice: n.capabilities.voice,
                sms: n.capabilities.sms,
                mms: n.capabilities.mms,
            })
            .collect())
    }

    fn purchase(&self, e164: &str) -> Result<String, ProviderError> {
        let response = self
            .http
            .post(self.url("IncomingPhoneNumbers.json"))
            .basic_auth(&self.account_sid, Some(&self.auth_token.0))
            .form(&[("PhoneNumber", e164)])
            .send()
            .map_err(|e| ProviderError::Upstream(e.without_url().to_string()))?;
        if response.status().as_u16() == 400 {
            return Err(ProviderError::NotAvailable(e164.to_owned()));
        }
        if !response.status().is_success() {
            return Err(Twilio::fail(response));
        }
        let bought: Purchased = response
            .json()
            .map_err(|e| ProviderError::Upstream(format!("unexpected answer: {e}")))?;
        if let Err(err) = self.attach(&bought.sid) {
            let released = match self.release(e164) {
                Ok(()) => "it was released again".to_owned(),
                Err(release) => format!("releasing it failed too ({release})"),
            };
            let trunk = self.trunk.as_ref().map_or("", |(_, t)| t.as_str());
            return Err(ProviderError::Upstream(format!(
                "bought {e164} but could not attach it to SIP trunk {trunk} ({err}); {released}"
            )));
        }
        Ok(bought.sid)
    }

    fn release(&self, e164: &str) -> Result<(), ProviderError> {
        let response = self
            .http
            .get(self.url("IncomingPhoneNumbers.json"))
            .basic_auth(&self.account_sid, Some(&self.auth_token.0))
            .query(&[("PhoneNumber", e164)])
            .send()
            .map_err(|e| ProviderError::Upstream(e.without_url().to_string()))?;
        if !response.status().is_success() {
            return Err(Twilio::fail(response));
        }
        let held: IncomingList = response
            .json()
            .map_err(|e| ProviderError::Upstream(format!("unexpected answer: {e}")))?;
        for number in held.incoming_phone_numbers {
            if !number.sid.chars().all(|c| c.is_ascii_alphanumeric()) {
                return Err(ProviderError::Upstream(format!(
                    "unexpected number sid {:?}",
                    number.sid
                )));
            }
            let response = self
                .http
                .delete(self.url(&format!("IncomingPhoneNumbers/{}.json", number.sid)))
                .basic_auth(&self.account_sid, Some(&self.auth_token.0))
                .send()
                .map_err(|e| ProviderError::Upstream(e.without_url().to_string()))?;
            // 404: released meanwhile.
            if !response.status().is_success() && response.status().as_u16() != 404 {
                return Err(Twilio::fail(response));
            }
        }
        Ok(())
    }

    fn account_id(&self) -> &str {
        &self.managed_account_id
    }
}
