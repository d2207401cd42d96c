//! The offline provider: a fixed inventory of US local numbers across a few area codes,
//! with regions, postal codes and capabilities, and purchases remembered in memory (a
//! released number is on sale again).

use std::collections::HashSet;
use std::sync::Mutex;

use super::{AvailableNumber, NumberProvider, ProviderError, SearchQuery};

/// (area code, region, postal code) of the inventory.
const AREAS: &[(&str, &str, &str)] = &[
    ("415", "CA", "94103"),
    ("212", "NY", "10001"),
    ("312", "IL", "60601"),
    ("512", "TX", "78701"),
    ("206", "WA", "98101"),
];

/// The sandbox provider.
#[derive(Debug)]
pub struct Sandbox {
    account_id: String,
    sold: Mutex<HashSet<String>>,
}

impl Sandbox {
    pub fn new(account_id: String) -> Sandbox {
        Sandbox {
            account_id,
            sold: Mutex::new(HashSet::new()),
        }
    }

    fn inventory(&self) -> impl Iterator<Item = AvailableNumber> + '_ {
        AREAS.iter().flat_map(|(area, region, postal)| {
            (0..20).map(move |i| AvailableNumber {
                phone_number: format!("+1{area}555{:04}", 100 + i),
                country_code: "US".into(),
                number_type: "local".into(),
                region: (*region).into(),
                postal_code: (*postal).into(),
                voice: true,
                sms: i % 2 == 0,
                mms: i % 4 == 0,
            })
        })
    }
}

fn wanted(filter: &Option<String>, has: bool, field: &'static str) -> Result<bool, ProviderError> {
    match filter.as_deref() {
        None => Ok(true),
        Some("true") => Ok(has),
        Some("false") => Ok(!has),
        Some(other) => Err(ProviderError::InvalidQuery {
            field,
            message: format!("{other:?} is not true or false"),
        }),
    }
}

impl NumberProvider for Sandbox {
    fn search(&self, q: &SearchQuery) -> Result<Vec<AvailableNumber>, ProviderError> {
        if q.country_code != "US" {
            return Ok(Vec::new());
        }
        if q.number_type != "local" {
            return Err(ProviderError::InvalidQuery {
                field: "type",
                message: "the sandbox offers local numbers only".into(),
            });
        }
        let limit = match q.limit.as_deref() {
            None => 20,
            Some(l) => {
                l.parse::<usize>()
                    .ok()
                    .filter(|l| (1..=100).contains(l))
                    .ok_or(ProviderError::InvalidQuery {
                        field: "limit",
                        message: "limit must be 1 to 100".into(),
                    })?
            }
        };
        let sold = self.sold.lock().unwrap_or_else(|p| p.into_inner());
        let mut out = Vec::new();
        for n in self.inventory() {
            let keep = !sold.contains(&n.phone_number)
                && q.area_code.as_deref().is_none_or(|a| n.phone_number[2..5] == *a)
                && q.region.as_deref().is_none_or(|r| n.region.eq_ignore_ascii_case(r))
                && q.postal_code.as_deref().is_none_or(|p| n.postal_code == p)
                && wanted(&q.voice, n.voice, "voice")?
                && wanted(&q.sms, n.sms, "sms")?
                && wanted(&q.mms, n.mms, "mms")?;
            if keep {
                out.push(n);
            }
            if out.len() == limit {
                break;
            }
        }
        Ok(out)
    }

    fn purchase(&self, e164: &str) -> Result<String, ProviderError> {
        let mut sold = self.sold.lock().unwrap_or_else(|p| p.into_inner());
        if sold.contains(e164) || !self.inventory().any(|n| n.phone_number == e164) {
            return Err(ProviderError::NotAvailable(e164.to_owned()));
        }
        sold.insert(e164.to_owned());
        Ok(format!("PN_sandbox_{}", &e164[1..]))
    }

    fn release(&self, e164: &str) -> Result<(), ProviderError> {
        self.sold.lock().unwrap_or_else(|p| p.into_inner()).remove(e164);
        Ok(())
    }

    fn account_id(&self) -> &str {
        &self.account_id
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn query(extra: &[(&str, &str)]) -> SearchQuery {
        let mut q = serde_json::json!({});
        for (k, v) in extra {
            q[*k] = serde_json::Value::String((*v).into());
        }
        serde_json::from_value(q).unwrap()
    }

    #[test]
    fn search_filters_and_purchase_takes_a_number_off_the_market() {
        let sandbox = Sandbox::new("AC1".into());
        let in_415 = sandbox
            .search(&query(&[("area_code", "415"), ("mms", "true")]))
            .unwrap();
        assert!(!in_415.is_empty() && in_415.iter().all(|n| n.phone_number.starts_with("+1415") && n.mms));
        let number = in_415[0].phone_number.clone();
        sandbox.purchase(&number).unwrap();
        assert_eq!(
            sandbox.purchase(&number),
            Err(ProviderError::NotAvailable(number.clone()))
        );
        assert!(sandbox
            .search(&query(&[("area_code", "415")]))
            .unwrap()
            .iter()
            .all(|n| n.phone_number != number));
        sandbox.release(&number).unwrap();
        assert!(sandbox
            .search(&query(&[("area_code", "415")]))
            .unwrap()
            .iter()
            .any(|n| n.phone_number == number));
        assert!(matches!(
            sandbox.search(&query(&[("sms", "maybe")])),
            Err(ProviderError::InvalidQuery { field: "sms", .. })
        ));
    }
}
