//! Where a pull fetches its manifest from: the public registry (`registry.ollama.ai`, names
//! without a host), private registries declared with `--registry`, or a host nobody declared.
//! Owns the registry declarations and every manifest error a pull can end with, in Ollama's
//! words with the real host, port and path substituted (transcripts 15, 47-49, 53a/b).
//!
//! A declared registry holds every catalogue model, in any namespace. Ollama sends plain HTTP
//! only when the pull says `insecure: true` (its `makeRequest` rewrites the scheme), so:
//! - a plain-HTTP registry without `insecure` fails as Go's client does on an HTTP answer to a
//!   TLS hello (transcript 49);
//! - a TLS registry with `insecure` answers Go's plain-HTTP-to-TLS 400, which Ollama's
//!   `makeRequestWithRetry` reports as `400: <body>` (derived from the code, not recorded);
//! - an undeclared host does not resolve (53a's wording), or refuses the connection when it is
//!   an IP address (Go's wording for a closed port);
//! - in air-gapped mode the public registry does not resolve, whatever the model (53a/b).

use std::fmt;
use std::net::IpAddr;

use super::catalogue::{find_model, CatalogueModel};

/// The public registry: the host of names that carry none.
pub const PUBLIC_REGISTRY: &str = "registry.ollama.ai";

/// The resolver of the machine the transcripts were recorded on (53a); DNS errors name it.
const RESOLVER: &str = "10.255.255.53:53";

/// A private registry the simulated server can reach.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Registry {
    /// `host` or `host:port`, lowercase, as model names write it.
    pub host: String,
    /// Whether it speaks HTTPS; the common local registry speaks plain HTTP.
    pub tls: bool,
}

impl Registry {
    /// `HOST:PORT` (plain HTTP), `http://HOST:PORT` or `https://HOST:PORT`; a trailing `/` is
    /// accepted. The error says what to write.
    pub fn parse(spec: &str) -> Result<Registry, String> {
        let trimmed = spec.trim();
        let lowered = trimmed.to_ascii_lowercase();
        let (tls, rest) = if let Some(rest) = lowered.strip_prefix("https://") {
            (true, rest)
        } else if let Some(rest) = lowered.strip_prefix("http://") {
            (false, rest)
        } else if lowered.contains("://") {
            return Err(format!(
                "invalid registry '{trimmed}': the scheme must be http:// or https://"
            ));
        } else {
            (false, lowered.as_str())
        };
        let host = rest.strip_suffix('/').unwrap_or(rest);
        let invalid = |why: &str| {
            Err(format!(
                "invalid registry '{trimmed}': {why}; write HOST:PORT, http://HOST:PORT or \
                 https://HOST:PORT (e.g. 127.0.0.1:5000)"
            ))
        };
        if host.is_empty() {
            return invalid("no host");
        }
        if host.contains('/') {
            return invalid("a registry is a host, not a path");
        }
        let (name, port) = match host.split_once(':') {
            Some((name, port)) => (name, Some(port)),
            None => (host, None),
        };
        let name_ok = name
            .chars()
            .next()
            .is_some_and(|c| c.is_ascii_alphanumeric() || c == '_')
            && name
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-'));
        if !name_ok {
            return invalid("the host has characters a model name cannot carry");
        }
        if let Some(port) = port {
            if port.parse::<u16>().map_or(true, |port| port == 0) {
                return invalid("the port must be a number from 1 to 65535");
            }
        }
        if name == PUBLIC_REGISTRY {
            return Err(format!(
                "invalid registry '{trimmed}': {PUBLIC_REGISTRY} is the public registry, always \
                 declared; --air-gapped cuts it off"
            ));
        }
        Ok(Registry {
            host: host.to_string(),
            tls,
        })
    }
}

impl fmt::Display for Registry {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let scheme = if self.tls { "https" } else { "http" };
        write!(f, "{scheme}://{}", self.host)
    }
}

/// A normalized model name split as Ollama's `ParseName` splits it.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Reference<'a> {
    /// `None` for the public registry.
    host: Option<&'a str>,
    namespace: &'a str,
    repository: &'a str,
    tag: &'a str,
}

