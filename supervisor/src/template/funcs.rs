//! The template functions docker users call: Go's built-ins (`len`,
//! `index`, `slice`, `print*`, `eq`…, `and`/`or`/`not`) and docker's own
//! (`json`, `split`, `join`, `title`, `lower`, `upper`, `pad`,
//! `truncate`), and how Go prints values (`[a b]`, `map[k:v]`).

use serde_json::Value;

const NAMES: [&str; 27] = [
    "and", "or", "not", "len", "index", "slice", "print", "printf", "println", "eq", "ne", "lt",
    "le", "gt", "ge", "json", "split", "join", "title", "lower", "upper", "pad", "truncate",
    "html", "urlquery", "js", "call",
];

/// Whether `name` is a function a template may call.
pub fn exists(name: &str) -> bool {
    NAMES.contains(&name)
}

/// Go's truth: false, 0, nil and empty strings, slices and maps are false.
pub fn truthy(v: &Value) -> bool {
    match v {
        Value::Null => false,
        Value::Bool(b) => *b,
        Value::Number(n) => n.as_f64().is_some_and(|f| f != 0.0),
        Value::String(s) => !s.is_empty(),
        Value::Array(a) => !a.is_empty(),
        Value::Object(o) => !o.is_empty(),
    }
}

/// Go's type name of a JSON value, for error messages.
pub fn type_name(v: &Value) -> &'static str {
    match v {
        Value::Null => "<nil>",
        Value::Bool(_) => "bool",
        Value::Number(n) if n.is_f64() => "float64",
        Value::Number(_) => "int",
        Value::String(_) => "string",
        Value::Array(_) => "[]interface {}",
        Value::Object(_) => "map[string]interface {}",
    }
}

/// A value as `fmt.Sprint` shows it: strings bare, `[a b]`, `map[k:v]`.
pub fn go_string(v: &Value) -> String {
    match v {
        Value::Null => "<nil>".into(),
        Value::String(s) => s.clone(),
        Value::Array(a) => format!(
            "[{}]",
            a.iter().map(go_string).collect::<Vec<_>>().join(" ")
        ),
        Value::Object(o) => format!(
            "map[{}]",
            o.iter()
                .map(|(k, x)| format!("{k}:{}", go_string(x)))
                .collect::<Vec<_>>()
                .join(" ")
        ),
        Value::Number(n) => match (n.as_i64(), n.as_u64()) {
            (Some(i), _) => i.to_string(),
            (_, Some(u)) => u.to_string(),
            _ => n.as_f64().map(go_float).unwrap_or_default(),
        },
        Value::Bool(b) => b.to_string(),
    }
}

/// `%v` of a float64: shortest form, exponent from 1e21 as Go.
fn go_float(f: f64) -> String {
    if f.abs() >= 1e21 || (f != 0.0 && f.abs() < 1e-4) {
        let s = format!("{f:e}");
        // Go writes e+21 and e-05
        match s.split_once('e') {
            Some((m, e)) => {
                let (sign, digits) = match e.strip_prefix('-') {
                    Some(d) => ('-', d),
                    None => ('+', e),
                };
                format!("{m}e{sign}{digits:0>2}")
            }
            None => s,
        }
    } else {
        format!("{f}")
    }
}

/// What docker's `json` function prints: compact, with `<`, `>` and `&`
/// escaped as Go's encoder does.
pub fn json_go(v: &Value) -> String {
    v.to_string()
        .replace('<', "\\u003c")
        .replace('>', "\\u003e")
        .replace('&', "\\u0026")
        .replace('\u{2028}', "\\u2028")
        .replace('\u{2029}', "\\u2029")
}

fn want(name: &str, args: &[Value], n: usize) -> Result<(), String> {
    if args.len() == n {
        Ok(())
    } else {
        Err(format!(
            "wrong number of args for {name}: want {n} got {}",
            args.len()
        ))
    }
}

fn string_arg(name: &str, v: &Value) -> Result<String, String> {
    match v {
        Value::String(s) => Ok(s.clone()),
        other => Err(format!(
            "error calling {name}: wrong type for value; expected string; got {}",
            type_name(other)
        )),
    }
}

fn int_arg(name: &str, v: &Value) -> Result<i64, String> {
    v.as_i64().ok_or_else(|| {
        format!(
            "error calling {name}: wrong type for value; expected int; got {}",
            type_name(v)
        )
    })
}

