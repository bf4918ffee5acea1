//! The device a session signed in from, in words a person recognises ("Firefox 128 on Linux"),
//! read from the `User-Agent` header. Only the common browsers and systems are named; anything else
//! is "Unknown browser" / "unknown system". The header is client-supplied, so this is a label for
//! the security page, never a security decision.

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Device {
    pub browser: String,
    pub os: String,
}

/// The first `name/1.2.3` version in `ua` after `name/`, as its major number.
fn major_after(ua: &str, name: &str) -> Option<String> {
    let start = ua.find(name)? + name.len();
    let major: String = ua[start..]
        .chars()
        .take_while(|c| c.is_ascii_digit())
        .collect();
    (!major.is_empty()).then_some(major)
}

impl Device {
    pub fn from_user_agent(ua: Option<&str>) -> Self {
        let ua = ua.unwrap_or("");
        // Order matters: Edge and Opera also say "Chrome", Chrome also says "Safari".
        let browser = [
            ("Edg/", "Edge"),
            ("OPR/", "Opera"),
            ("Firefox/", "Firefox"),
            ("Chrome/", "Chrome"),
            ("CriOS/", "Chrome"),
            ("FxiOS/", "Firefox"),
        ]
        .iter()
        .find_map(|(token, name)| {
            ua.contains(token).then(|| match major_after(ua, token) {
                Some(v) => format!("{name} {v}"),
                None => (*name).to_string(),
            })
        })
        .or_else(|| {
            (ua.contains("Safari/") && ua.contains("Version/")).then(|| {
                match major_after(ua, "Version/") {
                    Some(v) => format!("Safari {v}"),
                    None => "Safari".into(),
                }
            })
        })
        .or_else(|| {
            let first = ua.split_whitespace().next()?;
            let (name, version) = first.split_once('/')?;
            let known = ["curl", "python-requests", "reqwest", "okhttp", "Wget"];
            known
                .iter()
                .any(|k| name.eq_ignore_ascii_case(k))
                .then(|| format!("{name} {version}"))
        })
        .unwrap_or_else(|| "Unknown browser".into());
        let os = if ua.contains("iPhone") || ua.contains("iPad") {
            "iOS"
        } else if ua.contains("Android") {
            "Android"
        } else if ua.contains("Windows") {
            "Windows"
        } else if ua.contains("Mac OS X") || ua.contains("Macintosh") {
            "macOS"
        } else if ua.contains("CrOS") {
            "ChromeOS"
        } else if ua.contains("Linux") {
            "Linux"
        } else {
            "unknown system"
        };
        Device {
            browser,
            os: os.into(),
        }
    }

    pub fn describe(&self) -> String {
        format!("{} on {}", self.browser, self.os)
    }
}

#[cfg(test)]
mod tests {
    use super::Device;

    #[test]
    fn common_browsers_are_named() {
        let cases = [
            (
                "Mozilla/5.0 (X11; Linux x86_64; rv:128.0) Gecko/20100101 Firefox/128.0",
                "Firefox 128 on Linux",
            ),
            (
                "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/126.0.0.0 Safari/537.36 Edg/126.0.0.0",
                "Edge 126 on Windows",
            ),
            (
                "Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.5 Safari/605.1.15",
                "Safari 17 on macOS",
            ),
            (
                "Mozilla/5.0 (Linux; Android 14) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/126.0.6478.71 Mobile Safari/537.36",
                "Chrome 126 on Android",
            ),
            (
                "Mozilla/5.0 (iPhone; CPU iPhone OS 17_5 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) CriOS/126.0 Mobile/15E148 Safari/604.1",
                "Chrome 126 on iOS",
            ),
            ("curl/8.5.0", "curl 8.5.0 on unknown system"),
            ("", "Unknown browser on unknown system"),
            ("\u{0}garbage/\u{7f}", "Unknown browser on unknown system"),
        ];
        for (ua, expected) in cases {
            assert_eq!(
                Device::from_user_agent(Some(ua)).describe(),
                expected,
                "{ua}"
            );
        }
        assert_eq!(
            Device::from_user_agent(None).describe(),
            "Unknown browser on unknown system"
        );
    }
}
