//! The OpenAI-compatible server-sent event stream: the input is a response body, read line by
//! line as `OpenAiClient::generate` reads it (`data:` events, `[DONE]`, usage and timings
//! chunks, errors mid-stream).
#![no_main]

use libfuzzer_sys::fuzz_target;
use ollabench::backend::openai::read_event_lines;

fuzz_target!(|body: &[u8]| {
    let result = read_event_lines(ollabench_fuzz::lines(body), 128);
    ollabench_fuzz::check(&result);
});