/// Calls function `name` on evaluated `args` (`and`/`or` are evaluated
/// lazily by the caller and never reach here with unevaluated operands).
pub fn call(name: &str, args: Vec<Value>) -> Result<Value, String> {
    let s = |x: String| Ok(Value::String(x));
    match name {
        "and" => Ok(args
            .iter()
            .find(|a| !truthy(a))
            .or(args.last())
            .cloned()
            .unwrap_or(Value::Null)),
        "or" => Ok(args
            .iter()
            .find(|a| truthy(a))
            .or(args.last())
            .cloned()
            .unwrap_or(Value::Null)),
        "not" => {
            want(name, &args, 1)?;
            Ok(Value::Bool(!truthy(&args[0])))
        }
        "len" => {
            want(name, &args, 1)?;
            let n = match &args[0] {
                Value::String(x) => x.len(),
                Value::Array(a) => a.len(),
                Value::Object(o) => o.len(),
                Value::Null => 0,
                other => {
                    return Err(format!(
                        "error calling len: len of type {}",
                        type_name(other)
                    ))
                }
            };
            Ok(Value::from(n))
        }
        "index" => {
            let (first, keys) = args
                .split_first()
                .ok_or("wrong number of args for index: want at least 1 got 0")?;
            let mut cur = first.clone();
            for k in keys {
                cur = index(&cur, k)?;
            }
            Ok(cur)
        }
        "slice" => {
            let (first, bounds) = args
                .split_first()
                .ok_or("wrong number of args for slice: want at least 1 got 0")?;
            let b: Vec<i64> = bounds
                .iter()
                .map(|x| int_arg("slice", x))
                .collect::<Result<_, _>>()?;
            let len = match first {
                Value::String(x) => x.len(),
                Value::Array(a) => a.len(),
                other => {
                    return Err(format!(
                        "error calling slice: can't slice item of type {}",
                        type_name(other)
                    ))
                }
            } as i64;
            let lo = b.first().copied().unwrap_or(0);
            let hi = b.get(1).copied().unwrap_or(len);
            if lo < 0 || hi < lo || hi > len {
                return Err(format!(
                    "error calling slice: index out of range: {}",
                    if hi > len { hi } else { lo }
                ));
            }
            let (lo, hi) = (lo as usize, hi as usize);
            Ok(match first {
                Value::String(x) => Value::String(x.get(lo..hi).unwrap_or_default().to_string()),
                Value::Array(a) => Value::Array(a[lo..hi].to_vec()),
                _ => Value::Null,
            })
        }
        "print" => s(sprint(&args)),
        "println" => s(format!(
            "{}\n",
            args.iter().map(go_string).collect::<Vec<_>>().join(" ")
        )),
        "printf" => {
            let (f, rest) = args
                .split_first()
                .ok_or("wrong number of args for printf: want at least 1 got 0")?;
            s(sprintf(&string_arg("printf", f)?, rest))
        }
        "eq" => {
            let (first, rest) = args
                .split_first()
                .ok_or("error calling eq: missing argument for comparison")?;
            if rest.is_empty() {
                return Err("error calling eq: missing argument for comparison".into());
            }
            for r in rest {
                if compare(first, r, "eq")? == std::cmp::Ordering::Equal {
                    return Ok(Value::Bool(true));
                }
            }
            Ok(Value::Bool(false))
        }
        "ne" | "lt" | "le" | "gt" | "ge" => {
            want(name, &args, 2)?;
            let o = compare(&args[0], &args[1], name)?;
            use std::cmp::Ordering::*;
            Ok(Value::Bool(match name {
                "ne" => o != Equal,
                "lt" => o == Less,
                "le" => o != Greater,
                "gt" => o == Greater,
                _ => o != Less,
            }))
        }
        "json" => {
            want(name, &args, 1)?;
            s(json_go(&args[0]))
        }
        "split" => {
            want(name, &args, 2)?;
            let (x, sep) = (string_arg(name, &args[0])?, string_arg(name, &args[1])?);
            let parts: Vec<Value> = if sep.is_empty() {
                x.chars().map(|c| Value::String(c.to_string())).collect()
            } else {
                x.split(sep.as_str())
                    .map(|p| Value::String(p.into()))
                    .collect()
            };
            Ok(Value::Array(parts))
        }
        "join" => {
            want(name, &args, 2)?;
            let sep = string_arg(name, &args[1])?;
            match &args[0] {
                Value::Array(a) => s(a.iter().map(go_string).collect::<Vec<_>>().join(&sep)),
                Value::Null => s(String::new()),
                other => Err(format!(
                    "error calling join: wrong type for value; expected []string; got {}",
                    type_name(other)
                )),
            }
        }
        "title" => {
            want(name, &args, 1)?;
            s(title(&string_arg(name, &args[0])?))
        }
        "lower" => {
            want(name, &args, 1)?;
            s(string_arg(name, &args[0])?.to_lowercase())
        }
        "upper" => {
            want(name, &args, 1)?;
            s(string_arg(name, &args[0])?.to_uppercase())
        }
        "pad" => {
            want(name, &args, 3)?;
            let x = string_arg(name, &args[0])?;
            let before = int_arg(name, &args[1])?.max(0) as usize;
            let after = int_arg(name, &args[2])?.max(0) as usize;
            if x.is_empty() {
                return s(x);
            }
            s(format!("{}{x}{}", " ".repeat(before), " ".repeat(after)))
        }
        "truncate" => {
            want(name, &args, 2)?;
            let x = string_arg(name, &args[0])?;
            let n = int_arg(name, &args[1])?.max(0) as usize;
            s(x.chars().take(n).collect())
        }
        "html" => s(sprint(&args)
            .replace('&', "&amp;")
            .replace('\'', "&#39;")
            .replace('<', "&lt;")
            .replace('>', "&gt;")
            .replace('"', "&#34;")),
        "js" => s(sprint(&args)
            .replace('\\', "\\\\")
            .replace('\'', "\\'")
            .replace('"', "\\\"")
            .replace('<', "\\u003C")
            .replace('>', "\\u003E")),
        "urlquery" => s(sprint(&args)
            .bytes()
            .map(|b| match b {
                b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                    (b as char).to_string()
                }
                b' ' => "+".into(),
                b => format!("%{b:02X}"),
            })
            .collect()),
        _ => Err(format!("error calling {name}: not a function value")),
    }
}

