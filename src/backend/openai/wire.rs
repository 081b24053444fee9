//! The JSON the servers exchange: the streamed request body, the streamed events (read
//! borrowing from the line, first choice only, content only checked for being non-empty),
//! and the replies of `/v1/models`, `/version` and llama.cpp's router `/models`. A missing
//! `Option` field reads as `None` (serde's rule), so only other fields say `default`.

use std::borrow::Cow;
use std::fmt;

use serde::de::{self, Deserializer, IgnoredAny, SeqAccess, Visitor};
use serde::{Deserialize, Serialize};

use crate::backend::GenerationRequest;

#[derive(Serialize)]
pub(super) struct ChatMessage<'a> {
    pub(super) role: &'static str,
    pub(super) content: &'a str,
}

#[derive(Serialize)]
pub(super) struct StreamOptions {
    include_usage: bool,
    /// vLLM: usage on every chunk, so that tokens per chunk are known.
    continuous_usage_stats: bool,
}

#[derive(Serialize)]
pub(super) struct CompletionBody<'a> {
    model: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    messages: Option<&'a [ChatMessage<'a>]>,
    #[serde(skip_serializing_if = "Option::is_none")]
    prompt: Option<&'a str>,
    max_tokens: u32,
    stream: bool,
    stream_options: StreamOptions,
    /// llama.cpp: timings (with the running token count) on every chunk.
    timings_per_token: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    temperature: Option<f64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    seed: Option<i64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    top_p: Option<f64>,
    /// vLLM and llama.cpp: the end-of-sequence token does not end the generation.
    #[serde(skip_serializing_if = "Option::is_none")]
    ignore_eos: Option<bool>,
    /// vLLM: at least this many tokens.
    #[serde(skip_serializing_if = "Option::is_none")]
    min_tokens: Option<u32>,
    /// llama.cpp's own name for the token limit, which `ignore_eos` pairs with.
    #[serde(skip_serializing_if = "Option::is_none")]
    n_predict: Option<u32>,
    /// vLLM, SGLang and llama.cpp: the chat template's thinking switch (chat only).
    #[serde(skip_serializing_if = "Option::is_none")]
    chat_template_kwargs: Option<ThinkingSwitch>,
    /// Ollama's `/v1`: `{"effort": "none"}` turns thinking off (chat only; others ignore it).
    #[serde(skip_serializing_if = "Option::is_none")]
    reasoning: Option<ReasoningEffort>,
}

#[derive(Serialize)]
pub(super) struct ThinkingSwitch {
    enable_thinking: bool,
}

#[derive(Serialize)]
pub(super) struct ReasoningEffort {
    effort: &'static str,
}

impl<'a> CompletionBody<'a> {
    pub(super) fn new(
        request: &'a GenerationRequest,
        messages: Option<&'a [ChatMessage<'a>]>,
        prompt: Option<&'a str>,
    ) -> Self {
        CompletionBody {
            model: &request.model,
            messages,
            prompt,
            max_tokens: request.max_tokens,
            stream: true,
            stream_options: StreamOptions {
                include_usage: true,
                continuous_usage_stats: true,
            },
            timings_per_token: true,
            temperature: request.temperature,
            seed: request.seed,
            top_p: request.top_p,
            // Sent only when asked for: a strict server may refuse fields it does not know.
            ignore_eos: request.force_output.then_some(true),
            min_tokens: request.force_output.then_some(request.max_tokens),
            n_predict: request.force_output.then_some(request.max_tokens),
            // `/v1/completions` applies no chat template: there is nothing to switch.
            chat_template_kwargs: messages
                .and(request.think)
                .map(|enable_thinking| ThinkingSwitch { enable_thinking }),
            reasoning: messages
                .and(request.think)
                .filter(|think| !think)
                .map(|_| ReasoningEffort { effort: "none" }),
        }
    }
}

/// One streamed event; only what a benchmark reads, borrowed from the line.
#[derive(Deserialize)]
pub(super) struct StreamEvent<'a> {
    #[serde(borrow, default)]
    pub(super) choices: FirstChoice<'a>,
    pub(super) usage: Option<Usage>,
    pub(super) timings: Option<Timings>,
    pub(super) error: Option<IgnoredAny>,
    #[serde(borrow, default)]
    pub(super) object: Option<Str<'a>>,
}

#[derive(Deserialize)]
pub(super) struct Choice<'a> {
    #[serde(default)]
    delta: Option<Delta>,
    /// `/v1/completions`.
    #[serde(default)]
    text: Option<Text>,
    #[serde(borrow, default)]
    pub(super) finish_reason: Option<Str<'a>>,
}

fn some(text: &Option<Text>) -> bool {
    text.as_ref().is_some_and(|t| t.non_empty)
}

