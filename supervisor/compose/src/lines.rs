//! Lines of paths in the raw text. Interpolation and merging work on YAML
//! values without positions, so an error found later is placed by walking
//! the raw text again down the error's path: the walk stops at the node with
//! an error of its own, and the YAML parser stamps that error with the node's
//! line. Only done when reporting an error, so the normal path pays nothing.

use std::fmt;

use serde::de::{self, DeserializeSeed, Deserializer, IgnoredAny, MapAccess, SeqAccess, Visitor};

/// One step of a path in a YAML document.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Seg {
    Key(String),
    Index(usize),
}

/// Renders a path as `services.web.ports[0]`.
pub fn path_string(path: &[Seg]) -> String {
    let mut s = String::new();
    for seg in path {
        match seg {
            Seg::Key(k) => {
                if !s.is_empty() {
                    s.push('.');
                }
                s.push_str(k);
            }
            Seg::Index(i) => s.push_str(&format!("[{i}]")),
        }
    }
    s
}

/// Parses `services.web.ports[0]` back into segments (keys holding dots or
/// brackets cannot round-trip, which only costs the line number).
pub fn parse_path(s: &str) -> Vec<Seg> {
    let mut out = Vec::new();
    for part in s.split('.').filter(|p| !p.is_empty()) {
        let (key, mut rest) = match part.find('[') {
            Some(i) => (&part[..i], &part[i..]),
            None => (part, ""),
        };
        if !key.is_empty() {
            out.push(Seg::Key(key.to_string()));
        }
        while let Some(r) = rest.strip_prefix('[') {
            let Some(end) = r.find(']') else { break };
            match r[..end].parse() {
                Ok(i) => out.push(Seg::Index(i)),
                Err(_) => out.push(Seg::Key(r[..end].to_string())),
            }
            rest = &r[end + 1..];
        }
    }
    out
}

const FOUND: &str = "berth-compose-found-node";
const MISSING: &str = "berth-compose-missing-node";

/// The 1-based line of the node at `path` in `text`, or of its nearest
/// ancestor present in the text (a node from an alias or a merge key is not
/// written where the path says); `None` when not even the root parses.
pub fn line_of(text: &str, path: &[Seg]) -> Option<usize> {
    deepest(text, path).map(|(_, line)| line)
}

/// How many leading segments of `path` the text has, with the line of the
/// deepest node found.
pub fn deepest(text: &str, path: &[Seg]) -> Option<(usize, usize)> {
    for len in (0..=path.len()).rev() {
        match probe(text, &path[..len]) {
            Probe::Found(line) => return Some((len, line)),
            Probe::Missing => continue,
            Probe::Broken => return None,
        }
    }
    None
}

enum Probe {
    Found(usize),
    Missing,
    Broken,
}

fn probe(text: &str, path: &[Seg]) -> Probe {
    let de = serde_norway::Deserializer::from_str(text);
    let err = match (Walk { path }).deserialize(de) {
        Ok(()) => return Probe::Missing,
        Err(e) => e,
    };
    // the message is prefixed with the parser's own path and suffixed with
    // the position
    let msg = err.to_string();
    if msg.contains(FOUND) {
        match err.location() {
            Some(loc) => Probe::Found(loc.line()),
            None => Probe::Broken,
        }
    } else if msg.contains(MISSING) {
        Probe::Missing
    } else {
        Probe::Broken
    }
}

/// Descends `path`; errors with FOUND at the target node, MISSING when a step
/// is not there.
struct Walk<'p> {
    path: &'p [Seg],
}

impl<'de> DeserializeSeed<'de> for Walk<'_> {
    type Value = ();
    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<(), D::Error> {
        d.deserialize_any(self)
    }
}