/// `index` one level: arrays by number, maps by key. A map without the
/// key yields its zero value: "" for maps of strings (labels), else nil.
fn index(v: &Value, k: &Value) -> Result<Value, String> {
    match (v, k) {
        (Value::Array(a), k) => {
            let i = k.as_i64().ok_or_else(|| {
                format!(
                    "error calling index: cannot index slice/array with type {}",
                    type_name(k)
                )
            })?;
            a.get(usize::try_from(i).unwrap_or(usize::MAX))
                .cloned()
                .ok_or_else(|| format!("error calling index: index out of range: {i}"))
        }
        (Value::String(x), k) => {
            let i = k.as_i64().ok_or_else(|| {
                format!(
                    "error calling index: cannot index string with type {}",
                    type_name(k)
                )
            })?;
            x.as_bytes()
                .get(usize::try_from(i).unwrap_or(usize::MAX))
                .map(|b| Value::from(*b))
                .ok_or_else(|| format!("error calling index: index out of range: {i}"))
        }
        (Value::Object(o), Value::String(key)) => Ok(match o.get(key) {
            Some(x) => x.clone(),
            None if o.values().all(Value::is_string) => Value::String(String::new()),
            None => Value::Null,
        }),
        (Value::Object(_), k) => Err(format!(
            "error calling index: value has type {}; should be string",
            type_name(k)
        )),
        // a nil map indexes to its zero value, as Go's
        (Value::Null, _) => Ok(Value::Null),
        (other, _) => Err(format!(
            "error calling index: can't index item of type {}",
            type_name(other)
        )),
    }
}

/// Go's comparison for `eq`, `lt`…: numbers with numbers, strings with
/// strings, bools and nil only for equality.
fn compare(a: &Value, b: &Value, name: &str) -> Result<std::cmp::Ordering, String> {
    use std::cmp::Ordering::*;
    let ordered = !matches!(name, "eq" | "ne");
    match (a, b) {
        (Value::Number(x), Value::Number(y)) => {
            Ok(x.as_f64().partial_cmp(&y.as_f64()).unwrap_or(Equal))
        }
        (Value::String(x), Value::String(y)) => Ok(x.cmp(y)),
        (Value::Bool(x), Value::Bool(y)) if !ordered => Ok(if x == y { Equal } else { Less }),
        (Value::Null, Value::Null) if !ordered => Ok(Equal),
        _ if !ordered && (a.is_null() || b.is_null()) => Ok(Less),
        _ => Err(format!(
            "error calling {name}: incompatible types for comparison"
        )),
    }
}