impl Choice<'_> {
    pub(super) fn has_content(&self) -> bool {
        some(&self.text)
            || self.delta.as_ref().is_some_and(|delta| {
                some(&delta.content) || some(&delta.reasoning_content) || some(&delta.reasoning)
            })
    }

    /// Reasoning text and no answer text: a thinking chunk.
    pub(super) fn is_thinking(&self) -> bool {
        self.delta.as_ref().is_some_and(|delta| {
            !some(&delta.content) && (some(&delta.reasoning_content) || some(&delta.reasoning))
        }) && !some(&self.text)
    }
}

/// A chat delta. Reasoning text (vLLM and llama.cpp `reasoning_content`, newer vLLM
/// `reasoning`) is generated output too, so it counts as content.
#[derive(Deserialize)]
pub(super) struct Delta {
    #[serde(default)]
    content: Option<Text>,
    #[serde(default)]
    reasoning_content: Option<Text>,
    #[serde(default)]
    reasoning: Option<Text>,
}

/// A string borrowed from the event when it has no escapes. (serde's own `Option<Cow<str>>`
/// always allocates.)
pub(super) struct Str<'a>(pub(super) Cow<'a, str>);

impl<'de: 'a, 'a> Deserialize<'de> for Str<'a> {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct StrVisitor<'a>(std::marker::PhantomData<&'a ()>);
        impl<'de: 'a, 'a> Visitor<'de> for StrVisitor<'a> {
            type Value = Str<'a>;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a string")
            }
            fn visit_borrowed_str<E: de::Error>(self, value: &'de str) -> Result<Str<'a>, E> {
                Ok(Str(Cow::Borrowed(value)))
            }
            fn visit_str<E: de::Error>(self, value: &str) -> Result<Str<'a>, E> {
                Ok(Str(Cow::Owned(value.to_string())))
            }
        }
        deserializer.deserialize_str(StrVisitor(std::marker::PhantomData))
    }
}

/// A string of which only its being non-empty is kept.
pub(super) struct Text {
    non_empty: bool,
}

impl<'de> Deserialize<'de> for Text {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct TextVisitor;
        impl Visitor<'_> for TextVisitor {
            type Value = Text;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a string")
            }
            fn visit_str<E: de::Error>(self, value: &str) -> Result<Text, E> {
                Ok(Text {
                    non_empty: !value.is_empty(),
                })
            }
        }
        deserializer.deserialize_str(TextVisitor)
    }
}

/// The first element of `choices` (we always ask for one); the rest is skipped unread.
#[derive(Default)]
pub(super) struct FirstChoice<'a>(pub(super) Option<Choice<'a>>);

impl<'de: 'a, 'a> Deserialize<'de> for FirstChoice<'a> {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct FirstVisitor<'a>(std::marker::PhantomData<&'a ()>);
        impl<'de: 'a, 'a> Visitor<'de> for FirstVisitor<'a> {
            type Value = FirstChoice<'a>;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("an array of choices")
            }
            fn visit_unit<E: de::Error>(self) -> Result<Self::Value, E> {
                Ok(FirstChoice(None))
            }
            fn visit_none<E: de::Error>(self) -> Result<Self::Value, E> {
                Ok(FirstChoice(None))
            }
            fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Self::Value, A::Error> {
                let first = seq.next_element::<Choice<'a>>()?;
                while seq.next_element::<IgnoredAny>()?.is_some() {}
                Ok(FirstChoice(first))
            }
        }
        deserializer.deserialize_any(FirstVisitor(std::marker::PhantomData))
    }
}

#[derive(Deserialize, Clone, Copy)]
pub(super) struct Usage {
    pub(super) prompt_tokens: Option<u64>,
    pub(super) completion_tokens: Option<u64>,
}

/// llama.cpp's `timings`; `prompt_n` may be -1 (not measured).
#[derive(Deserialize, Clone, Copy)]
pub(super) struct Timings {
    pub(super) prompt_n: Option<i64>,
    pub(super) prompt_ms: Option<f64>,
    pub(super) predicted_n: Option<i64>,
    pub(super) predicted_ms: Option<f64>,
    pub(super) predicted_per_second: Option<f64>,
}

/// OpenAI's list envelope, `{"object": "list", "data": [...]}`; a reply without `data`
/// lists nothing.
#[derive(Deserialize)]
pub(super) struct List<T> {
    pub(super) data: Option<Vec<T>>,
}

pub(super) type ModelList = List<ModelCard>;

#[derive(Deserialize)]
pub(super) struct ModelCard {
    pub(super) id: String,
    pub(super) owned_by: Option<String>,
}

#[derive(Deserialize)]
pub(super) struct VersionReply {
    pub(super) version: Option<String>,
}

