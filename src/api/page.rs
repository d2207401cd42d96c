//! Listing: the filters every list endpoint shares (date ranges, RFC 3339 instants), cursor
//! pagination over a stable order (creation time, then id) whose cursor outlives the item it
//! names, and the response envelope.

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use serde::{Deserialize, Serialize};
use time::format_description::well_known::Rfc3339;
use time::OffsetDateTime;

use super::ApiError;

/// Query parameters common to list endpoints.
#[derive(Debug, Default, Deserialize)]
pub struct PageQuery {
    /// Kept as text: query strings arrive as text, and a bad value must name its field.
    pub limit: Option<String>,
    pub cursor: Option<String>,
    pub created_after: Option<String>,
    pub created_before: Option<String>,
    pub updated_after: Option<String>,
    pub updated_before: Option<String>,
}

/// A page of results.
#[derive(Debug, Serialize)]
pub struct Page<T> {
    pub data: Vec<T>,
    /// Pass as `cursor` to get the next page; absent on the last one.
    pub next_cursor: Option<String>,
}

/// The parameters of [`PageQuery`].
pub const PAGE_FIELDS: &[&str] = &[
    "limit",
    "cursor",
    "created_after",
    "created_before",
    "updated_after",
    "updated_before",
];

impl super::error::QueryFields for PageQuery {
    const FIELDS: &'static [&'static str] = PAGE_FIELDS;
}

const DEFAULT_LIMIT: usize = 50;
const MAX_LIMIT: usize = 200;

impl PageQuery {
    /// Whether timestamps fall in the asked ranges, compared as instants (`+02:00` and `Z`
    /// forms of one moment are equal). A bound that is not RFC 3339 matches nothing; the
    /// request is refused naming it by [`PageQuery::paginate`].
    pub fn in_range(&self, created: &str, updated: &str) -> bool {
        let (created, updated) = (instant(created), instant(updated));
        let side = |bound: &Option<String>, stamp: Option<OffsetDateTime>, after: bool| {
            bound.as_deref().is_none_or(|b| match (instant(b), stamp) {
                (Some(b), Some(s)) => (after && s > b) || (!after && s < b),
                _ => false,
            })
        };
        side(&self.created_after, created, true)
            && side(&self.created_before, created, false)
            && side(&self.updated_after, updated, true)
            && side(&self.updated_before, updated, false)
    }

    /// Sort by (created, id), resume after the cursor, cut at the limit.
    pub fn paginate<T: Clone>(
        &self,
        mut items: Vec<T>,
        key: impl Fn(&T) -> (String, String),
    ) -> Result<Page<T>, ApiError> {
        self.check_dates()?;
        let limit = match &self.limit {
            Some(text) => text.parse::<usize>().unwrap_or(0),
            None => DEFAULT_LIMIT,
        };
        if limit == 0 || limit > MAX_LIMIT {
            return Err(ApiError::invalid(
                "limit",
                format!("limit must be between 1 and {MAX_LIMIT}"),
            ));
        }
        let sort_key = |item: &T| {
            let (created, id) = key(item);
            (instant(&created), created, id)
        };
        items.sort_by_cached_key(sort_key);
        // The cursor is the position of the last item served, not the item itself: it
        // stays valid when that item is deleted.
        let start = match &self.cursor {
            Some(cursor) => {
                let (created, id) = decode_cursor(cursor)?;
                let after = (instant(&created), created, id);
                items.partition_point(|i| sort_key(i) <= after)
            }
            None => 0,
        };
        let rest = &items[start..];
        let data: Vec<T> = rest.iter().take(limit).cloned().collect();
        let next_cursor = (rest.len() > limit).then(|| {
            let (created, id) = key(&data[data.len() - 1]);
            encode_cursor(&created, &id)
        });
        Ok(Page { data, next_cursor })
    }

    /// Date filters are RFC 3339 instants (`2026-11-23T15:00:00Z`): `yesterday` is a 400
    /// naming its parameter.
    fn check_dates(&self) -> Result<(), ApiError> {
        for (field, value) in [
            ("created_after", &self.created_after),
            ("created_before", &self.created_before),
            ("updated_after", &self.updated_after),
            ("updated_before", &self.updated_before),
        ] {
            if let Some(text) = value {
                if instant(text).is_none() {
                    return Err(ApiError::invalid(
                        field,
                        format!("{field} must be an RFC 3339 date-time such as 2026-11-23T15:00:00Z"),
                    ));
                }
            }
        }
        Ok(())
    }
}

fn instant(text: &str) -> Option<OffsetDateTime> {
    OffsetDateTime::parse(text, &Rfc3339).ok()
}

/// The cursor: base64url of the last served item's creation time and id.
fn encode_cursor(created: &str, id: &str) -> String {
    URL_SAFE_NO_PAD.encode(format!("{created}\n{id}"))
}

fn decode_cursor(cursor: &str) -> Result<(String, String), ApiError> {
    URL_SAFE_NO_PAD
        .decode(cursor)
        .ok()
        .and_then(|bytes| String::from_utf8(bytes).ok())
        .and_then(|text| {
            text.split_once('\n')
                .map(|(created, id)| (created.to_owned(), id.to_owned()))
        })
        .ok_or_else(|| ApiError::invalid("cursor", "cursor is not one this API returned"))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn query(pairs: &[(&str, &str)]) -> PageQuery {
        let mut q = PageQuery::default();
        for (k, v) in pairs {
            let v = Some((*v).to_owned());
            match *k {
                "limit" => q.limit = v,
                "cursor" => q.cursor = v,
                "created_after" => q.created_after = v,
                "created_before" => q.created_before = v,
                other => panic!("{other}"),
            }
        }
        q
    }

    fn items(n: usize) -> Vec<(String, String)> {
        (0..n)
            .map(|i| (format!("2026-01-01T00:00:{i:02}Z"), format!("id{i:02}")))
            .collect()
    }

    #[test]
    fn a_cursor_stays_valid_when_its_item_is_deleted() {
        let all = items(6);
        let first = query(&[("limit", "2")]).paginate(all.clone(), Clone::clone).unwrap();
        let cursor = first.next_cursor.unwrap();
        let without_last_served: Vec<_> = all.into_iter().filter(|i| i.1 != "id01").collect();
        let next = query(&[("limit", "2"), ("cursor", &cursor)])
            .paginate(without_last_served, Clone::clone)
            .unwrap();
        let ids: Vec<_> = next.data.iter().map(|i| i.1.as_str()).collect();
        assert_eq!(ids, ["id02", "id03"]);
        assert!(query(&[("cursor", "id01")]).paginate(items(3), Clone::clone).is_err());
    }

    #[test]
    fn dates_compare_as_instants_and_nonsense_is_named() {
        // 00:00:03Z written in another offset.
        let q = query(&[("created_after", "2026-01-01T01:00:02+01:00")]);
        let kept: Vec<_> = items(5).into_iter().filter(|i| q.in_range(&i.0, &i.0)).collect();
        assert_eq!(kept.len(), 2);
        let error = query(&[("created_before", "yesterday")])
            .paginate(items(1), Clone::clone)
            .unwrap_err();
        assert!(matches!(error, ApiError::Invalid { ref field, .. } if field == "created_before"));
    }
}
