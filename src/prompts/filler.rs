//! Filler text for prompts sized in tokens: one fixed sequence of common words, so that a
//! prompt of `n` words is always the first `n` words of it. Calibration then measures the
//! very text that is sent, and adding or removing words at the end changes the count by a
//! predictable amount on any tokenizer. A request's distinct opening is a fixed-width
//! number, whose token count does not depend on its value.

/// Common English words: each is one or two tokens on the usual tokenizers.
const WORDS: [&str; 64] = [
    "the",
    "system",
    "report",
    "shows",
    "that",
    "every",
    "node",
    "in",
    "our",
    "cluster",
    "handles",
    "requests",
    "from",
    "many",
    "users",
    "during",
    "busy",
    "hours",
    "and",
    "some",
    "models",
    "load",
    "slowly",
    "when",
    "storage",
    "is",
    "shared",
    "between",
    "teams",
    "while",
    "memory",
    "stays",
    "free",
    "for",
    "other",
    "work",
    "a",
    "careful",
    "review",
    "of",
    "throughput",
    "latency",
    "queues",
    "helps",
    "plan",
    "capacity",
    "before",
    "the",
    "next",
    "quarter",
    "begins",
    "with",
    "new",
    "product",
    "launches",
    "across",
    "several",
    "regions",
    "where",
    "demand",
    "grows",
    "each",
    "month",
    "steadily",
];

/// Words per sentence: a full stop keeps the text plausible without a varying structure.
const SENTENCE_WORDS: usize = 16;

/// The first `words` words of the filler sequence, in sentences.
pub fn filler(words: usize) -> String {
    filler_range(0, words)
}

/// Words `start..end` of the filler sequence (the same words at the same positions as
/// [`filler`] gives them).
pub fn filler_range(start: usize, end: usize) -> String {
    let mut text = String::with_capacity((end.saturating_sub(start)) * 7);
    for index in start..end {
        if index > start {
            text.push(' ');
        }
        // A multiplier coprime with 64 walks every word before one repeats, and a shift per
        // round keeps a long prompt from repeating itself exactly every 64 words.
        let round = index / WORDS.len();
        let word = WORDS[(index * 37 + round * 11) % WORDS.len()];
        text.push_str(word);
        if (index + 1) % SENTENCE_WORDS == 0 || index + 1 == end {
            text.push('.');
        }
    }
    text
}

/// A request's distinct opening: `Request 240000:` for request 42, its six digits
/// reversed. The same width for every request, so the same number of tokens; the fastest
/// changing digit first, so that consecutive requests differ right after `Request ` and a
/// prefix cache reuses the same few tokens of each (servers that report only the tokens
/// they evaluated then count every request alike).
pub fn request_tag(index: u64) -> String {
    let digits: String = format!("{:06}", index % 1_000_000).chars().rev().collect();
    format!("Request {digits}:")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn filler_is_a_prefix_of_itself_and_ranges_line_up() {
        let long = filler(100);
        let short = filler(40);
        assert_eq!(long.split(' ').count(), 100);
        assert!(long.starts_with(short.trim_end_matches('.')));
        let joined = format!("{} {}", filler_range(0, 30), filler_range(30, 100));
        assert_eq!(
            joined.replace('.', ""),
            long.replace('.', ""),
            "the two ranges make the same words"
        );
        assert_eq!(filler(0), "");
    }

    #[test]
    fn request_tags_have_one_width() {
        assert_eq!(request_tag(42), "Request 240000:");
        assert_ne!(request_tag(9)[..9], request_tag(10)[..9]);
        assert_eq!(request_tag(0).len(), request_tag(999_999).len());
        assert_ne!(request_tag(1), request_tag(2));
    }
}