impl<'de> Visitor<'de> for Walk<'_> {
    type Value = ();

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("any node")
    }

    fn visit_bool<E: de::Error>(self, _: bool) -> Result<(), E> {
        self.leaf()
    }
    fn visit_i64<E: de::Error>(self, _: i64) -> Result<(), E> {
        self.leaf()
    }
    fn visit_u64<E: de::Error>(self, _: u64) -> Result<(), E> {
        self.leaf()
    }
    fn visit_f64<E: de::Error>(self, _: f64) -> Result<(), E> {
        self.leaf()
    }
    fn visit_str<E: de::Error>(self, _: &str) -> Result<(), E> {
        self.leaf()
    }
    fn visit_unit<E: de::Error>(self) -> Result<(), E> {
        self.leaf()
    }
    fn visit_none<E: de::Error>(self) -> Result<(), E> {
        self.leaf()
    }
    fn visit_some<D: Deserializer<'de>>(self, d: D) -> Result<(), D::Error> {
        d.deserialize_any(self)
    }

    /// A tagged node (`!reset`, `!override`): its value.
    fn visit_enum<A: de::EnumAccess<'de>>(self, data: A) -> Result<(), A::Error> {
        let (_, variant) = data.variant::<IgnoredAny>()?;
        de::VariantAccess::newtype_variant_seed(variant, self)
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<(), A::Error> {
        let Some((first, rest)) = self.path.split_first() else {
            return Err(de::Error::custom(FOUND));
        };
        let Seg::Index(want) = first else {
            return Err(de::Error::custom(MISSING));
        };
        let mut i = 0;
        loop {
            if i == *want {
                seq.next_element_seed(Walk { path: rest })?;
                return Err(de::Error::custom(MISSING));
            }
            if seq.next_element::<IgnoredAny>()?.is_none() {
                return Err(de::Error::custom(MISSING));
            }
            i += 1;
        }
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<(), A::Error> {
        let Some((first, rest)) = self.path.split_first() else {
            return Err(de::Error::custom(FOUND));
        };
        let want = match first {
            Seg::Key(k) => k.clone(),
            Seg::Index(i) => i.to_string(),
        };
        while let Some(key) = map.next_key::<KeyText>()? {
            if key.0 == want {
                map.next_value_seed(Walk { path: rest })?;
                return Err(de::Error::custom(MISSING));
            }
            map.next_value::<IgnoredAny>()?;
        }
        Err(de::Error::custom(MISSING))
    }
}

impl Walk<'_> {
    fn leaf<E: de::Error>(self) -> Result<(), E> {
        Err(de::Error::custom(if self.path.is_empty() {
            FOUND
        } else {
            MISSING
        }))
    }
}

/// A mapping key of any scalar type, as text.
struct KeyText(String);

impl<'de> de::Deserialize<'de> for KeyText {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = KeyText;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("a key")
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<KeyText, E> {
                Ok(KeyText(v.to_string()))
            }
            fn visit_i64<E: de::Error>(self, v: i64) -> Result<KeyText, E> {
                Ok(KeyText(v.to_string()))
            }
            fn visit_u64<E: de::Error>(self, v: u64) -> Result<KeyText, E> {
                Ok(KeyText(v.to_string()))
            }
            fn visit_f64<E: de::Error>(self, v: f64) -> Result<KeyText, E> {
                Ok(KeyText(v.to_string()))
            }
            fn visit_bool<E: de::Error>(self, v: bool) -> Result<KeyText, E> {
                Ok(KeyText(v.to_string()))
            }
            fn visit_unit<E: de::Error>(self) -> Result<KeyText, E> {
                Ok(KeyText("null".into()))
            }
            fn visit_seq<A: SeqAccess<'de>>(self, mut s: A) -> Result<KeyText, A::Error> {
                while s.next_element::<IgnoredAny>()?.is_some() {}
                Ok(KeyText(String::new()))
            }
            fn visit_map<A: MapAccess<'de>>(self, mut m: A) -> Result<KeyText, A::Error> {
                while m.next_entry::<IgnoredAny, IgnoredAny>()?.is_some() {}
                Ok(KeyText(String::new()))
            }
        }
        d.deserialize_any(V)
    }
}

impl fmt::Display for Seg {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Seg::Key(k) => f.write_str(k),
            Seg::Index(i) => write!(f, "[{i}]"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const TEXT: &str = "\
name: app
services:
  web:
    image: nginx
    ports:
      - \"80:80\"
      - target: 443
        published: 8443
  db:
    image: postgres
";

    #[test]
    fn finds_lines_of_keys_items_and_nested_keys() {
        assert_eq!(line_of(TEXT, &parse_path("name")), Some(1));
        assert_eq!(line_of(TEXT, &parse_path("services.web")), Some(4));
        assert_eq!(line_of(TEXT, &parse_path("services.web.image")), Some(4));
        assert_eq!(line_of(TEXT, &parse_path("services.web.ports[0]")), Some(6));
        assert_eq!(
            line_of(TEXT, &parse_path("services.web.ports[1].published")),
            Some(8)
        );
        assert_eq!(line_of(TEXT, &parse_path("services.db.image")), Some(10));
    }

    #[test]
    fn tagged_nodes_and_bad_text() {
        let text = "services:\n  web:\n    ports: !reset []\n    labels: !override\n      a: b\n";
        assert_eq!(line_of(text, &parse_path("services.web.ports")), Some(3));
        assert_eq!(line_of(text, &parse_path("services.web.labels.a")), Some(5));
    }

    #[test]
    fn missing_paths_fall_back_to_the_nearest_ancestor() {
        assert_eq!(line_of(TEXT, &parse_path("services.db.ports[3]")), Some(10));
        assert_eq!(line_of(TEXT, &parse_path("services.web.ports[7]")), Some(6));
    }

    #[test]
    fn paths_round_trip() {
        let p = parse_path("services.web.ports[0].target");
        assert_eq!(path_string(&p), "services.web.ports[0].target");
        assert_eq!(p[3], Seg::Index(0));
    }
}
