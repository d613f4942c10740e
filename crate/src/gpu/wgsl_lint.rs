//! Checks of our WGSL for rules that naga (the native front end) does not enforce but Tint
//! (Chromium's) does. Without them such a shader passes every native test and fails only in the
//! browser.
//! - The operands of `|`, `&` and `^` must be unary expressions, so a bitwise operator may not
//!   share a parenthesis level with any other binary operator (`a & b * c`, `a | b & c`).
//! - A constant expression may not evaluate to an infinity or a NaN, so `bitcast<f32>` of a
//!   literal with those bits is refused (a runtime value may be infinite).
//!
//! Scanners, not a parser: they know our sources' shapes (templates such as `vec4<u32>` and
//! `bitcast<vec4<i32>>`, comments, preprocessor lines).

/// Binary operators of one expression level, by kind: bitwise (`|`, `&`, `^`) or other.
#[derive(Default)]
struct Level {
    bitwise: Vec<&'static str>,
    other: bool,
}

/// The type constructors and builtins whose `<` opens a template list.
const TEMPLATED: &[&str] = &["vec2", "vec3", "vec4", "mat2x2", "mat3x3", "mat4x4", "array", "bitcast", "ptr", "atomic"];

/// Lines of `src` where a bitwise operator shares its level with another binary operator.
pub fn mixed_bitwise(src: &str) -> Vec<(usize, String)> {
    let mut found = Vec::new();
    for (n, line) in src.lines().enumerate() {
        let code = line.split("//").next().unwrap_or("");
        if code.trim_start().starts_with('#') {
            continue;
        }
        if mixes(code) {
            found.push((n + 1, line.trim().to_string()));
        }
    }
    found
}

/// Lines of `src` that bitcast a literal with the bits of an f32 infinity or NaN (a constant
/// expression Tint refuses).
pub fn nonfinite_constants(src: &str) -> Vec<(usize, String)> {
    let mut found = Vec::new();
    for (n, line) in src.lines().enumerate() {
        let code = line.split("//").next().unwrap_or("");
        for (at, _) in code.match_indices("bitcast<f32>(") {
            let arg = code[at + "bitcast<f32>(".len()..].trim_start();
            let digits: String = arg.strip_prefix("0x").unwrap_or("").chars().take_while(char::is_ascii_hexdigit).collect();
            if let Ok(bits) = u32::from_str_radix(&digits, 16) {
                if !f32::from_bits(bits).is_finite() {
                    found.push((n + 1, line.trim().to_string()));
                }
            }
        }
    }
    found
}

