//! Bytes to JSON: the encodings result files arrive in (UTF-8 with or without a byte-order
//! mark, UTF-16 with one, as Windows PowerShell's `Out-File` writes), Windows line endings, and
//! the position of the first problem when the text is not JSON.

use serde_json::Value;

/// Why bytes are not JSON. The reader adds the file's path.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DecodeError {
    /// Nothing but white space.
    Empty,
    /// Bytes that are not UTF-8, at this position (1-based).
    NotUtf8 { line: usize, column: usize },
    /// A UTF-16 byte-order mark followed by something that is not UTF-16.
    NotUtf16,
    /// Text that is not JSON, at this position (1-based).
    Malformed {
        line: usize,
        column: usize,
        message: String,
    },
    /// serde_json gave up without a position (nesting too deep, for one).
    Unparsable { message: String },
}

/// Decodes and parses a whole file.
pub fn parse(bytes: &[u8]) -> Result<Value, DecodeError> {
    let text = text(bytes)?;
    if text.trim().is_empty() {
        return Err(DecodeError::Empty);
    }
    // CRLF needs nothing: JSON counts `\r` as white space, and serde_json counts lines by `\n`.
    serde_json::from_str(&text).map_err(|err| {
        if err.line() == 0 {
            return DecodeError::Unparsable {
                message: err.to_string(),
            };
        }
        let message = err.to_string();
        // serde_json appends " at line L column C"; the position is kept apart.
        let message = match message.rfind(" at line ") {
            Some(at) => message[..at].to_string(),
            None => message,
        };
        DecodeError::Malformed {
            line: err.line(),
            column: err.column(),
            message,
        }
    })
}

/// The text of a file, its byte-order mark removed.
fn text(bytes: &[u8]) -> Result<String, DecodeError> {
    match bytes {
        [0xEF, 0xBB, 0xBF, rest @ ..] => utf8(rest),
        [0xFF, 0xFE, rest @ ..] => utf16(rest, u16::from_le_bytes),
        [0xFE, 0xFF, rest @ ..] => utf16(rest, u16::from_be_bytes),
        _ => utf8(bytes),
    }
}

fn utf16(bytes: &[u8], unit: fn([u8; 2]) -> u16) -> Result<String, DecodeError> {
    // A trailing odd byte is dropped, as before: the JSON parse then says what is missing.
    let units: Vec<u16> = bytes
        .chunks_exact(2)
        .map(|pair| unit([pair[0], pair[1]]))
        .collect();
    String::from_utf16(&units).map_err(|_| DecodeError::NotUtf16)
}

fn utf8(bytes: &[u8]) -> Result<String, DecodeError> {
    String::from_utf8(bytes.to_vec()).map_err(|err| {
        let before = &bytes[..err.utf8_error().valid_up_to()];
        let line = before.iter().filter(|b| **b == b'\n').count() + 1;
        let line_start = before
            .iter()
            .rposition(|b| *b == b'\n')
            .map_or(0, |p| p + 1);
        DecodeError::NotUtf8 {
            line,
            column: before.len() - line_start + 1,
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn utf16le(text: &str) -> Vec<u8> {
        let mut bytes = vec![0xFF, 0xFE];
        for unit in text.encode_utf16() {
            bytes.extend_from_slice(&unit.to_le_bytes());
        }
        bytes
    }

    #[test]
    fn bom_crlf_and_utf16_decode_to_the_same_json() {
        let text = "{\r\n  \"Timestamp\": \"2025-10-31 14:30:00\"\r\n}\r\n";
        let mut bom = vec![0xEF, 0xBB, 0xBF];
        bom.extend_from_slice(text.as_bytes());
        let plain = parse(text.as_bytes()).unwrap();
        assert_eq!(parse(&bom).unwrap(), plain);
        assert_eq!(parse(&utf16le(text)).unwrap(), plain);
        let mut big_endian = vec![0xFE, 0xFF];
        for unit in text.encode_utf16() {
            big_endian.extend_from_slice(&unit.to_be_bytes());
        }
        assert_eq!(parse(&big_endian).unwrap(), plain);
    }

    #[test]
    fn malformed_json_has_line_and_column() {
        let err = parse(b"{\r\n  \"A\": 1,\r\n  \"B\": ]\r\n}").unwrap_err();
        let DecodeError::Malformed {
            line,
            column,
            message,
        } = err
        else {
            panic!("{err:?}")
        };
        assert_eq!((line, column), (3, 8));
        assert!(!message.contains("at line"), "{message}");
    }

    #[test]
    fn empty_odd_and_binary_files_are_told_apart() {
        assert_eq!(parse(b" \r\n").unwrap_err(), DecodeError::Empty);
        assert_eq!(parse(&[0xEF, 0xBB, 0xBF]).unwrap_err(), DecodeError::Empty);
        assert_eq!(parse(&[0xFF, 0xFE, b'{']).unwrap_err(), DecodeError::Empty);
        assert_eq!(
            parse(b"{\n \"A\": \"\xFF\"}").unwrap_err(),
            DecodeError::NotUtf8 { line: 2, column: 8 }
        );
        // Unpaired surrogate.
        assert_eq!(
            parse(&[0xFF, 0xFE, 0x00, 0xD8]).unwrap_err(),
            DecodeError::NotUtf16
        );
    }
}
