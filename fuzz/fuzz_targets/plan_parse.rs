//! The plan YAML loader and validator: any text is a plan or a list of errors.
#![no_main]

use libfuzzer_sys::fuzz_target;
use std::sync::OnceLock;

fn catalog() -> &'static leaver_connector::Registry {
    static CATALOG: OnceLock<leaver_connector::Registry> = OnceLock::new();
    CATALOG.get_or_init(|| {
        leaver::connectors::build_catalog(&leaver_connector::Registry::new())
            .expect("the spec-only connector catalog builds")
    })
}

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    if let Err(errors) = leaver::plan::load_plan_str(text, "fuzz.yaml", catalog()) {
        let _ = leaver::plan::format_errors(&errors);
    }
});