fn mixes(code: &str) -> bool {
    let b = code.as_bytes();
    let mut levels = vec![Level::default()];
    // Whether the previous token ends an operand (so that a following `-` or `&` is binary).
    let mut operand = false;
    let mut bad = false;
    let mut i = 0;
    let close = |l: Level| !l.bitwise.is_empty() && (l.other || l.bitwise.iter().any(|o| *o != l.bitwise[0]));
    while i < b.len() {
        let c = b[i];
        if c.is_ascii_alphanumeric() || c == b'_' || c == b'.' {
            let start = i;
            while i < b.len() && (b[i].is_ascii_alphanumeric() || b[i] == b'_' || b[i] == b'.') {
                i += 1;
            }
            let word = &code[start..i];
            if i < b.len() && b[i] == b'<' && TEMPLATED.contains(&word) {
                let mut depth = 0;
                while i < b.len() {
                    match b[i] {
                        b'<' => depth += 1,
                        b'>' => {
                            depth -= 1;
                            if depth == 0 {
                                i += 1;
                                break;
                            }
                        }
                        _ => {}
                    }
                    i += 1;
                }
            }
            operand = !matches!(word, "return" | "let" | "var" | "if" | "else" | "for" | "while");
            continue;
        }
        let two = if i + 1 < b.len() { &code[i..i + 2] } else { "" };
        match c {
            b'(' | b'[' => {
                levels.push(Level::default());
                operand = false;
            }
            b')' | b']' => {
                if levels.len() > 1 {
                    bad |= close(levels.pop().unwrap());
                }
                operand = true;
            }
            b',' | b';' | b'{' | b'}' | b':' => {
                bad |= close(std::mem::take(levels.last_mut().unwrap()));
                operand = false;
            }
            _ if matches!(two, "<<" | ">>" | "&&" | "||" | "==" | "!=" | "<=" | ">=" | "->") => {
                levels.last_mut().unwrap().other |= two != "->";
                operand = false;
                i += 2;
                continue;
            }
            _ if two.len() == 2 && two.ends_with('=') && b"+-*/%|&^<>".contains(&c) => {
                // A compound assignment ends the left-hand side.
                bad |= close(std::mem::take(levels.last_mut().unwrap()));
                operand = false;
                i += 2;
                continue;
            }
            b'=' => {
                bad |= close(std::mem::take(levels.last_mut().unwrap()));
                operand = false;
            }
            b'|' | b'&' | b'^' if operand => {
                levels.last_mut().unwrap().bitwise.push(match c {
                    b'|' => "|",
                    b'&' => "&",
                    _ => "^",
                });
                operand = false;
            }
            b'+' | b'-' | b'*' | b'/' | b'%' | b'<' | b'>' if operand => {
                levels.last_mut().unwrap().other = true;
                operand = false;
            }
            _ => {}
        }
        i += 1;
    }
    while let Some(l) = levels.pop() {
        bad |= close(l);
    }
    bad
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn no_shader_mixes_bitwise_operators_with_others() {
        let mut all = Vec::new();
        for (name, src) in crate::gpu::shader::SHADERS {
            for (n, line) in mixed_bitwise(src) {
                all.push(format!("shaders/{name}:{n}: {line}"));
            }
        }
        assert!(all.is_empty(), "Tint requires parentheses here:\n{}", all.join("\n"));
    }

    #[test]
    fn no_shader_has_an_infinite_constant() {
        let mut all = Vec::new();
        for (name, src) in crate::gpu::shader::SHADERS {
            for (n, line) in nonfinite_constants(src) {
                all.push(format!("shaders/{name}:{n}: {line}"));
            }
        }
        assert!(all.is_empty(), "Tint refuses constant infinities and NaNs:\n{}", all.join("\n"));
    }

    #[test]
    fn the_scanner_finds_infinite_constants() {
        for bad in ["L[i] = bitcast<f32>(0xff800000u);", "x = bitcast<f32>( 0x7f800000u) + y;", "let n = bitcast<f32>(0x7fc00000u);"] {
            assert_eq!(nonfinite_constants(bad).len(), 1, "{bad}");
        }
        for good in ["L[i] = bitcast<f32>(bits);", "let m = bitcast<f32>(0x7f7fffffu);", "// bitcast<f32>(0xff800000u)"] {
            assert!(nonfinite_constants(good).is_empty(), "{good}");
        }
    }

    #[test]
    fn the_scanner_tells_mixed_levels_from_parenthesized_ones() {
        for bad in ["let v = (q & m) * up | (h & m) * bup;", "x = a & b | c;", "return a ^ b + c;", "let t = w & m << 4u;"] {
            assert!(mixes(bad), "{bad}");
        }
        for good in [
            "let v = ((q & m) * up) | ((h & m) * bup);",
            "return vec4<f32>(bitcast<vec4<i32>>(vec4<u32>(w) & m));",
            "let a = -x * y + f(p & q, r | s);",
            "return (a & b) == 0u && c < d;",
            "acc[r] += dot(q_get4(blk0[r] + b, i), xv);",
            "let s = x & 0xffu;",
            "y |= a * b;",
        ] {
            assert!(!mixes(good), "{good}");
        }
    }
}