impl<'a> Reference<'a> {
    /// `name` is normalized, so it always carries a tag and at most a host and a namespace.
    fn split(name: &'a str) -> Reference<'a> {
        let last_slash = name.rfind('/').map(|i| i + 1).unwrap_or(0);
        let (path, tag) = match name[last_slash..].rfind(':') {
            Some(i) => (&name[..last_slash + i], &name[last_slash + i + 1..]),
            None => (name, "latest"),
        };
        let mut segments = path.rsplitn(3, '/');
        let repository = segments.next().unwrap_or(path);
        let namespace = segments.next().unwrap_or("library");
        let host = segments.next();
        Reference {
            host,
            namespace,
            repository,
            tag,
        }
    }

    /// The manifest URL Ollama's client asks for, with the scheme it really uses.
    fn manifest_url(&self, insecure: bool) -> String {
        let scheme = if insecure { "http" } else { "https" };
        format!(
            "{scheme}://{}/v2/{}/{}/manifests/{}",
            self.host.unwrap_or(PUBLIC_REGISTRY),
            self.namespace,
            self.repository,
            self.tag
        )
    }
}

/// What the simulated server can reach.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct Network<'a> {
    pub registries: &'a [Registry],
    pub air_gapped: bool,
}

impl Network<'_> {
    /// The model the manifest of `name` (normalized) describes, or the error line of the pull.
    pub(crate) fn manifest(
        &self,
        name: &str,
        insecure: bool,
    ) -> Result<&'static CatalogueModel, String> {
        let reference = Reference::split(name);
        let get = |why: String| {
            format!(
                "pull model manifest: Get \"{}\": {why}",
                reference.manifest_url(insecure)
            )
        };
        let missing = || "pull model manifest: file does not exist".to_string();
        let Some(host) = reference.host else {
            if self.air_gapped {
                return Err(get(no_such_host(PUBLIC_REGISTRY)));
            }
            return find_model(name).ok_or_else(missing);
        };
        let Some(registry) = self.registries.iter().find(|r| r.host == host) else {
            return Err(get(unreachable(host, insecure)));
        };
        match (registry.tls, insecure) {
            (false, false) => Err(get("http: server gave HTTP response to HTTPS client".into())),
            (true, true) => Err(
                "pull model manifest: 400: Client sent an HTTP request to an HTTPS server.\n"
                    .into(),
            ),
            _ => find_model(name).ok_or_else(missing),
        }
    }
}

/// Go's dial error for a host that is declared nowhere.
fn unreachable(host: &str, insecure: bool) -> String {
    let (name, port) = match host.rsplit_once(':') {
        Some((name, port)) => (name, port),
        None => (host, if insecure { "80" } else { "443" }),
    };
    let address = if name == "localhost" {
        Some("127.0.0.1".to_string())
    } else {
        name.parse::<IpAddr>().ok().map(|ip| ip.to_string())
    };
    match address {
        Some(ip) => format!("dial tcp {ip}:{port}: connect: connection refused"),
        None => no_such_host(name),
    }
}