/// llama.cpp's router lists its models (`GET /models`) in the same envelope.
pub(super) type RouterModelList = List<RouterModel>;

#[derive(Deserialize)]
pub(super) struct RouterModel {
    pub(super) id: String,
    #[serde(default)]
    pub(super) aliases: Vec<String>,
    pub(super) status: Option<RouterStatus>,
}

#[derive(Deserialize, Default)]
pub(super) struct RouterStatus {
    pub(super) value: Option<String>,
    #[serde(default)]
    pub(super) failed: bool,
    pub(super) exit_code: Option<i64>,
}

#[cfg(test)]
mod tests {
    use super::*;

    fn event(json: &str) -> StreamEvent<'_> {
        serde_json::from_str(json).expect("valid event")
    }

    #[test]
    fn only_the_first_choice_is_read_and_content_is_borrowed() {
        let e = event(
            r#"{"choices":[{"index":0,"delta":{"content":"a\nb"},"finish_reason":null},{"index":1,"delta":{"content":"x"}}],"object":"chat.completion.chunk"}"#,
        );
        let choice = e.choices.0.expect("first choice");
        assert!(choice.has_content());
        assert!(matches!(
            e.object,
            Some(Str(Cow::Borrowed("chat.completion.chunk")))
        ));
        assert!(choice.finish_reason.is_none());
        let finish = event(r#"{"choices":[{"delta":{},"finish_reason":"stop"}]}"#);
        let reason = finish.choices.0.and_then(|c| c.finish_reason);
        assert!(matches!(reason, Some(Str(Cow::Borrowed("stop")))));
    }

    #[test]
    fn forced_output_asks_every_server_in_its_own_words() {
        let mut request = GenerationRequest::new("m", "hi", 9);
        let plain = serde_json::to_value(CompletionBody::new(&request, None, Some("hi"))).unwrap();
        for field in ["ignore_eos", "min_tokens", "n_predict", "top_p"] {
            assert!(plain.get(field).is_none(), "{field} sent unasked: {plain}");
        }
        request.force_output = true;
        request.top_p = Some(0.5);
        let forced = serde_json::to_value(CompletionBody::new(&request, None, Some("hi"))).unwrap();
        assert_eq!(forced["ignore_eos"], true);
        assert_eq!(forced["min_tokens"], 9);
        assert_eq!(forced["n_predict"], 9);
        assert_eq!(forced["max_tokens"], 9);
        assert_eq!(forced["top_p"], 0.5);
    }

    #[test]
    fn think_becomes_the_chat_template_switch_and_ollamas_effort() {
        let mut request = GenerationRequest::new("m", "hi", 4);
        let messages = [ChatMessage {
            role: "user",
            content: "hi",
        }];
        let body = |request: &GenerationRequest, chat: bool| {
            let messages = chat.then_some(&messages[..]);
            serde_json::to_value(CompletionBody::new(request, messages, None)).unwrap()
        };
        let default = body(&request, true);
        assert!(
            default.get("chat_template_kwargs").is_none() && default.get("reasoning").is_none()
        );
        request.think = Some(true);
        let on = body(&request, true);
        assert_eq!(on["chat_template_kwargs"]["enable_thinking"], true);
        assert!(on.get("reasoning").is_none(), "{on}");
        request.think = Some(false);
        let off = body(&request, true);
        assert_eq!(off["chat_template_kwargs"]["enable_thinking"], false);
        assert_eq!(off["reasoning"]["effort"], "none");
        let completion = body(&request, false);
        assert!(
            completion.get("chat_template_kwargs").is_none(),
            "{completion}"
        );
    }

    #[test]
    fn empty_null_and_missing_content_are_not_content() {
        for json in [
            r#"{"choices":[{"delta":{"role":"assistant","content":null}}]}"#,
            r#"{"choices":[{"delta":{"role":"assistant","content":""}}]}"#,
            r#"{"choices":[{"delta":{},"finish_reason":"stop"}]}"#,
            r#"{"choices":[],"usage":{"prompt_tokens":1,"completion_tokens":2}}"#,
            r#"{"choices":null}"#,
        ] {
            let e = event(json);
            assert!(!e.choices.0.is_some_and(|c| c.has_content()), "{json}");
        }
        let reasoning = event(r#"{"choices":[{"delta":{"reasoning_content":"hmm"}}]}"#);
        let choice = reasoning.choices.0.unwrap();
        assert!(choice.has_content() && choice.is_thinking());
        let answer = event(r#"{"choices":[{"delta":{"content":"a","reasoning":""}}]}"#);
        assert!(!answer.choices.0.unwrap().is_thinking());
        let text = event(r#"{"choices":[{"text":" hi","finish_reason":null}]}"#);
        assert!(text.choices.0.unwrap().has_content());
    }
}
