//! E.164 normalisation (owned by the directory work).
