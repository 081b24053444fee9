//! Ollama's NDJSON generation stream: the input is a response body, read line by line as
//! `OllamaClient::generate` reads it.
#![no_main]

use libfuzzer_sys::fuzz_target;
use ollabench::backend::ollama::read_generation_lines;

fuzz_target!(|body: &[u8]| {
    let result = read_generation_lines(ollabench_fuzz::lines(body));
    ollabench_fuzz::check(&result);
});
