//! Listing: the filters every list endpoint shares (date ranges), cursor pagination over a
//! stable order (creation time, then id), and the response envelope.

use serde::{Deserialize, Serialize};

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
    /// Whether timestamps fall in the asked ranges (RFC 3339 UTC strings compare in order).
    pub fn in_range(&self, created: &str, updated: &str) -> bool {
        self.created_after.as_deref().is_none_or(|t| created > t)
            && self.created_before.as_deref().is_none_or(|t| created < t)
            && self.updated_after.as_deref().is_none_or(|t| updated > t)
            && self.updated_before.as_deref().is_none_or(|t| updated < t)
    }

    /// Sort by (created, id), skip past the cursor, cut at the limit.
    pub fn paginate<T: Clone>(
        &self,
        mut items: Vec<T>,
        key: impl Fn(&T) -> (String, String),
    ) -> Result<Page<T>, ApiError> {
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
        items.sort_by_key(&key);
        let start = match &self.cursor {
            Some(cursor) => items
                .iter()
                .position(|i| key(i).1 == *cursor)
                .map(|p| p + 1)
                .ok_or_else(|| ApiError::invalid("cursor", "unknown cursor"))?,
            None => 0,
        };
        let rest = &items[start.min(items.len())..];
        let data: Vec<T> = rest.iter().take(limit).cloned().collect();
        let next_cursor = (rest.len() > limit).then(|| key(&data[data.len() - 1]).1);
        Ok(Page { data, next_cursor })
    }
}