/// `fmt.Sprint`: a space between operands when neither is a string.
fn sprint(args: &[Value]) -> String {
    let mut out = String::new();
    for (i, a) in args.iter().enumerate() {
        if i > 0 && !a.is_string() && !args[i - 1].is_string() {
            out.push(' ');
        }
        out.push_str(&go_string(a));
    }
    out
}

/// `strings.Title`: each word's first letter upper-cased.
fn title(x: &str) -> String {
    let mut out = String::new();
    let mut start = true;
    for c in x.chars() {
        if start && c.is_alphabetic() {
            out.extend(c.to_uppercase());
        } else {
            out.push(c);
        }
        start = !(c.is_alphanumeric() || c == '_' || c == '\'');
    }
    out
}

/// `fmt.Sprintf` for the verbs templates use: `%s %v %d %q %t %f %x %%`,
/// with `-`, `0`, `+` flags, width and precision.
pub fn sprintf(f: &str, args: &[Value]) -> String {
    let mut out = String::new();
    let mut next = 0;
    let mut chars = f.chars().peekable();
    while let Some(c) = chars.next() {
        if c != '%' {
            out.push(c);
            continue;
        }
        let (mut left, mut zero, mut plus) = (false, false, false);
        while let Some(&fl) = chars.peek() {
            match fl {
                '-' => left = true,
                '0' => zero = true,
                '+' => plus = true,
                ' ' | '#' => {}
                _ => break,
            }
            chars.next();
        }
        let mut width = String::new();
        while let Some(&d) = chars.peek().filter(|d| d.is_ascii_digit()) {
            width.push(d);
            chars.next();
        }
        let mut prec: Option<usize> = None;
        if chars.peek() == Some(&'.') {
            chars.next();
            let mut p = String::new();
            while let Some(&d) = chars.peek().filter(|d| d.is_ascii_digit()) {
                p.push(d);
                chars.next();
            }
            prec = Some(p.parse().unwrap_or(0));
        }
        let Some(verb) = chars.next() else {
            out.push_str("%!(NOVERB)");
            break;
        };
        if verb == '%' {
            out.push('%');
            continue;
        }
        let Some(arg) = args.get(next) else {
            out.push_str(&format!("%!{verb}(MISSING)"));
            continue;
        };
        next += 1;
        let bad = || format!("%!{verb}({}={})", type_name(arg), go_string(arg));
        let body = match verb {
            'v' | 's' => {
                let x = go_string(arg);
                match prec {
                    Some(p) if verb == 's' => x.chars().take(p).collect(),
                    _ => x,
                }
            }
            'q' => match arg {
                Value::String(x) => format!("{x:?}"),
                _ => bad(),
            },
            'd' => match arg.as_i64() {
                Some(n) if plus && n >= 0 => format!("+{n}"),
                Some(n) => n.to_string(),
                None => bad(),
            },
            'f' | 'F' => match arg.as_f64() {
                Some(x) => format!("{x:.*}", prec.unwrap_or(6)),
                None => bad(),
            },
            'x' | 'X' => {
                let x = match arg {
                    Value::String(x) => x.bytes().map(|b| format!("{b:02x}")).collect(),
                    other => match other.as_i64() {
                        Some(n) => format!("{n:x}"),
                        None => bad(),
                    },
                };
                if verb == 'X' {
                    x.to_uppercase()
                } else {
                    x
                }
            }
            't' => match arg {
                Value::Bool(b) => b.to_string(),
                _ => bad(),
            },
            _ => format!("%!{verb}({}={})", type_name(arg), go_string(arg)),
        };
        let w: usize = width.parse().unwrap_or(0);
        let len = body.chars().count();
        if len >= w {
            out.push_str(&body);
        } else if left {
            out.push_str(&body);
            out.push_str(&" ".repeat(w - len));
        } else if zero && arg.is_number() {
            let (sign, digits) = match body.strip_prefix('-') {
                Some(d) => ("-", d.to_string()),
                None => ("", body.clone()),
            };
            out.push_str(sign);
            out.push_str(&"0".repeat(w - len));
            out.push_str(&digits);
        } else {
            out.push_str(&" ".repeat(w - len));
            out.push_str(&body);
        }
    }
    if next < args.len() {
        out.push_str("%!(EXTRA ");
        out.push_str(
            &args[next..]
                .iter()
                .map(|a| format!("{}={}", type_name(a), go_string(a)))
                .collect::<Vec<_>>()
                .join(", "),
        );
        out.push(')');
    }
    out
}