fn no_such_host(name: &str) -> String {
    format!("dial tcp: lookup {name} on {RESOLVER}: no such host")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn registries(specs: &[&str]) -> Vec<Registry> {
        specs.iter().map(|s| Registry::parse(s).unwrap()).collect()
    }

    #[test]
    fn registries_parse_with_and_without_a_scheme() {
        let plain = Registry::parse("127.0.0.1:5000").unwrap();
        assert_eq!(
            plain,
            Registry {
                host: "127.0.0.1:5000".into(),
                tls: false
            }
        );
        assert_eq!(Registry::parse("http://127.0.0.1:5000/").unwrap(), plain);
        let tls = Registry::parse("HTTPS://Registry.Example.com").unwrap();
        assert_eq!(tls.host, "registry.example.com");
        assert!(tls.tls);
        assert_eq!(tls.to_string(), "https://registry.example.com");
        for (bad, why) in [
            ("", "no host"),
            ("ftp://x:1", "http:// or https://"),
            ("x:0", "1 to 65535"),
            ("x:99999", "1 to 65535"),
            ("x:port", "1 to 65535"),
            ("x/library", "not a path"),
            ("bad host", "characters"),
            ("registry.ollama.ai", "--air-gapped"),
        ] {
            let err = Registry::parse(bad).unwrap_err();
            assert!(err.contains(why), "{bad:?}: {err}");
        }
    }

    #[test]
    fn names_split_like_ollamas_parse_name() {
        assert_eq!(
            Reference::split("127.0.0.1:5000/library/smollm2:135m"),
            Reference {
                host: Some("127.0.0.1:5000"),
                namespace: "library",
                repository: "smollm2",
                tag: "135m"
            }
        );
        let public = Reference::split("smollm2:135m");
        assert_eq!((public.host, public.namespace), (None, "library"));
        assert_eq!(
            public.manifest_url(false),
            "https://registry.ollama.ai/v2/library/smollm2/manifests/135m"
        );
        assert_eq!(Reference::split("team/model:v1").namespace, "team");
    }

    #[test]
    fn manifest_errors_name_the_url_the_client_used() {
        let declared = registries(&["127.0.0.1:5000", "https://secure.example:8443"]);
        let net = Network {
            registries: &declared,
            air_gapped: false,
        };
        let smol = "127.0.0.1:5000/library/smollm2:135m";
        assert_eq!(net.manifest(smol, true).unwrap().name, "smollm2:135m");
        assert_eq!(
            net.manifest(smol, false).unwrap_err(),
            "pull model manifest: Get \"https://127.0.0.1:5000/v2/library/smollm2/manifests/135m\": \
             http: server gave HTTP response to HTTPS client"
        );
        assert_eq!(
            net.manifest("127.0.0.1:5000/library/does-not-exist:latest", true)
                .unwrap_err(),
            "pull model manifest: file does not exist"
        );
        assert_eq!(
            net.manifest("secure.example:8443/team/phi3.5:latest", false)
                .unwrap()
                .name,
            "phi3.5:3.8b"
        );
        assert!(net
            .manifest("secure.example:8443/team/phi3.5:latest", true)
            .unwrap_err()
            .starts_with("pull model manifest: 400: Client sent an HTTP request"));
        assert_eq!(
            net.manifest("nowhere.example:5000/library/smollm2:135m", false)
                .unwrap_err(),
            "pull model manifest: Get \"https://nowhere.example:5000/v2/library/smollm2/manifests/135m\": \
             dial tcp: lookup nowhere.example on 10.255.255.53:53: no such host"
        );
        assert_eq!(
            net.manifest("127.0.0.1:6000/library/smollm2:135m", true)
                .unwrap_err(),
            "pull model manifest: Get \"http://127.0.0.1:6000/v2/library/smollm2/manifests/135m\": \
             dial tcp 127.0.0.1:6000: connect: connection refused"
        );
        assert!(net
            .manifest("localhost/library/smollm2:135m", false)
            .unwrap_err()
            .ends_with("dial tcp 127.0.0.1:443: connect: connection refused"));
        assert_eq!(
            net.manifest("smollm2:135m", false).unwrap().name,
            "smollm2:135m"
        );
    }

    #[test]
    fn air_gapped_cuts_off_only_the_public_registry() {
        let declared = registries(&["127.0.0.1:5000"]);
        let net = Network {
            registries: &declared,
            air_gapped: true,
        };
        assert_eq!(
            net.manifest("smollm2:135m", false).unwrap_err(),
            "pull model manifest: Get \"https://registry.ollama.ai/v2/library/smollm2/manifests/135m\": \
             dial tcp: lookup registry.ollama.ai on 10.255.255.53:53: no such host"
        );
        assert!(net
            .manifest("this-model-does-not-exist-xyz:latest", false)
            .unwrap_err()
            .contains("/v2/library/this-model-does-not-exist-xyz/manifests/latest"));
        assert!(net
            .manifest("127.0.0.1:5000/library/smollm2:135m", true)
            .is_ok());
    }
}
