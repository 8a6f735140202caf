//! Pagination: GitHub's `Link` header (`<url>; rel="next", <url>; rel="last"`), absent
//! on the last (or only) page. The next URL is followed as given — some endpoints page
//! by `page`, others by cursors — but only under the configured API URL: credentials
//! are never sent elsewhere.

use http::HeaderMap;

/// Most pages one listing may span (100 items each): a guard against a server that
/// links pages in a loop.
pub(crate) const MAX_PAGES: usize = 1_000;

/// The `rel="next"` URL of `headers`, as a path and query relative to `api_url`.
pub(crate) fn next_link(headers: &HeaderMap, api_url: &str) -> Result<Option<String>, String> {
    let Some(link) = headers.get(http::header::LINK) else {
        return Ok(None);
    };
    let link = link
        .to_str()
        .map_err(|_| "GitHub sent a Link header that is not text".to_string())?;
    let Some(url) = rel_url(link, "next") else {
        return Ok(None);
    };
    relative_to(url, api_url).map(Some)
}

/// The URL of relation `rel` in a `Link` header value.
fn rel_url<'a>(link: &'a str, rel: &str) -> Option<&'a str> {
    link.split(',').find_map(|part| {
        let (url, params) = part.trim().split_once(';')?;
        let url = url.trim().strip_prefix('<')?.strip_suffix('>')?;
        params
            .split(';')
            .filter_map(|p| p.trim().split_once('='))
            .any(|(k, v)| {
                k.trim() == "rel"
                    && v.trim()
                        .trim_matches('"')
                        .split_whitespace()
                        .any(|r| r == rel)
            })
            .then_some(url)
    })
}

/// `https://api.github.com/organizations/1/members?page=2` → `/organizations/1/members?page=2`
/// for `api_url` `https://api.github.com` (or `https://host/api/v3` → the part after it).
fn relative_to(url: &str, api_url: &str) -> Result<String, String> {
    let rest = url
        .strip_prefix(api_url)
        .filter(|rest| rest.is_empty() || rest.starts_with('/') || rest.starts_with('?'))
        .ok_or_else(|| {
            format!("GitHub's next-page link points outside the API URL {api_url}; not followed")
        })?;
    Ok(if rest.starts_with('/') {
        rest.to_string()
    } else {
        format!("/{rest}")
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use http::HeaderValue;

    fn headers(link: &str) -> HeaderMap {
        let mut h = HeaderMap::new();
        h.insert(http::header::LINK, HeaderValue::from_str(link).unwrap());
        h
    }

    #[test]
    fn follows_next_only_under_the_api_url() {
        let link = "<https://api.github.com/organizations/9/members?per_page=100&page=2>; rel=\"next\", \
                    <https://api.github.com/organizations/9/members?per_page=100&page=7>; rel=\"last\"";
        assert_eq!(
            next_link(&headers(link), "https://api.github.com")
                .unwrap()
                .as_deref(),
            Some("/organizations/9/members?per_page=100&page=2")
        );
        let last = "<https://api.github.com/x?page=1>; rel=\"prev\", <https://api.github.com/x?page=1>; rel=\"first\"";
        assert_eq!(
            next_link(&headers(last), "https://api.github.com").unwrap(),
            None
        );
        assert_eq!(
            next_link(&HeaderMap::new(), "https://api.github.com").unwrap(),
            None
        );
        let ghes = "<https://ghe.example/api/v3/orgs/a/members?page=2>; rel=\"next\"";
        assert_eq!(
            next_link(&headers(ghes), "https://ghe.example/api/v3")
                .unwrap()
                .as_deref(),
            Some("/orgs/a/members?page=2")
        );
        let elsewhere = "<https://evil.example/orgs/a/members?page=2>; rel=\"next\"";
        assert!(next_link(&headers(elsewhere), "https://api.github.com").is_err());
        let lookalike = "<https://api.github.com.evil.example/x?page=2>; rel=\"next\"";
        assert!(next_link(&headers(lookalike), "https://api.github.com").is_err());
    }
}
